"""``detaudit table``: one compatibility matrix for many reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..render import RENDERERS
from .exits import EXIT_OK
from .output import check_output_file, emit

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``table`` to the command parser."""
    table = commands.add_parser(
        "table",
        help="one compatibility matrix for many reports",
        description="One matrix for many JSON reports: a row per catalogue entry, a column per "
        "(report, device), sorted by torch version then device; cells are statuses.",
    )
    table.add_argument("reports", nargs="+", metavar="REPORT.json")
    table.add_argument(
        "--format",
        choices=tuple(RENDERERS["table"]),
        default=None,
        help="output; default: from the -o file's extension, else md",
    )
    table.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    table.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..compare.table import build_table
    from ..model.reportfile import load_reports

    formats = RENDERERS["table"]
    fmt = args.format
    if fmt is None and args.output:
        suffix = Path(args.output).suffix.lower()
        fmt = next((f for f, r in formats.items() if r.extension == suffix), None)
        if fmt is None:
            raise UsageError(
                f"-o {args.output}: cannot tell the format from {suffix or 'no extension'}; "
                f"give --format {'|'.join(formats)}"
            )
    check_output_file("-o", args.output)
    table = build_table(load_reports(args.reports), args.reports)
    emit(formats[fmt or "md"].render(table), args.output)
    return EXIT_OK
