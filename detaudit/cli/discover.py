"""``detaudit discover``: sweep PyTorch's OpInfo ops and list those that alert."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import devices
from ..render import RENDERERS
from .console import terminal
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import add_catalog_options, positive_float, positive_int
from .output import check_output_file, write_files

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``discover`` to the command parser."""
    discover = commands.add_parser(
        "discover",
        help="sweep PyTorch's OpInfo ops under deterministic mode and list those that alert",
        description="Run every op of PyTorch's OpInfo database with its own sample inputs, "
        "forward and backward, under deterministic mode in isolated workers; list the ops "
        "that raise or warn, with the kernel, and mark those the catalogue does not cover "
        "(exit 1 if any). Needs the 'expecttest' package: pip install 'detaudit[discover]'.",
    )
    discover.add_argument("--device", choices=devices.names(), default="cpu")
    discover.add_argument(
        "--op",
        action="append",
        default=[],
        metavar="NAME",
        help="sweep only this OpInfo op, by name (every variant) or name.variant (repeatable)",
    )
    discover.add_argument(
        "--samples",
        type=positive_int,
        default=None,
        metavar="N",
        help="run at most N samples of each op (default: all)",
    )
    add_catalog_options(discover)
    discover.add_argument(
        "--emit-yaml",
        metavar="PATH",
        default=None,
        help="write catalogue entries for the uncovered alerts to PATH, and their probes "
        "to <stem>_probes.py beside it",
    )
    discover.add_argument("--format", choices=tuple(RENDERERS["discovery"]), default="text")
    discover.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="seconds one op may run before its worker is killed (default 60)",
    )
    discover.add_argument("--jobs", type=positive_int, default=1, metavar="N")
    discover.add_argument("--seed", type=int, default=0, help="RNG seed set before each op")
    discover.add_argument("--python", metavar="PATH", default=None)
    discover.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..docs.discover import discover, emit_catalog

    emit = Path(args.emit_yaml) if args.emit_yaml else None
    check_output_file("--emit-yaml", args.emit_yaml)
    err = terminal(stderr=True)
    status = (
        err.status("discover: starting a worker and importing OpInfo") if err.is_terminal else None
    )
    if status is not None:
        status.start()

    def progress(op: str, done: int, total: int) -> None:
        if status is not None:
            status.update(f"discover: {done}/{total} ops ({op})")

    try:
        found = discover(
            device=args.device,
            ops=args.op,
            samples=args.samples,
            catalogs=args.catalog,
            builtin=not args.no_builtin,
            timeout=args.timeout,
            jobs=args.jobs,
            python=args.python,
            seed=args.seed,
            progress=progress,
        )
    finally:
        if status is not None:
            status.stop()
    sys.stdout.write(RENDERERS["discovery"][args.format].render(found))
    if emit is not None:
        files = emit_catalog(found, emit)
        for path in write_files("--emit-yaml", args.emit_yaml, files) if files else ():
            print(f"wrote {path}", file=sys.stderr)
        if not files:
            print(f"--emit-yaml: nothing to write to {emit}: no uncovered alert", file=sys.stderr)
    return EXIT_FINDINGS if found.uncovered else EXIT_OK
