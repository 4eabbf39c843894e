"""A torch newer than every docs version the catalogue read, and the mps column, in every view."""

from __future__ import annotations

import json

import pytest

from detaudit.compare.diff import diff_reports
from detaudit.compare.table import build_table
from detaudit.model.report import Report
from detaudit.model.reportfile import load_report
from detaudit.render import diff as diff_render
from detaudit.render import html, markdown
from detaudit.render import table as table_render

from ..conftest import REPORTS, run_cli

#: Hand-made (tests/data/reports/README.md): torch 2.15.0 on cpu + mps, catalogue docs up to 2.14.
MPS_NEWER = REPORTS / "hand-made-mps-torch2.15.json"
FIXTURE_GPU = REPORTS / "fixture-gpu.json"
NOTE = (
    "torch 2.15.0 is newer than the newest docs this catalogue has read (2.14): "
    "drift is computed against the docs of 2.14"
)

OLD_CLAIMS = """raises:
  - id: old-put
    api: torch.Tensor.put_
    condition: when accumulate=False
    devices: [cpu, mps]
    pass: forward
    probe: detaudit.probes.indexing:put_accumulate_false
    source: a test
    claims: {"2.4": raises}
"""


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow  # an audit of its own in a process of its own
def test_audit_newer_than_the_catalogue_says_so_in_summary_md_html_json(tmp_path):
    import torch

    catalog = tmp_path / "old.yaml"
    catalog.write_text(OLD_CLAIMS, encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(
        "audit", "--no-builtin", "--catalog", str(catalog), "--device", "cpu", "--repeat", "1",
        "--format", "json,md,html", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    note = (
        f"torch {torch.__version__} is newer than the newest docs this catalogue has read "
        "(2.4): drift is computed against the docs of 2.4"
    )
    assert note in _flat(result.stdout + result.stderr)
    (json_file,) = out.glob("*.json")
    data = json.loads(json_file.read_text(encoding="utf-8"))
    assert data["catalog_docs_newest"] == "2.4"
    assert [r["expected_from"] for r in data["results"]] == ["docs 2.4"]
    assert note in (out / f"{json_file.stem}.md").read_text(encoding="utf-8")
    assert note in (out / f"{json_file.stem}.html").read_text(encoding="utf-8")


def test_a_report_current_with_its_catalogue_has_no_note():
    report = load_report(FIXTURE_GPU)
    assert report.catalog_docs_newest is None  # made before the field existed: still loads
    assert report.newer_than_docs is None
    data = report.to_dict()
    assert "catalog_docs_newest" not in data
    same = Report.from_dict({**data, "catalog_docs_newest": "2.11"})
    assert same.newer_than_docs is None  # 2.11.0 is not newer than the docs of 2.11


def test_hand_made_mps_report_round_trips_and_says_it_is_newer():
    report = load_report(MPS_NEWER)
    assert report.devices == ("cpu", "mps")
    assert report.newer_than_docs == NOTE
    assert Report.from_dict(report.to_dict()) == report


def test_markdown_and_html_show_the_mps_column_and_the_note():
    report = load_report(MPS_NEWER)
    md = markdown.render(report)
    assert "| status | cpu | mps | total | meaning |" in md
    assert NOTE in md
    page = html.render(report)
    assert NOTE in page and ">mps<" in page


def test_table_says_which_report_is_newer_than_its_catalogue():
    table = build_table(
        [load_report(FIXTURE_GPU), load_report(MPS_NEWER)], ["gpu.json", "mps.json"]
    )
    assert table.notes() == [("mps.json", NOTE)]
    md = table_render.render_markdown(table)
    assert f"> **Note** (`mps.json`): {NOTE}." in md
    assert any("mps" in c.label for c in table.columns)
    assert "mps.json: " + NOTE in html.render_table(table)
    assert "mps" in table_render.render_csv(table).splitlines()[0]


def test_diff_says_which_side_is_newer_than_its_catalogue():
    diff = diff_reports(load_report(FIXTURE_GPU), load_report(MPS_NEWER))
    assert diff.notes() == [("new", NOTE)]
    assert f"note (new): {NOTE}" in diff_render.render_text(diff)
    assert f"> **Note (new)**: {NOTE}." in diff_render.render_markdown(diff)
    assert json.loads(diff_render.render_json(diff))["notes"] == {"new": NOTE}
