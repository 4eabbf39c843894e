"""The catalogue's remedy reaches the audit's outputs: the report JSON, Markdown, HTML, summary."""

from __future__ import annotations

import dataclasses
import json

from rich.console import Console

from detaudit.catalog import load_catalog
from detaudit.cli.console import summary
from detaudit.model.report import ProbeResult, Report, Status
from detaudit.model.reportfile import load_report
from detaudit.render import RENDERERS

from ..conftest import REPORTS

CPU_AUDIT = REPORTS / "cpu-torch2.13.0.json"


def with_remedies(report: Report) -> Report:
    """The report as an audit with this catalogue writes it: each result carries its remedy."""
    catalog = {e.id: e for e in load_catalog()}
    results = tuple(
        dataclasses.replace(r, remedy=catalog[r.id].remedy or None) if r.id in catalog else r
        for r in report.results
    )
    return dataclasses.replace(report, results=results)


def test_a_result_keeps_its_remedy_through_json_and_old_ones_keep_their_shape():
    report = load_report(CPU_AUDIT)
    plain = report.results[0]
    assert "remedy" not in plain.to_dict()
    advised = dataclasses.replace(plain, remedy="do this")
    data = json.loads(json.dumps(advised.to_dict()))
    assert ProbeResult.from_dict(data).remedy == "do this"


def test_markdown_and_html_say_what_to_do_about_each_raise():
    report = with_remedies(load_report(CPU_AUDIT))
    raising = [r for r in report.results if r.status is Status.RAISES and r.remedy]
    assert raising
    md = RENDERERS["report"]["md"].render(report)
    assert "## What to do" in md
    html = RENDERERS["report"]["html"].render(report)
    assert "What to do" in html
    for r in raising:
        assert f"- `{r.id}`: {r.remedy}" in md
        assert r.id in html.split("What to do", 1)[1]


def test_the_summary_has_a_what_to_do_column():
    report = with_remedies(load_report(CPU_AUDIT))
    console = Console(width=200, highlight=False, soft_wrap=False)
    with console.capture() as captured:
        summary(console, report)
    text = captured.get()
    assert "what to do" in text
    put = next(r for r in report.results if r.id == "put-accumulate-false" and r.remedy)
    assert put.remedy[:40] in text
