"""``detaudit twice``: run a program N times in fresh processes, record each, compare."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..render import RENDERERS
from .compare import add_format_options, compare_files
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import add_catalog_options, positive_int
from .output import check_output_file, check_output_folder, emit
from .record import add_record_options, parse_target

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``twice`` to the command parser."""
    twice = commands.add_parser(
        "twice",
        help="run a program N times, record each run and say why they differ",
        description="Run the program N times (default 2) in fresh processes with the same "
        "arguments and environment, record each with `detaudit record`, and print the "
        "comparison of the first two runs that differ, or that all N are identical. Exit 0 "
        "when identical, 1 when two runs differ, 2 for bad input or a failed run.",
        usage="detaudit twice [options] [--] [python] SCRIPT ARGS...\n"
        "       detaudit twice [options] -m MODULE [-- ARGS...]\n"
        "       detaudit twice [options] -- python -m MODULE ARGS...",
    )
    twice.add_argument("--runs", type=positive_int, default=2, metavar="N")
    twice.add_argument(
        "--traces", metavar="DIR", help="keep the traces in DIR (default: a temporary folder)"
    )
    add_record_options(twice)
    add_format_options(twice)
    add_catalog_options(twice)
    twice.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    twice.set_defaults(run=run)


def _record(target: list[str], trace: Path, args: argparse.Namespace) -> None:
    """Record one run in a fresh process; a failed run is a UsageError with its stderr tail."""
    command = [sys.executable, "-m", "detaudit", "record", "--out", str(trace)]
    if args.rerun:
        command.append("--rerun")
    if args.steps is not None:
        command += ["--steps", str(args.steps)]
    if args.no_catalog_match:
        command.append("--no-catalog-match")
    for path in args.catalog:
        command += ["--catalog", str(path)]
    if args.no_builtin:
        command.append("--no-builtin")
    done = subprocess.run(
        [*command, "--", *target],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    if done.returncode not in (EXIT_OK, EXIT_FINDINGS):
        tail = "\n".join(done.stderr.strip().splitlines()[-12:])
        print(tail, file=sys.stderr)
        raise UsageError(
            f"twice: run {trace.stem} failed (detaudit record exited {done.returncode})"
        )


def run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")
    if args.runs < 2:
        raise UsageError("twice: --runs 1 compares nothing; give --runs 2 or more")
    target = parse_target("twice", args.target, args.module)
    check_output_file("-o", args.output)
    from ..model.reportfile import load_reports

    load_reports(args.report)  # a bad --report is refused before any run, not after them
    if args.traces:
        Path(args.traces).mkdir(parents=True, exist_ok=True)
        check_output_folder("--traces", args.traces)
    with tempfile.TemporaryDirectory(prefix="detaudit-twice-") as scratch:
        folder = Path(args.traces or scratch)
        traces = []
        for number in range(1, args.runs + 1):
            trace = folder / f"run{number}.trace"
            _record(target, trace, args)
            traces.append(trace)
            if number == 1:
                continue
            comparison = compare_files(str(traces[0]), str(trace), args)
            if not comparison.identical or comparison.rerun:
                emit(RENDERERS["divergence"][args.format].render(comparison), args.output)
                if not args.traces:
                    print(
                        "detaudit: the traces were temporary; keep them with --traces DIR",
                        file=sys.stderr,
                    )
                return EXIT_FINDINGS
        if args.format == "text":
            emit(f"Identical across {args.runs} runs ({comparison.ops_a} ops each).\n", args.output)
        else:
            emit(RENDERERS["divergence"][args.format].render(comparison), args.output)
    return EXIT_OK
