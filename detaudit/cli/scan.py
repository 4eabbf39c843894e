"""``detaudit scan``: the catalogued ops a program runs (or, with --static, calls)."""

from __future__ import annotations

import argparse
import sys

from ..errors import UsageError
from ..model.vocabulary import DEVICES
from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .options import add_catalog_options
from .output import check_output_file, emit

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``scan`` to the command parser."""
    scan = commands.add_parser(
        "scan",
        help="find the catalogued ops your code runs (or, with --static, calls)",
        description="Run a Python script in this process under a dispatch mode and list every "
        "catalogued op it runs, forward and backward, with its source line and what "
        "deterministic mode does to it here and on the machines of --report files. "
        "With --static, read Python files with ast instead (nothing runs).",
        usage="detaudit scan [options] [--] [python] SCRIPT ARGS...\n"
        "       detaudit scan [options] -- python -m MODULE ARGS...\n"
        "       detaudit scan --static [options] PATH...",
    )
    scan.add_argument(
        "--static",
        action="store_true",
        help="read the files or folders given with ast; run nothing",
    )
    scan.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="the device whose results to read from each --report (default: cuda when it has them)",
    )
    scan.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="REPORT.json",
        help="an audit report of another machine: say what its deterministic mode did (repeatable)",
    )
    scan.add_argument(
        "--format",
        choices=sorted(RENDERERS["scan"].keys() | RENDERERS["static"].keys()),
        default="text",
    )
    scan.add_argument(
        "--fail-on",
        choices=("any", "raises", "none"),
        default="any",
        help="exit 1 when anything is found (any, the default), only when a found op raises "
        "(here, in a --report, or per the docs for --static), or never (none)",
    )
    scan.add_argument(
        "--output", "-o", metavar="FILE", help="write the result to FILE instead of stdout"
    )
    scan.add_argument(
        "--signatures",
        action="store_true",
        help="print how the dynamic scan recognises each entry (aten ops, conditions) and exit",
    )
    add_catalog_options(scan)
    scan.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    scan.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ReportError

    document = "static" if args.static else "scan"
    if args.format not in RENDERERS[document]:
        raise UsageError(f"scan{' --static' * args.static} has no --format {args.format}")
    render = RENDERERS[document][args.format].render
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    check_output_file("-o", args.output)
    try:
        if args.static:
            if args.report or args.signatures:
                raise UsageError("scan --static reads no --report and has no --signatures")
            from ..scanner.static import scan_static

            found = scan_static(target, catalogs=args.catalog, builtin=not args.no_builtin)
            emit(render(found), args.output)
            raising = [f for f in found.findings if f.claim == "raises"]
            flagged = {"any": found.findings, "raises": raising, "none": []}[args.fail_on]
            return EXIT_FINDINGS if flagged else EXIT_OK
        if args.signatures:
            return _print_signatures(args)
        from ..scanner.dynamic import scan
        from ..scanner.program import parse_command, run_program

        parse_command(target)  # a bad command is exit 2 before anything loads
        with scan(
            catalogs=args.catalog,
            builtin=not args.no_builtin,
            reports=args.report,
            device=args.device,
        ) as found:
            program = run_program(target)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    result = found.result
    emit(render(result), args.output)
    if program.error or program.exit_code:
        if program.error:
            print(program.error, file=sys.stderr, end="")
        print(
            f"detaudit: error: the scanned program exited with code {program.exit_code}; "
            "the scan covers what ran before that",
            file=sys.stderr,
        )
        return EXIT_USAGE
    flagged = {"any": bool(result.hits), "raises": result.raises_anywhere(), "none": False}
    return EXIT_FINDINGS if flagged[args.fail_on] else EXIT_OK


def _print_signatures(args: argparse.Namespace) -> int:
    import torch

    from ..catalog import load_catalog
    from ..scanner.signatures import load_signatures

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    signatures = load_signatures(catalog, torch.__version__)
    pairs = [(entry, signatures.get(entry.id)) for entry in catalog]
    emit(RENDERERS["signatures"]["text"].render(pairs), args.output)
    return EXIT_OK
