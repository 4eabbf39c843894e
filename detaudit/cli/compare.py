"""``detaudit compare``: the first divergence of two traces, its cause and the fix."""

from __future__ import annotations

import argparse

from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import add_catalog_options
from .output import check_output_file, emit

__all__ = ["compare_files", "register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``compare`` to the command parser."""
    compare = commands.add_parser(
        "compare",
        help="why two runs differ: the first divergent op of two traces and its cause",
        description="Align two traces written by `detaudit record` and report the first op "
        "where they differ, its cause (inputs from outside torch, RNG state, nondeterministic "
        "kernel, different paths), the fix, how far it spreads, and the environment "
        "differences. Exit 0 when identical, 1 when they differ, 2 for a missing, truncated "
        "or foreign trace.",
    )
    compare.add_argument("a", metavar="A.trace")
    compare.add_argument("b", metavar="B.trace")
    add_format_options(compare)
    add_catalog_options(compare)
    compare.set_defaults(run=run)


def add_format_options(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``-o`` and ``--report``, shared with ``twice``."""
    parser.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="REPORT.json",
        help="an audit report: for a catalogued op with a nondeterministic kernel, say what "
        "that machine's deterministic mode did to it (repeatable)",
    )
    parser.add_argument("--format", choices=sorted(RENDERERS["divergence"]), default="text")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the result to FILE")


def compare_files(a: str, b: str, args: argparse.Namespace):
    """Load both traces and compare them (with the catalogue, for the kernel cause)."""
    from ..catalog import load_catalog
    from ..model.reportfile import load_reports
    from ..trace.compare import compare_traces
    from ..trace.format import load_trace

    reports = load_reports(args.report)
    trace_a, trace_b = load_trace(a), load_trace(b)
    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    return compare_traces(trace_a, trace_b, catalog=catalog, reports=reports)


def run(args: argparse.Namespace) -> int:
    check_output_file("-o", args.output)
    comparison = compare_files(args.a, args.b, args)
    emit(RENDERERS["divergence"][args.format].render(comparison), args.output)
    return EXIT_OK if comparison.identical else EXIT_FINDINGS
