"""``detaudit scan``: the catalogued ops a program runs (or, with --static, calls)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        "       detaudit scan --static [options] PATH... [options]",
    )
    _add_options(scan)
    # The dynamic scan's program command, which keeps its own options (train.py --epochs 1);
    # for --static, run() parses it again, so that options may follow the paths.
    scan.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    scan.set_defaults(run=run)


def _add_options(scan: argparse.ArgumentParser) -> None:
    """The options of ``scan``, for the command's parser and for --static's second pass."""
    scan.add_argument(
        "--static",
        action="store_true",
        help="read the files or folders given with ast; run nothing",
    )
    scan.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="the device whose results to read from each --report (default: cuda when it has "
        "them), and whose docs claim each op shows (default: cuda)",
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
        default="raises",
        help="exit 1 only when a found op raises (raises, the default: here, in a --report, "
        "or per the scanned torch's docs on --device, default cuda; for --static, per the docs "
        "where the call meets the condition literally), when anything is found (any), "
        "or never (none)",
    )
    scan.add_argument(
        "--all",
        action="store_true",
        help="list every op found (by default: the ops that raise somewhere, then one line "
        "per group of quiet ones)",
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


def _static_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the options found among --static's paths (``PATH... --format json``).

    The first pass stops at the first path (everything after it is the dynamic
    scan's program command); this pass reads options and paths intermixed. An
    option given on both sides takes its later value; ``--report``/``--catalog``
    add up.
    """
    parser = argparse.ArgumentParser(prog="detaudit scan --static")
    _add_options(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH")
    return parser.parse_intermixed_args(args.target, namespace=argparse.Namespace(**vars(args)))


def run(args: argparse.Namespace) -> int:
    from ..errors import ReportError

    if args.static:
        args = _static_arguments(args)
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
            return _run_static(args, render)
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
    emit(render(result, every=args.all) if args.format == "text" else render(result), args.output)
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


def _run_static(args: argparse.Namespace, render: Callable[[Any], str]) -> int:
    """Scan the paths that exist; name each missing one on stderr, and exit 2 if any was.

    Exit: 2 when a path is missing (after scanning the others), else 1 when
    ``--fail-on`` finds something, else 0.
    """
    from ..scanner.static import scan_static

    if not args.paths:
        raise UsageError("scan --static: give at least one file or folder")
    paths = [p for p in args.paths if Path(p).exists()]
    for missing in (p for p in args.paths if p not in paths):
        print(f"detaudit: error: scan --static: {missing}: no such file or folder", file=sys.stderr)
    if not paths:
        return EXIT_USAGE
    found = scan_static(paths, catalogs=args.catalog, builtin=not args.no_builtin)
    emit(render(found), args.output)
    if len(paths) < len(args.paths):
        return EXIT_USAGE
    raising = [f for f in found.findings if f.raises]  # not where an argument is to check
    flagged = {"any": found.findings, "raises": raising, "none": []}[args.fail_on]
    return EXIT_FINDINGS if flagged else EXIT_OK


def _print_signatures(args: argparse.Namespace) -> int:
    import torch

    from ..catalog import load_catalog
    from ..scanner.signatures import load_signatures

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    signatures = load_signatures(catalog, torch.__version__)
    pairs = [(entry, signatures.get(entry.id)) for entry in catalog]
    emit(RENDERERS["signatures"]["text"].render(pairs), args.output)
    return EXIT_OK
