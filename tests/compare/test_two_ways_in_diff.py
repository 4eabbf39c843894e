"""``detaudit diff`` reports a change of a backward entry's backward-only observation.

The results are the hand-made h100 reports' with a backward-only observation
put in by hand here (not a measurement).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from detaudit.compare.diff import ChangeKind, diff_reports
from detaudit.model.report import Observation, Report, Status
from detaudit.model.reportfile import load_report
from detaudit.render import RENDERERS

from ..conftest import NEW_GPU

KERNEL = "upsample_bilinear2d_backward_out_cuda"
RAISES = Observation(outcome="alert", kernel=KERNEL, message="...", run="backward-only")
RAN = Observation(outcome="ran", run="backward-only")
UNMARKED = Observation(outcome="unobserved", message="not observed: ...", run="backward-only")


def _report(observed: Observation | None, status: Status | None) -> Report:
    """The h100 torch 2.11 report with only max-pool3d-backward on cuda, converting."""
    report = load_report(NEW_GPU)
    (result,) = [r for r in report.results if (r.id, r.device) == ("max-pool3d-backward", "cuda")]
    assert result.status is Status.CONVERTS
    result = replace(result, backward_only=observed, backward_only_status=status)
    return replace(report, results=(result,))


def test_a_change_of_the_backward_only_status_is_reported():
    old, new = _report(RAISES, Status.RAISES), _report(RAN, Status.CONVERTS)
    diff = diff_reports(old, new)
    (change,) = diff.of_kind(ChangeKind.BACKWARD_ONLY_CHANGED)
    assert change.key == ("max-pool3d-backward", "cuda")
    assert diff.fails("any-change") and not diff.fails("newly-raises")
    text = RENDERERS["diff"]["text"].render(diff)
    assert f"converts; backward only: raises ({KERNEL}) -> converts" in text
    assert "1 backward only changed" in text
    data = json.loads(RENDERERS["diff"]["json"].render(diff))
    (row,) = data["changes"]
    assert row["kind"] == "backward-only-changed"
    assert row["old"]["backward_only_status"] == "raises"
    assert row["old"]["backward_only_kernel"] == KERNEL
    assert row["new"]["backward_only_status"] == "converts"
    assert "backward only: raises" in RENDERERS["diff"]["md"].render(diff)


@pytest.mark.parametrize(
    "old,new",
    [
        ((RAISES, Status.RAISES), (RAISES, Status.RAISES)),  # the same
        ((None, None), (RAN, Status.CONVERTS)),  # an old report, before the observation
        ((RAISES, Status.RAISES), (UNMARKED, None)),  # not observed in the new one
    ],
)
def test_no_change_where_nothing_changed_or_nothing_was_measured(old, new):
    diff = diff_reports(_report(*old), _report(*new))
    assert not diff.changes and diff.unchanged == 1


def test_a_status_change_outranks_a_backward_only_change():
    old = _report(RAISES, Status.RAISES)
    (result,) = old.results
    new = replace(
        old,
        results=(
            replace(
                result,
                status=Status.RAISES,
                backward_only=RAN,
                backward_only_status=Status.CONVERTS,
            ),
        ),
    )
    diff = diff_reports(old, new)
    assert [c.kind for c in diff.changes] == [ChangeKind.NEWLY_RAISES]
