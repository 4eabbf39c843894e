"""The render registry: every (document, format) renders a fixture, and every ``--format`` is one."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from detaudit.catalog import Condition, load_catalog
from detaudit.cli.app import build_parser
from detaudit.cli.options import report_formats
from detaudit.compare.diff import diff_reports
from detaudit.compare.table import build_table
from detaudit.docs.check import check_docs
from detaudit.docs.docstring import parse_docstring
from detaudit.model.reportfile import load_report
from detaudit.render import RENDERERS
from detaudit.scanner.records import ScanResult, StaticResult
from detaudit.scanner.signatures import OpMatch, Signature
from detaudit.scanner.static import Scanner
from detaudit.trace.compare import compare_traces
from detaudit.trace.format import load_trace

from ..conftest import DATA, NEW_GPU, OLD_GPU
from ..documents import discovery, env_report


def _fleet():
    """Two hand-made reports as two node types, and a third whose job failed."""
    from detaudit.fleet.plan import NodeType
    from detaudit.fleet.result import Outcome, build_fleet

    outcomes = [
        Outcome(NodeType("old", ("--partition=a",)), "1", "COMPLETED", "0:0", OLD_GPU),
        Outcome(NodeType("new", ("--partition=b",)), "2", "COMPLETED", "0:0", NEW_GPU),
        Outcome(NodeType("gone", ()), "3", "FAILED", "1:0", None, "job 3 ended FAILED", "boom"),
    ]
    return build_fleet(outcomes, [load_report(OLD_GPU), load_report(NEW_GPU)])


def _static() -> StaticResult:
    scanner = Scanner(load_catalog(), torch_version="2.13.0")
    findings, _ = scanner.scan_source((DATA / "scan" / "model.py").read_bytes(), "model.py")
    return StaticResult(tuple(findings), (), 1)


def _signatures() -> list[tuple[Any, Signature | None]]:
    first, second, *rest = load_catalog()
    matched = Signature(
        entry=first.id,
        pass_=first.pass_,
        ops=(OpMatch("aten::put.default", (("accumulate", Condition(values=(False,))),)),),
        ops_from="produces the probe's result",
    )
    unmatched = Signature(entry=second.id, pass_=second.pass_, problem="no aten op")
    return [(first, matched), (second, unmatched), *((entry, None) for entry in rest)]


def _docs_check():
    text = (DATA / "docstrings" / "torch-2.13.txt").read_text(encoding="utf-8")
    return check_docs(load_catalog(), parse_docstring(text), "2.13.0", "fixture")


def _sites():
    from detaudit.catalog.gaps import load_known_gaps
    from detaudit.model.vocabulary import Device
    from detaudit.sites.census import Census, Site
    from detaudit.sites.coverage import cover

    sites = (
        Site("put_", "at::native::put_(at::Tensor&, bool)", "torch/lib/libtorch_cpu.so",
             Device.CPU, "0x10"),
        Site("new_kernel_cuda", "", "torch/lib/libtorch_cuda.so", Device.CUDA, "0x20"),
        Site("x{dim}d", "meta_x", "torch/_meta.py", Device.CPU, "line 3", False),
    )  # fmt: skip
    census = Census("2.14.1", "fixture", sites, ("torch/lib/libtorch_cpu.so",), ("lib",))
    return cover(census, load_catalog(), load_known_gaps())


def _sites_diff():
    from detaudit.sites.diff import diff_censuses

    census = _sites().census
    return diff_censuses(census, type(census)("2.15.0", "fixture", census.sites[:1], ()))


#: One fixture input per document.
INPUTS: dict[str, Callable[[], object]] = {
    "report": lambda: load_report(DATA / "reports" / "fixture-gpu.json"),
    "summary": lambda: load_report(DATA / "reports" / "fixture-gpu.json"),
    "diff": lambda: diff_reports(load_report(OLD_GPU), load_report(NEW_GPU)),
    "table": lambda: build_table([load_report(OLD_GPU), load_report(NEW_GPU)], ["old", "new"]),
    "scan": lambda: ScanResult.from_dict(json.loads((DATA / "scan" / "result.json").read_text())),
    "static": _static,
    "signatures": _signatures,
    "discovery": discovery,
    "docs-check": _docs_check,
    "env": env_report,
    "catalog-list": load_catalog,
    "fleet": _fleet,
    "sites": _sites,
    "sites-diff": _sites_diff,
    "divergence": lambda: compare_traces(
        load_trace(DATA / "traces" / "a.trace"), load_trace(DATA / "traces" / "rng.trace")
    ),
}

PAIRS = [(document, fmt) for document, formats in RENDERERS.items() for fmt in formats]


def test_every_document_has_an_input_and_every_input_a_document():
    assert set(INPUTS) == set(RENDERERS)


@pytest.mark.parametrize(("document", "fmt"), PAIRS, ids=[f"{d}-{f}" for d, f in PAIRS])
def test_every_renderer_returns_text(document, fmt):
    renderer = RENDERERS[document][fmt]
    text = renderer.render(INPUTS[document]())
    assert isinstance(text, str) and text.strip() and text.endswith("\n")
    assert renderer.extension.startswith(".")
    if renderer.extension == ".json":
        json.loads(text)
    elif renderer.extension == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) > 1 and len({len(row) for row in rows}) == 1
    elif renderer.extension == ".html":
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")


def _format_choices(*command: str) -> tuple[str, ...]:
    parser = build_parser()
    for name in command:
        (subparsers,) = (a for a in parser._actions if a.dest.endswith("command"))
        parser = subparsers.choices[name]
    (option,) = (a for a in parser._actions if a.dest == "format")
    return tuple(option.choices)


@pytest.mark.parametrize(
    ("command", "documents"),
    [
        (("diff",), ("diff",)),
        (("table",), ("table",)),
        (("scan",), ("scan", "static")),
        (("discover",), ("discovery",)),
        (("env",), ("env",)),
        (("compare",), ("divergence",)),
        (("twice",), ("divergence",)),
        (("catalog", "list"), ("catalog-list",)),
        (("catalog", "check-docs"), ("docs-check",)),
    ],
)
def test_format_choices_come_from_the_registry(command, documents):
    assert set(_format_choices(*command)) == {f for d in documents for f in RENDERERS[d]}


def test_audit_formats_are_the_report_formats():
    assert report_formats(",".join(RENDERERS["report"])) == list(RENDERERS["report"])


def test_static_has_every_scan_format_and_sarif():
    """``scan --format`` serves both; sarif is the static scan's alone (refused for the other)."""
    assert set(RENDERERS["static"]) == set(RENDERERS["scan"]) | {"sarif"}
