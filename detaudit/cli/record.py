"""``detaudit record``: run a program under the recording dispatch mode and write its trace."""

from __future__ import annotations

import argparse
import re
import socket
import sys
from pathlib import Path

from ..errors import UsageError
from .exits import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .options import add_catalog_options
from .output import check_output_file, program_failed

__all__ = ["default_trace_name", "register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``record`` to the command parser."""
    record = commands.add_parser(
        "record",
        help="run a program and write a trace of every aten op it runs (for compare)",
        description="Run a Python script in this process under a recording dispatch mode and "
        "write a trace: every aten op, forward and backward, with its user line, fingerprints "
        "of its inputs and outputs, the generator state of random ops, and the environment. "
        "Compare two traces with `detaudit compare`. Exit 0 when the program ran; 1 with "
        "--rerun when an op gave other bits on its second run; 2 for bad input or when the "
        "program failed (the trace is then partial).",
        usage="detaudit record [options] [--] [python] SCRIPT ARGS...\n"
        "       detaudit record [options] -m MODULE [-- ARGS...]\n"
        "       detaudit record [options] -- python -m MODULE ARGS...",
    )
    add_record_options(record)
    record.add_argument(
        "--out",
        "-o",
        metavar="FILE",
        help="the trace file (default: SCRIPT-torchVERSION-HOST.trace)",
    )
    add_catalog_options(record)
    record.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    record.set_defaults(run=run)


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """The options ``record`` and ``twice`` share."""
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run every op a second time on clones of its inputs (generators restored) and "
        "mark the ops whose bits differ: about twice the cost",
    )
    parser.add_argument(
        "--no-catalog-match",
        action="store_true",
        help="do not name the catalogue entry of each catalogued op call in the trace (the "
        "scan's signature match; compare then matches entries by op name)",
    )
    parser.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run a module, as python -m MODULE does (its arguments after --)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="stop the program after N steps (optimizer steps, or detaudit.step() calls)",
    )


def default_trace_name(target: str) -> str:
    """``train-torch2.13.0-host.trace`` for ``train.py``."""
    import torch

    stem = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
    version = re.sub(r"[^\w.]+", "_", torch.__version__)
    host = re.sub(r"[^\w.-]+", "_", socket.gethostname())
    return f"{stem}-torch{version}-{host}.trace"


def parse_target(command: str, target: list[str], module: str | None = None) -> list[str]:
    """The program command, checked (a bad one is exit 2 before anything loads)."""
    from ..scanner.program import parse_command

    target = target[1:] if target[:1] == ["--"] else target
    if module is not None:
        target = ["python", "-m", module, *target]
    try:
        parse_command(target)
    except UsageError as exc:
        raise UsageError(str(exc).replace("scan", command)) from None
    return target


def run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")
    target = parse_target("record", args.target, args.module)
    from ..scanner.program import parse_command, run_program
    from ..trace.recorder import record

    _, name, _ = parse_command(target)
    out = args.out or default_trace_name(name)
    check_output_file("--out", out)
    matcher = None
    if not args.no_catalog_match:
        from ..catalog import load_catalog
        from ..trace.recorder import catalogue_matcher

        matcher = catalogue_matcher(load_catalog(args.catalog, builtin=not args.no_builtin))
    with record(
        out, rerun=args.rerun, steps=args.steps, command=target, matcher=matcher
    ) as mode:
        program = run_program(target)
        if program.error or program.exit_code:
            mode.failure = f"the program exited with code {program.exit_code}"
    per_op = mode.size / mode.count if mode.count else 0.0
    print(
        f"wrote {out}: {mode.count} ops, {mode.steps} steps, {mode.size} bytes "
        f"({per_op:.0f} bytes per op)",
        file=sys.stderr,
    )
    for index, op, pass_, where in mode.rerun_differs[:20]:
        print(
            f"--rerun: op #{index} {op} ({ {'f': 'forward', 'b': 'backward'}.get(pass_, pass_) }) "
            f"at {where} gave other bits when run again on the same inputs",
            file=sys.stderr,
        )
    if program_failed(program, "recorded", "the trace is partial"):
        return EXIT_USAGE
    return EXIT_FINDINGS if mode.rerun_differs else EXIT_OK
