"""Renderers are pure: a report in, a string out; golden files pin their output.

tests/data/reports/fixture-gpu.json is hand-made (statuses edited to look like
a CUDA machine's), not a measurement: it exercises drift, crash and sibling rows.
Regenerate the golden files with ``pytest tests/render/test_render.py --update-golden``.
"""

from __future__ import annotations

import json

import pytest

from detaudit.model.report import Report
from detaudit.render import RENDERERS

from ..conftest import DATA, check_golden, run_cli

FIXTURE = DATA / "reports" / "fixture-gpu.json"


@pytest.fixture(scope="module")
def report() -> Report:
    return Report.from_dict(json.loads(FIXTURE.read_text()), source=str(FIXTURE))


@pytest.mark.parametrize("fmt", sorted(RENDERERS["report"]))
def test_golden(report, fmt, request):
    check_golden(
        request,
        f"fixture-gpu{RENDERERS['report'][fmt].extension}",
        RENDERERS["report"][fmt].render(report),
    )


def test_markdown_sections(report):
    md = RENDERERS["report"]["md"].render(report)
    assert md.startswith(
        "# detaudit report: torch 2.11.0+cu130 · cpu + cuda · NVIDIA H100 80GB HBM3 (sm_90)"
    )
    env, counts, drift, results = (
        md.index(h) for h in ("## Environment", "## Counts", "## Drift", "## Results")
    )
    assert env < counts < drift < results
    assert "## Drift (1)" in md
    drift_section = md[drift:results]
    assert "max-pool3d-backward" in drift_section and "raises (docs 2.10)" in drift_section
    assert "| `crashed` | 0 | 1 | 1 |" in md
    assert "worker killed by SIGSEGV" in md


def test_markdown_escapes_pipes_and_newlines(report):
    from dataclasses import replace

    results = tuple(
        replace(r, message="a | b\nc") if r.status.value == "crashed" else r for r in report.results
    )
    md = RENDERERS["report"]["md"].render(replace(report, results=results))
    assert "| index-copy | cuda | crashed | a \\| b c |" in md
    header_cells = md.splitlines()[md.splitlines().index("## Not observed") + 2].count(" | ")
    assert all(
        line.count(" | ") == header_cells
        for line in md.split("## Not observed")[1].splitlines()
        if line.startswith("| ") and "---" not in line
    )


def test_json_round_trip(report):
    again = Report.from_dict(json.loads(RENDERERS["report"]["json"].render(report)))
    assert again == report


@pytest.mark.parametrize("fmt", sorted(RENDERERS["report"]))
def test_every_format_is_a_cli_choice(fmt, tmp_path):
    result = run_cli(
        "audit",
        "--device",
        "cpu",
        "--only",
        "put-accumulate-false",
        "--repeat",
        "1",
        "--format",
        fmt,
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith(RENDERERS["report"][fmt].extension)
    assert files[0].startswith("detaudit-torch") and "-cpu" in files[0]


def test_unknown_format_is_usage_error(tmp_path):
    result = run_cli("audit", "--format", "pdf", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unknown format" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_newer_schema_is_refused(report):
    from detaudit.errors import ReportError

    data = json.loads(RENDERERS["report"]["json"].render(report))
    data["schema_version"] = 99
    with pytest.raises(ReportError, match="newer"):
        Report.from_dict(data)
    with pytest.raises(ReportError, match="not a detaudit report"):
        Report.from_dict({"results": []})
    data["schema_version"] = 1
    del data["results"][0]["status"]
    with pytest.raises(ReportError, match=r"results\[0\]: missing field .status."):
        Report.from_dict(data)
