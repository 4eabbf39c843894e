"""``detaudit scan run|static|signatures``: the catalogued ops a program runs, or calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import devices
from ..errors import UsageError
from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .options import add_catalog_options
from .output import check_output_file, emit, program_failed

__all__ = ["FAIL_ON", "SUBCOMMANDS", "register", "run"]


#: The subcommands; each takes the one option set of :func:`_add_options`.
SUBCOMMANDS = {
    "run": "run a Python script in this process and list the catalogued ops it runs",
    "static": "read Python files with ast and list the catalogued APIs they call (runs nothing)",
    "signatures": "print how the dynamic scan recognises each entry (aten ops, conditions)",
}


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``scan`` to the command parser: ``scan run``, ``scan static``, ``scan signatures``.

    Today's spellings stay as aliases: ``scan SCRIPT`` is ``scan run SCRIPT``,
    ``scan --static PATH`` is ``scan static PATH``, ``scan --signatures`` is
    ``scan signatures``. A script named like a subcommand runs as ``scan run -- SCRIPT``.
    """
    scan = commands.add_parser(
        "scan",
        help="find the catalogued ops your code runs (scan run) or calls (scan static)",
        description="Run a Python script in this process under a dispatch mode and list every "
        "catalogued op it runs, forward and backward, with its source line and what "
        "deterministic mode does to it here and on the machines of --report files "
        "(scan run); or read Python files with ast instead, running nothing (scan static). "
        + " ".join(f"{name}: {what}." for name, what in SUBCOMMANDS.items()),
        usage="detaudit scan run [options] [--] [python] SCRIPT ARGS...\n"
        "       detaudit scan run [options] -- python -m MODULE ARGS...\n"
        "       detaudit scan static [options] PATH... [options]\n"
        "       detaudit scan signatures [options]\n"
        "       (aliases: detaudit scan [options] SCRIPT ARGS..., scan --static PATH..., "
        "scan --signatures)",
    )
    _add_options(scan, formats=sorted(RENDERERS["scan"].keys() | RENDERERS["static"].keys()))
    scan.add_argument(
        "--static", action="store_true", help="alias of scan static: read PATHs with ast"
    )
    scan.add_argument(
        "--signatures", action="store_true", help="alias of scan signatures: print and exit"
    )
    # The subcommand (or, for the aliases, the program command or the paths) and what follows.
    scan.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    scan.set_defaults(run=run)


def _add_options(parser: argparse.ArgumentParser, formats: list[str]) -> None:
    """The one option set of every ``scan`` subcommand (and of ``scan`` itself, for the aliases)."""
    parser.add_argument(
        "--device",
        choices=devices.names(),
        default=None,
        help="the device whose results to read from each --report (default: cuda when it has "
        "them), and whose docs claim each op shows (default: cuda)",
    )
    parser.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="REPORT.json",
        help="an audit report of another machine: say what its deterministic mode did (repeatable)",
    )
    parser.add_argument("--format", choices=formats, default="text")
    parser.add_argument(
        "--fail-on",
        choices=tuple(FAIL_ON),
        default="raises",
        help="exit 1 only when a found op raises (raises, the default: here, in a --report, "
        "or per the scanned torch's docs on --device, default cuda; for --static, per the docs "
        "where the call meets the condition literally), when anything is found (any), "
        "or never (none)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every op found (by default: the ops that raise somewhere, then one line "
        "per group of quiet ones)",
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="write the result to FILE instead of stdout"
    )
    add_catalog_options(parser)


#: ``--fail-on``: whether a scan's (found, raising) make it exit 1. The one definition of
#: "raises" is each result's own: the ops that raise here, in a --report or per the docs.
FAIL_ON: dict[str, Callable[[bool, bool], bool]] = {
    "any": lambda found, raising: found,
    "raises": lambda found, raising: raising,
    "none": lambda found, raising: False,
}


