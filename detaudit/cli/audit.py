"""``detaudit audit``: run every catalogued op and write the report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..render import RENDERERS
from .console import progress, summary, terminal
from .exits import EXIT_OK
from .options import add_catalog_options, positive_float, positive_int, report_formats
from .output import check_output_folder, report_stem, write_files

if TYPE_CHECKING:
    from ..options import AuditOptions

__all__ = ["add_audit_options", "audit_arguments", "options_from_args", "register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``audit`` to the command parser."""
    audit = commands.add_parser(
        "audit",
        help="run every catalogued op and write a report",
        description="Run every catalogued op, forward and backward, on each device under "
        "deterministic mode, and write the report for the installed torch.",
    )
    add_audit_options(audit)
    audit.add_argument(
        "--python",
        metavar="PATH",
        default=None,
        help="run the probe workers under this interpreter (it needs torch; numpy optional)",
    )
    audit.add_argument(
        "--out", default=".", metavar="DIR", help="folder for the report files (default .)"
    )
    audit.add_argument(
        "--format",
        type=report_formats,
        default=["json", "md"],
        metavar="FMT[,FMT]",
        help=f"report formats, comma-separated, from {','.join(RENDERERS['report'])} "
        "(default json,md)",
    )
    audit.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")
    audit.set_defaults(run=run)


def add_audit_options(parser: argparse.ArgumentParser) -> None:
    """Every :class:`~detaudit.options.AuditOptions` field but ``python`` (each command says
    whose interpreter its default is), as ``audit`` and ``fleet`` take them."""
    from ..options import DEFAULT_REPEAT
    from ..runner.spec import device_choices

    parser.add_argument(
        "--device",
        choices=device_choices(),
        default="auto",
        help="auto (default): every device present; "
        "all: every device detaudit knows, each absent one skipped",
    )
    add_catalog_options(parser)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="audit only this entry id (repeatable)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help=f"runs with the mode on and with it off, compared bitwise (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="seconds one entry may run on one device before its worker is killed (default 60)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes (default 1: torch's CPU kernels already use every core)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="RNG seed set before every run (default 0)"
    )
    parser.add_argument(
        "--no-census",
        action="store_true",
        help="do not read the audited torch's libraries for the alert names no entry probed "
        "(the census; needs the sites extra)",
    )
    parser.add_argument(
        "--cost",
        nargs="?",
        type=positive_int,
        const=5,
        default=None,
        metavar="K",
        help="also time each entry that runs in deterministic mode, K runs with the mode "
        "off and K on (default K 5), and report the slowdown",
    )
    _add_compile_options(parser)


def options_from_args(args: argparse.Namespace, python: str | None = None) -> AuditOptions:
    """The audit's options from the parsed flags (:func:`add_audit_options`'s); checked here."""
    from ..options import AuditOptions

    return AuditOptions(
        device=args.device,
        catalogs=tuple(args.catalog),
        builtin=not args.no_builtin,
        only=tuple(args.only),
        repeat=args.repeat,
        timeout=args.timeout,
        jobs=args.jobs,
        python=python,
        seed=args.seed,
        cost=args.cost,
        compile=args.compile,
        compile_deterministic=args.compile_deterministic,
        compile_timeout=args.compile_timeout,
        census=not args.no_census,
    )


def audit_arguments(options: AuditOptions) -> list[str]:
    """The ``detaudit audit`` flags that give ``options`` back (:func:`options_from_args`).

    Only what differs from the defaults is written, but ``--device`` and ``--seed``,
    which a job's command line always names.
    """
    from ..options import AuditOptions

    default = AuditOptions()
    words = ["--device", options.device]
    if options.python is not None:
        words += ["--python", options.python]
    for path in options.catalogs:
        words += ["--catalog", path]
    if not options.builtin:
        words.append("--no-builtin")
    for entry in options.only:
        words += ["--only", entry]
    if options.repeat != default.repeat:
        words += ["--repeat", str(options.repeat)]
    if options.timeout != default.timeout:
        words += ["--timeout", repr(options.timeout)]
    words += ["--seed", str(options.seed)]
    if options.jobs != default.jobs:
        words += ["--jobs", str(options.jobs)]
    if options.cost is not None:
        words += ["--cost", str(options.cost)]
    if options.compile is not None:
        words += ["--compile", options.compile]
    if options.compile_deterministic:
        words.append("--compile-deterministic")
    if options.compile_timeout != default.compile_timeout:
        words += ["--compile-timeout", repr(options.compile_timeout)]
    if not options.census:
        words.append("--no-census")
    return words


def _add_compile_options(audit: argparse.ArgumentParser) -> None:
    from ..options import COMPILE_TIMEOUT

    audit.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        default=None,
        metavar="BACKEND",
        help="also run each probe through torch.compile with this backend (default inductor) "
        "and record the compiled observation; costs seconds per entry",
    )
    audit.add_argument(
        "--compile-deterministic",
        action="store_true",
        help="with --compile: turn Inductor's determinism settings on for the compiled runs",
    )
    audit.add_argument(
        "--compile-timeout",
        type=positive_float,
        default=COMPILE_TIMEOUT,
        metavar="S",
        help="with --compile: seconds the compiled runs may take, on top of --timeout for "
        "the entry; past them they stop, the eager result is kept and the compiled "
        f"observation is timeout (default {COMPILE_TIMEOUT:g})",
    )


def run(args: argparse.Namespace) -> int:
    from ..api import audit

    out_dir = Path(args.out)
    check_output_folder("--out", args.out)
    err = terminal(stderr=True)
    progress_cb, finish = progress(err, quiet=args.quiet)
    options = options_from_args(args, args.python)
    try:
        report = audit(options, progress=progress_cb)
    finally:
        finish()
    formats = RENDERERS["report"]
    texts = {fmt: formats[fmt].render(report) for fmt in args.format}
    written = write_files(
        "--out",
        args.out,
        {
            out_dir / f"{report_stem(report)}{formats[fmt].extension}": text
            for fmt, text in texts.items()
        },
    )
    if not args.quiet:
        summary(terminal(), report)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK
