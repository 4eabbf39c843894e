"""``detaudit diff``: what changes from one report to another."""

from __future__ import annotations

import argparse
import sys

from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK
from .output import check_output_file, emit

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``diff`` to the command parser."""
    from ..compare.diff import FAIL_ON

    diff = commands.add_parser(
        "diff",
        help="what changes from one report to another (exit 1 when something newly raises "
        "or fails)",
        description="Compare two JSON reports, e.g. today's torch against a candidate: for "
        "every (entry, device), what newly raises, what is fixed, whose bits stopped "
        "repeating, any other change, and how the environments differ.",
    )
    diff.add_argument("old", metavar="OLD.json", help="the report to compare from")
    diff.add_argument("new", metavar="NEW.json", help="the report to compare to")
    diff.add_argument(
        "--format", choices=tuple(RENDERERS["diff"]), default="text", help="output (default text)"
    )
    diff.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="newly-raises",
        help="exit 1 when something newly raises or newly fails (error, crashed, timeout; "
        "the default), also when bits differ, on any changed result, or never",
    )
    diff.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    diff.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..compare.diff import diff_reports
    from ..model.reportfile import load_report

    check_output_file("-o", args.output)
    result = diff_reports(
        load_report(args.old),
        load_report(args.new),
        old_source=args.old,
        new_source=args.new,
    )
    emit(RENDERERS["diff"][args.format].render(result), args.output)
    failure = result.failure(args.fail_on)
    if failure is None:
        return EXIT_OK
    print(f"detaudit: diff: {failure}", file=sys.stderr)
    return EXIT_FINDINGS
