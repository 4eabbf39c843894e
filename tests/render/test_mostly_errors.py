"""A report most of whose results are errors says so: terminal summary, Markdown, HTML."""

from __future__ import annotations

import dataclasses
import io

import pytest

from detaudit.cli.console import summary
from detaudit.model.report import Status
from detaudit.model.reportfile import load_report
from detaudit.render import html, markdown

from ..conftest import REPORTS, run_cli

FIXTURE_GPU = REPORTS / "fixture-gpu.json"  # 12 results, one crashed

WARNING = (
    "8 of 12 results are errors (7 error, 1 crashed): this audit says little about "
    "deterministic mode; see Not observed for why"
)


def _failing(count: int):
    """The fixture with ``count`` of its results (not the crashed one) turned into ``error``."""
    report = load_report(FIXTURE_GPU)
    results, left = [], count
    for r in report.results:
        if left and r.status is not Status.CRASHED:
            r = dataclasses.replace(r, status=Status.ERROR, message="ValueError: boom")
            left -= 1
        results.append(r)
    return dataclasses.replace(report, results=tuple(results))


def _terminal(report) -> str:
    from rich.console import Console

    out = io.StringIO()
    summary(Console(file=out, width=200, highlight=False), report)
    return " ".join(out.getvalue().split())


def test_most_results_failed_is_a_warning_in_every_view():
    report = _failing(7)  # 7 error + the fixture's crash: 8 of 12
    assert report.mostly_failed == WARNING
    assert f"warning: {WARNING}" in _terminal(report)
    assert f"> **Warning**: {WARNING}." in markdown.render(report)
    assert f"<b>Warning</b>: {WARNING}." in html.render(report)


def test_half_or_fewer_failed_is_no_warning():
    report = _failing(5)  # 5 error + 1 crashed: 6 of 12, not most
    assert report.mostly_failed is None
    assert "warning" not in _terminal(report)
    assert "Warning" not in markdown.render(report)
    assert "<b>Warning</b>" not in html.render(report)


@pytest.mark.slow  # an audit of its own in a process of its own
def test_an_audit_whose_every_probe_fails_warns_in_its_summary(tmp_path):
    (tmp_path / "broken_probes.py").write_text(
        "def probe(device):\n    raise ValueError('no inputs')\n", encoding="utf-8"
    )
    catalog = tmp_path / "broken.yaml"
    catalog.write_text(
        "converted:\n"
        "  - id: broken\n    api: torch.mine\n    condition: always\n    devices: [cpu]\n"
        "    pass: forward\n    probe: broken_probes:probe\n    source: a test\n",
        encoding="utf-8",
    )
    result = run_cli(
        "audit", "--no-builtin", "--catalog", str(catalog), "--device", "cpu", "--repeat", "1",
        "--format", "md", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warning = (
        "1 of 1 results are errors (1 error): this audit says little about deterministic "
        "mode; see Not observed for why"
    )
    assert f"warning: {warning}" in " ".join((result.stdout + result.stderr).split())
    (md,) = (tmp_path / "out").glob("*.md")
    assert f"> **Warning**: {warning}." in md.read_text(encoding="utf-8")
