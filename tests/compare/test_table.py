"""``detaudit table``: one matrix over many reports, its column order, and its Markdown/CSV views.

The h100 and fixture-gpu reports are hand-made (tests/data/reports/README.md);
the CPU report comes from a real audit run by the ``cpu_report_file`` fixture.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from detaudit.compare.table import build_table, column_label, version_key
from detaudit.model.report import Status
from detaudit.model.reportfile import load_report, load_reports
from detaudit.render import RENDERERS

from ..conftest import CPU_AUDIT_IDS, NEW_GPU, OLD_GPU, REPORTS, check_golden, run_cli_here

FIXTURES = [NEW_GPU, REPORTS / "fixture-gpu.json", OLD_GPU]  # deliberately not in column order


@pytest.fixture(scope="module")
def fixture_table():
    names = [p.name for p in FIXTURES]
    return build_table(load_reports(FIXTURES), names)


@pytest.fixture(scope="module")
def mixed_table(cpu_report_file):
    paths = [NEW_GPU, cpu_report_file, OLD_GPU]
    return build_table(load_reports(paths), [str(p) for p in paths])


def test_version_order():
    versions = ["2.10.0+cu128", "2.9.1", "2.10.0.dev20250101", "2.10.0rc1", "1.13.1", "2.10.1"]
    assert sorted(versions, key=version_key) == [
        "1.13.1",
        "2.9.1",
        "2.10.0.dev20250101",
        "2.10.0rc1",
        "2.10.0+cu128",
        "2.10.1",
    ]
    assert sorted(["garbage", "2.1.0"], key=version_key) == ["2.1.0", "garbage"]


def test_columns_sort_by_torch_then_device_with_gpu_labels(mixed_table, cpu_report_file):
    cpu_torch = load_report(cpu_report_file).environment.torch
    assert [c.label for c in mixed_table.columns] == [
        "torch 2.10.0+cu128 · cpu",
        "torch 2.10.0+cu128 · cuda · NVIDIA H100 80GB HBM3 (sm_90)",
        "torch 2.11.0+cu130 · cpu",
        "torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90)",
        f"torch {cpu_torch} · cpu",
    ]


def test_cells_are_the_reports_own_results(mixed_table):
    for c, column in enumerate(mixed_table.columns):
        expected = {(r.id, r.device): r for r in column.report.results}
        for row, cells in zip(mixed_table.rows, mixed_table.cells):
            assert cells[c] is expected.get((row.id, column.device))


def test_real_cpu_column(mixed_table, cpu_report_file):
    real = load_report(cpu_report_file)
    column = len(mixed_table.columns) - 1
    statuses = {
        row.id: cells[column].status
        for row, cells in zip(mixed_table.rows, mixed_table.cells)
        if cells[column] is not None
    }
    assert set(statuses) == set(CPU_AUDIT_IDS)
    assert statuses == {r.id: r.status for r in real.results}
    assert statuses["put-accumulate-false"] is Status.RAISES  # observed on this CPU
    assert sum(mixed_table.column_counts(column).values()) == len(CPU_AUDIT_IDS)


def test_rows_are_grouped_as_the_seed_groups_them(mixed_table):
    groups = mixed_table.groups()
    assert [g for g, _ in groups] == ["converted", "raises"]
    for group, indices in groups:
        assert all(mixed_table.rows[i].group == group for i in indices)
    flat = [i for _, indices in groups for i in indices]
    assert flat == list(range(len(mixed_table.rows)))  # rows are already in group order


def test_equal_labels_are_told_apart(fixture_table):
    labels = [c.label for c in fixture_table.columns]
    assert len(set(labels)) == len(labels)
    # fixture-gpu.json and h100-torch2.11.json: same torch, same host -> the file names
    assert "torch 2.11.0+cu130 · cpu · fixture-gpu.json" in labels
    assert "torch 2.11.0+cu130 · cpu · h100-torch2.11.json" in labels
    report = load_report(OLD_GPU)
    other = replace(report, environment=replace(report.environment, hostname="gpu-node-2"))
    twice = build_table([report, other], ["a.json", "b.json"])
    assert [c.label for c in twice.columns][:2] == [
        "torch 2.10.0+cu128 · cpu · gpu-node-1",
        "torch 2.10.0+cu128 · cpu · gpu-node-2",
    ]
    same_file = build_table([report, report], ["a.json", "a.json"])
    assert len({c.label for c in same_file.columns}) == 4


def test_column_label_reuses_the_report_title():
    report = load_report(NEW_GPU)
    assert column_label(report, "cpu") == "torch 2.11.0+cu130 · cpu"
    assert column_label(report, "cuda") == (
        "torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90)"
    )


@pytest.mark.parametrize("fmt", sorted(RENDERERS["table"]))
def test_golden(fixture_table, fmt, request):
    check_golden(
        request,
        f"table{RENDERERS['table'][fmt].extension}",
        RENDERERS["table"][fmt].render(fixture_table),
    )


def test_markdown_marks_drift_and_missing(fixture_table):
    md = RENDERERS["table"]["md"].render(fixture_table)
    assert md.index("## converted (seed group)") < md.index("## raises (seed group)")
    assert "## Drift (3)" in md
    row = next(line for line in md.splitlines() if "| `torch.nn.MaxPool3d` |" in line)
    assert row.count("**converts** (drift)") == 2
    row = next(line for line in md.splitlines() if "| `torch.kthvalue` |" in line)
    assert row.count(" – ") == 2  # not in h100-torch2.11.json


def test_cli_csv_is_the_matrix(cpu_report_file):
    paths = [str(OLD_GPU), str(NEW_GPU), str(cpu_report_file)]
    result = run_cli_here("table", *paths, "--format", "csv", timeout=60)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    table = build_table(load_reports(paths), paths)
    assert [r["id"] for r in rows] == [r.id for r in table.rows]
    for row, cells in zip(rows, table.cells):
        for column, cell in zip(table.columns, cells):
            assert row[column.label] == (cell.status.value if cell else "")
    scatter = next(r for r in rows if r["id"] == "scatter-reduce-sum")
    assert scatter["torch 2.10.0+cu128 · cuda · NVIDIA H100 80GB HBM3 (sm_90)"] == "converts"
    assert scatter["torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90)"] == "raises"


def test_cli_format_from_the_output_extension(tmp_path):
    out = tmp_path / "fleet.html"
    result = run_cli_here("table", str(OLD_GPU), str(NEW_GPU), "-o", str(out), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # stdout is for the document; it went to the file
    assert result.stderr.strip() == f"wrote {out}"
    assert out.read_text().startswith("<!DOCTYPE html>")
    unknown = run_cli_here("table", str(OLD_GPU), "-o", str(tmp_path / "fleet.txt"), timeout=60)
    assert unknown.returncode == 2 and "--format md|csv|html" in unknown.stderr
    assert not (tmp_path / "fleet.txt").exists()
    default = run_cli_here("table", str(OLD_GPU), timeout=60)
    assert default.returncode == 0 and default.stdout.startswith("# detaudit table")


def test_cli_bad_report_is_exit_2(tmp_path):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 1')
    for bad in (corrupt, tmp_path / "missing.json"):
        result = run_cli_here("table", str(OLD_GPU), str(bad), "-o", str(tmp_path / "t.md"))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and str(bad) in result.stderr
    assert not (tmp_path / "t.md").exists()