def _subcommand(name: str) -> argparse.ArgumentParser:
    """The parser of ``scan NAME``: the shared options, and its own positional arguments."""
    document = "static" if name == "static" else "scan"
    parser = argparse.ArgumentParser(prog=f"detaudit scan {name}", description=SUBCOMMANDS[name])
    _add_options(parser, formats=sorted(RENDERERS[document]))
    if name == "run":
        # The program command keeps its own options (train.py --epochs 1).
        parser.add_argument("target", nargs=argparse.REMAINDER, metavar="SCRIPT ARGS")
    elif name == "static":
        parser.add_argument("paths", nargs="*", metavar="PATH")
    return parser


def _arguments(args: argparse.Namespace) -> tuple[str, str, argparse.Namespace]:
    """(the subcommand, how it was spelled, its arguments): options before it carry over.

    ``scan static`` reads options and paths intermixed (``PATH... --format json``);
    an option given on both sides takes its later value; ``--report``/``--catalog`` add up.
    """
    words = list(args.target)
    if args.static and args.signatures:
        raise UsageError("scan --static reads no --report and has no --signatures")
    if args.static:
        name, spelled = "static", "scan --static"
    elif args.signatures:
        name, spelled = "signatures", "scan --signatures"
    elif words[:1] and words[0] in SUBCOMMANDS:
        name = words.pop(0)
        spelled = f"scan {name}"
    else:
        name, spelled = "run", "scan"
    given = argparse.Namespace(**vars(args))
    parser = _subcommand(name)
    if name == "static":
        parsed = parser.parse_intermixed_args(words, namespace=given)
    else:
        parsed = parser.parse_args(words, namespace=given)
    if name != "run":
        parsed.target = []
    return name, spelled, parsed


def run(args: argparse.Namespace) -> int:
    from ..errors import ReportError

    name, spelled, args = _arguments(args)
    document = "static" if name == "static" else "scan"
    if args.format not in RENDERERS[document]:
        raise UsageError(f"{spelled} has no --format {args.format}")
    render: Callable[..., str] = RENDERERS[document][args.format].render
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    check_output_file("-o", args.output)
    try:
        if name == "static":
            if args.report:
                raise UsageError(f"{spelled} reads no --report and has no --signatures")
            return _run_static(args, render, spelled)
        if name == "signatures":
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
        from .wording import worded

        raise UsageError(worded(exc)) from None
    result = found.result
    emit(render(result, every=args.all) if args.format == "text" else render(result), args.output)
    if program_failed(program, "scanned", "the scan covers what ran before that"):
        return EXIT_USAGE
    flagged = FAIL_ON[args.fail_on](bool(result.hits), result.raises_anywhere())
    return EXIT_FINDINGS if flagged else EXIT_OK


def _run_static(args: argparse.Namespace, render: Callable[[Any], str], spelled: str) -> int:
    """Scan the paths that exist; name each missing one on stderr, and exit 2 if any was.

    Exit: 2 when a path is missing (after scanning the others), else 1 when
    ``--fail-on`` finds something, else 0.
    """
    from ..scanner.static import scan_static

    if not args.paths:
        raise UsageError(f"{spelled}: give at least one file or folder")
    paths = [p for p in args.paths if Path(p).exists()]
    for missing in (p for p in args.paths if p not in paths):
        print(f"detaudit: error: {spelled}: {missing}: no such file or folder", file=sys.stderr)
    if not paths:
        return EXIT_USAGE
    found = scan_static(paths, catalogs=args.catalog, builtin=not args.no_builtin)
    emit(render(found), args.output)
    if len(paths) < len(args.paths):
        return EXIT_USAGE
    raising = any(f.raises for f in found.findings)  # not where an argument is to check
    return EXIT_FINDINGS if FAIL_ON[args.fail_on](bool(found.findings), raising) else EXIT_OK


def _print_signatures(args: argparse.Namespace) -> int:
    import torch

    from ..catalog import load_catalog
    from ..scanner.signatures import load_signatures

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    signatures = load_signatures(catalog, torch.__version__)
    pairs = [(entry, signatures.get(entry.id)) for entry in catalog]
    emit(RENDERERS["signatures"]["text"].render(pairs), args.output)
    return EXIT_OK
