"""The reports show where a backward entry's two observations differ (hand-made results)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from detaudit.errors import ReportError
from detaudit.model.report import Observation, Report, Status
from detaudit.model.reportfile import load_report
from detaudit.render import RENDERERS

from ..conftest import REPORTS

KERNEL = "max_pool3d_with_indices_backward_cuda"
RAISES = Observation(outcome="alert", kernel=KERNEL, message="...", run="backward-only")
RAN = Observation(outcome="ran", run="backward-only")
UNMARKED = Observation(outcome="unobserved", message="not observed: unmarked", run="backward-only")
KEY = ("max-pool3d-backward", "cuda")


def _report(observed: Observation, status: Status | None) -> Report:
    """fixture-gpu.json (hand-made) with a backward-only observation on max-pool3d-backward."""
    report = load_report(REPORTS / "fixture-gpu.json")
    results = tuple(
        replace(r, backward_only=observed, backward_only_status=status)
        if (r.id, r.device) == KEY
        else r
        for r in report.results
    )
    return replace(report, results=results)


READING = (
    f"converts with the mode on throughout, raises ({KERNEL}) when only the backward runs under it"
)


def test_markdown_shows_where_the_two_ways_differ():
    text = RENDERERS["report"]["md"].render(_report(RAISES, Status.RAISES))
    assert "## Backward, two ways (1 differ)" in text
    assert f"| max-pool3d-backward | `torch.nn.MaxPool3d` | cuda | {READING} |" in text


def test_markdown_says_none_differ_and_names_the_unobserved():
    assert "None differ: 1 backward results" in RENDERERS["report"]["md"].render(
        _report(RAN, Status.CONVERTS)
    )
    text = RENDERERS["report"]["md"].render(_report(UNMARKED, None))
    assert "## Backward, two ways (0 differ)" in text
    assert "| max-pool3d-backward | cuda | converts | not observed: unmarked |" in text


def test_html_marks_the_cell_and_lists_the_difference():
    page = RENDERERS["report"]["html"].render(_report(RAISES, Status.RAISES))
    assert "<h2>Backward, two ways (1 differ)</h2>" in page
    assert f"<td>{READING}</td>" in page
    cells = [c[: c.index("</td>")] for c in page.split('data-id="max-pool3d-backward"')[1:]]
    marked = {"cuda" in c.split('data-status="')[0]: "⇄" in c for c in cells}
    assert marked == {True: True, False: False}  # the cuda cell is marked, the cpu one is not
    same = RENDERERS["report"]["html"].render(_report(RAN, Status.CONVERTS))
    assert "None differ" in same and '<i class="m">⇄</i>' not in same


def test_reports_without_the_observation_have_no_section():
    report = load_report(REPORTS / "fixture-gpu.json")
    assert "two ways" not in RENDERERS["report"]["md"].render(report)
    assert "two ways" not in RENDERERS["report"]["html"].render(report)


def test_the_json_round_trip_keeps_both_observations():
    report = _report(RAISES, Status.RAISES)
    data = json.loads(RENDERERS["report"]["json"].render(report))
    (row,) = [r for r in data["results"] if (r["id"], r["device"]) == KEY]
    assert row["backward_only"]["kernel"] == KERNEL and row["backward_only_status"] == "raises"
    assert Report.from_dict(data) == report


def test_a_bad_backward_only_status_is_a_report_error_naming_the_field():
    data = json.loads(RENDERERS["report"]["json"].render(_report(RAISES, Status.RAISES)))
    index = next(i for i, r in enumerate(data["results"]) if (r["id"], r["device"]) == KEY)
    data["results"][index]["backward_only_status"] = "explodes"
    with pytest.raises(ReportError, match=rf"results\[{index}\]\.backward_only_status"):
        Report.from_dict(data)


def test_the_fleet_table_marks_a_cell_whose_two_ways_differ():
    from detaudit.compare.table import build_table

    text = RENDERERS["table"]["md"].render(build_table([_report(RAISES, Status.RAISES)]))
    assert "| **converts** (drift) (backward only: raises) |" in text
    same = RENDERERS["table"]["md"].render(build_table([_report(RAN, Status.CONVERTS)]))
    assert "backward only" not in same
