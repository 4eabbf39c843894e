"""The ``detaudit`` command line: the only place that prints, exits or maps errors to codes.

Exit codes: 0 the command ran (whatever an audit found); 1 findings, for
commands that look for them; 2 bad input or usage; 3 this environment cannot
do what was asked; 4 internal failure; 130 interrupted (SIGINT), 143 terminated
(SIGTERM), 129 hung up (SIGHUP): 128 plus the signal's number.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ._version import __version__
from .errors import (
    CatalogError,
    DetauditError,
    EnvironmentUnsupported,
    ReportError,
    UsageError,
    WorkerError,
)

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    130,
)


# ---------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    from .runner.spec import MAX_TIMEOUT

    if not 0 < value <= MAX_TIMEOUT:  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(
            f"must be a positive, finite number of seconds (at most {MAX_TIMEOUT}), got {text}"
        )
    return value


def _formats(text: str) -> list[str]:
    from .render import RENDERERS

    formats = RENDERERS["report"]
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in formats]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or text!r}; choose from {','.join(formats)}"
        )
    return chosen


def _add_catalog_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="PATH",
        help="add a catalogue YAML file to the built-in one (repeatable)",
    )
    parser.add_argument("--no-builtin", action="store_true", help="use only the --catalog files")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from .api import DEFAULT_REPEAT
    from .render import RENDERERS
    from .runner.spec import DEVICE_CHOICES

    parser = argparse.ArgumentParser(
        prog="detaudit",
        description="Run PyTorch ops under torch.use_deterministic_algorithms(True) and "
        "report, op by op, what converts, raises or warns on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"detaudit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    audit = commands.add_parser(
        "audit",
        help="run every catalogued op and write a report",
        description="Run every catalogued op, forward and backward, on each device under "
        "deterministic mode, and write the report for the installed torch.",
    )
    audit.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="auto (default): every device present; all: cpu and cuda, cuda skipped if absent",
    )
    _add_catalog_options(audit)
    audit.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="audit only this entry id (repeatable)",
    )
    audit.add_argument(
        "--repeat",
        type=_positive_int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help=f"runs with the mode on and with it off, compared bitwise (default {DEFAULT_REPEAT})",
    )
    audit.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="seconds one entry may run on one device before its worker is killed (default 60)",
    )
    audit.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes (default 1: torch's CPU kernels already use every core)",
    )
    audit.add_argument(
        "--seed", type=int, default=0, help="RNG seed set before every run (default 0)"
    )
    audit.add_argument(
        "--python",
        metavar="PATH",
        default=None,
        help="run the probe workers under this interpreter (it needs torch and numpy)",
    )
    audit.add_argument(
        "--out", default=".", metavar="DIR", help="folder for the report files (default .)"
    )
    audit.add_argument(
        "--format",
        type=_formats,
        default=["json", "md"],
        metavar="FMT[,FMT]",
        help=f"report formats, comma-separated, from {','.join(RENDERERS['report'])} "
        "(default json,md)",
    )
    audit.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")
    audit.add_argument(
        "--cost",
        nargs="?",
        type=_positive_int,
        const=5,
        default=None,
        metavar="K",
        help="also time each entry that runs in deterministic mode, K runs with the mode "
        "off and K on (default K 5), and report the slowdown",
    )

    catalog = commands.add_parser("catalog", help="list or validate catalogue files")
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True
    )
    listing = catalog_commands.add_parser("list", help="list the catalogue's entries")
    _add_catalog_options(listing)
    listing.add_argument("--format", choices=tuple(RENDERERS["catalog-list"]), default="text")
    validate = catalog_commands.add_parser("validate", help="check catalogue files (exit 2 if bad)")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    _add_env_parser(commands)
    _add_compare_parsers(commands)
    _add_check_docs_parser(catalog_commands)
    _add_discover_parser(commands)
    _add_scan_parser(commands)
    return parser


def _add_env_parser(commands) -> None:
    from .render import RENDERERS

    env = commands.add_parser(
        "env",
        help="show this process's reproducibility settings, with advice",
        description="Show torch, CUDA, cuDNN and GPU versions and every setting that "
        "reproducibility depends on (deterministic mode, cuDNN, CUBLAS_WORKSPACE_CONFIG, "
        "PYTHONHASHSEED, ...), with one line of advice for each that is not as it should be.",
    )
    env.add_argument("--format", choices=tuple(RENDERERS["env"]), default="text")


def _add_compare_parsers(commands: argparse._SubParsersAction) -> None:
    """``diff`` and ``table``: commands over report files that `audit` wrote."""
    from .compare.diff import FAIL_ON
    from .render import RENDERERS

    diff = commands.add_parser(
        "diff",
        help="what changes from one report to another (exit 1 when something newly raises)",
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
        help="exit 1 when something newly raises (default), on any changed result, or never",
    )
    diff.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

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


def _add_discover_parser(commands) -> None:
    from .render import RENDERERS

    discover = commands.add_parser(
        "discover",
        help="sweep PyTorch's OpInfo ops under deterministic mode and list those that alert",
        description="Run every op of PyTorch's OpInfo database with its own sample inputs, "
        "forward and backward, under deterministic mode in isolated workers; list the ops "
        "that raise or warn, with the kernel, and mark those the catalogue does not cover "
        "(exit 1 if any). Needs the 'expecttest' package: pip install 'detaudit[discover]'.",
    )
    discover.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    discover.add_argument(
        "--op",
        action="append",
        default=[],
        metavar="NAME",
        help="sweep only this OpInfo op, by name (every variant) or name.variant (repeatable)",
    )
    discover.add_argument(
        "--samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="run at most N samples of each op (default: all)",
    )
    _add_catalog_options(discover)
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
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="seconds one op may run before its worker is killed (default 60)",
    )
    discover.add_argument("--jobs", type=_positive_int, default=1, metavar="N")
    discover.add_argument("--seed", type=int, default=0, help="RNG seed set before each op")
    discover.add_argument("--python", metavar="PATH", default=None)


def _add_check_docs_parser(catalog_commands) -> None:
    from .render import RENDERERS

    check = catalog_commands.add_parser(
        "check-docs",
        help="compare torch's use_deterministic_algorithms docstring with the catalogue "
        "(exit 1 if they disagree)",
        description="Parse the installed torch's use_deterministic_algorithms docstring into "
        "its two lists and compare them with the catalogue's claims for that release: items "
        "the catalogue lacks, entries the docs no longer list, and groups that differ.",
    )
    _add_catalog_options(check)
    check.add_argument("--format", choices=tuple(RENDERERS["docs-check"]), default="text")
    check.add_argument(
        "--docstring",
        metavar="FILE",
        default=None,
        help="check this docstring text instead of the installed torch's (needs --torch-version)",
    )
    check.add_argument(
        "--torch-version",
        metavar="VERSION",
        default=None,
        help="the torch release the --docstring FILE documents, e.g. 2.0.0",
    )


def _add_scan_parser(commands) -> None:
    from .render import RENDERERS

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
        choices=("cpu", "cuda"),
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
    _add_catalog_options(scan)
    scan.add_argument("target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


# ---------------------------------------------------------------------------- outputs
#
# The one place files are written. Where the output goes is checked before any
# work starts (a bad place is exit 2 at once, not after a long audit); a write
# that still fails (disk full, read-only filesystem) is exit 3 and leaves every
# file as it was: all requested files are written, or none is.


def _check_output_folder(option: str, given: str, folder: Path | None = None) -> None:
    """Exit 2 now, before any work, if files cannot be written into ``folder`` (``given``)."""
    from .atomic import unwritable_reason

    why = unwritable_reason(given if folder is None else folder)
    if why is not None:
        raise UsageError(f"{option} {given}: {why}; give a folder you can write to")


def _check_output_file(option: str, given: str | None) -> None:
    """Exit 2 now, before any work, if file ``given`` cannot be written (None: stdout)."""
    if given is None:
        return
    path = Path(given)
    if path.is_dir():
        raise UsageError(f"{option} {given}: is a folder; give a file name")
    if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: written in place
        if not os.access(path, os.W_OK):
            raise UsageError(f"{option} {given}: not writable; give a file you can write to")
        return
    _check_output_folder(option, given, path.parent)


def _write_files(option: str, given: str, files: dict[Path, str]) -> list[Path]:
    """Write every file or none; a failure is :class:`EnvironmentUnsupported` (exit 3)."""
    from .atomic import write_texts_atomic

    try:
        return write_texts_atomic(files)
    except OSError as exc:
        which = f" {exc.filename}" if exc.filename and exc.filename != given else ""
        raise EnvironmentUnsupported(
            f"{option} {given}: cannot write{which}: {exc.strerror or exc}; "
            "no file was written or changed"
        ) from None


def _emit(text: str, output: str | None) -> None:
    """The document to stdout, or to file ``output`` with a ``wrote`` line on stderr."""
    if output is None:
        sys.stdout.write(text)
        return
    for path in _write_files("-o", output, {Path(output): text}):
        print(f"wrote {path}", file=sys.stderr)


# ---------------------------------------------------------------------------- commands


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


_STATUS_STYLE = {
    "raises": "bold red",
    "warns": "yellow",
    "converts": "green",
    "ok": "dim green",
    "skipped": "dim",
    "error": "magenta",
    "crashed": "bold magenta",
    "timeout": "bold magenta",
}


def _run_audit(args: argparse.Namespace) -> int:
    from .api import audit
    from .render import RENDERERS

    out_dir = Path(args.out)
    _check_output_folder("--out", args.out)
    err = _console(stderr=True)
    progress_cb, finish = _progress(err, quiet=args.quiet)
    try:
        report = audit(
            device=args.device,
            catalogs=args.catalog,
            builtin=not args.no_builtin,
            only=args.only,
            repeat=args.repeat,
            timeout=args.timeout,
            jobs=args.jobs,
            python=args.python,
            seed=args.seed,
            progress=progress_cb,
            cost=args.cost,
        )
    finally:
        finish()
    formats = RENDERERS["report"]
    texts = {fmt: formats[fmt].render(report) for fmt in args.format}
    written = _write_files(
        "--out",
        args.out,
        {
            out_dir / f"{report.file_stem}{formats[fmt].extension}": text
            for fmt, text in texts.items()
        },
    )
    if not args.quiet:
        _summary(_console(), report)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _progress(console, *, quiet: bool):
    """A progress bar on a terminal, plain lines otherwise; returns (callback, finish)."""
    if quiet:
        return None, lambda: None
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        task = bar.add_task("starting workers", total=None)
        bar.start()

        def update(result, done: int, total: int) -> None:
            bar.update(
                task, completed=done, total=total, description=f"{result.id} [{result.device}]"
            )

        return update, bar.stop

    def line(result, done: int, total: int) -> None:
        kernel = f" ({result.kernel})" if result.kernel else ""
        print(
            f"[{done}/{total}] {result.id} {result.device}: {result.status.value}{kernel}",
            file=sys.stderr,
            flush=True,
        )

    return line, lambda: None


def _summary(console, report) -> None:
    from rich.table import Table

    from .render.markdown import title

    console.print(f"[bold]detaudit[/bold]: {title(report)}")
    counts = Table(title="results per status", title_justify="left")
    counts.add_column("status")
    for device in report.devices:
        counts.add_column(device, justify="right")
    for status, total in report.counts().items():
        if total:
            per = [
                str(sum(1 for r in report.results if r.status is status and r.device == d))
                for d in report.devices
            ]
            counts.add_row(f"[{_STATUS_STYLE[status.value]}]{status.value}[/]", *per)
    console.print(counts)
    drifts = report.drifts()
    if drifts:
        table = Table(
            title=f"drift: {len(drifts)} differ from the docs of this torch", title_justify="left"
        )
        for column in ("id", "device", "docs claim", "observed", "kernel"):
            table.add_column(column)
        for r in drifts:
            table.add_row(
                r.id,
                r.device,
                f"{r.expected} ({r.expected_from})",
                f"[{_STATUS_STYLE[r.status.value]}]{r.status.value}[/]",
                r.kernel or "",
            )
        console.print(table)
    else:
        console.print("no drift: every observed status matches the docs of this torch")
    _cost_summary(console, report)


def _cost_summary(console, report, shown: int = 5) -> None:
    """The slowest deterministic entries, when the audit timed them (``--cost``)."""
    from .render.markdown import cost_reading

    timed = sorted((r for r in report.results if r.cost), key=lambda r: -r.cost.ratio)
    if timed:
        console.print(
            f"cost of determinism, slowest first ({len(timed)} timed; all in the report):"
        )
        for result in timed[:shown]:
            console.print(f"  {cost_reading(result)}")


def _run_scan(args: argparse.Namespace) -> int:
    from .errors import ReportError
    from .render import RENDERERS

    document = "static" if args.static else "scan"
    if args.format not in RENDERERS[document]:
        raise UsageError(f"scan{' --static' * args.static} has no --format {args.format}")
    render = RENDERERS[document][args.format].render
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    _check_output_file("-o", args.output)
    try:
        if args.static:
            if args.report or args.signatures:
                raise UsageError("scan --static reads no --report and has no --signatures")
            from .scanner.static import scan_static

            found = scan_static(target, catalogs=args.catalog, builtin=not args.no_builtin)
            _emit(render(found), args.output)
            raising = [f for f in found.findings if f.claim == "raises"]
            flagged = {"any": found.findings, "raises": raising, "none": []}[args.fail_on]
            return EXIT_FINDINGS if flagged else EXIT_OK
        if args.signatures:
            return _print_signatures(args)
        from .scanner.dynamic import parse_command, run_program, scan

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
    _emit(render(result), args.output)
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

    from .catalog import load_catalog
    from .render import RENDERERS
    from .scanner.signatures import load_signatures

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    signatures = load_signatures(catalog, torch.__version__)
    pairs = [(entry, signatures.get(entry.id)) for entry in catalog]
    _emit(RENDERERS["signatures"]["text"].render(pairs), args.output)
    return EXIT_OK


def _run_catalog(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    if args.catalog_command == "check-docs":
        return _run_check_docs(args)
    if args.catalog_command == "validate":
        catalog = load_catalog(args.paths, builtin=False)
        print(f"ok: {len(catalog)} entries in {len(catalog.files)} file(s)")
        return EXIT_OK
    from .render import RENDERERS

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    sys.stdout.write(RENDERERS["catalog-list"][args.format].render(catalog))
    return EXIT_OK


def _run_env(args: argparse.Namespace) -> int:
    from .render import RENDERERS
    from .repro.envreport import env_report

    report = env_report(with_cuda=True)
    sys.stdout.write(RENDERERS["env"][args.format].render(report))
    return EXIT_OK


def _run_diff(args: argparse.Namespace) -> int:
    from .compare.diff import ChangeKind, diff_reports
    from .model.reportfile import load_report
    from .render import RENDERERS

    _check_output_file("-o", args.output)
    result = diff_reports(
        load_report(args.old),
        load_report(args.new),
        old_source=args.old,
        new_source=args.new,
    )
    _emit(RENDERERS["diff"][args.format].render(result), args.output)
    if not result.fails(args.fail_on):
        return EXIT_OK
    if args.fail_on == "newly-raises":
        n = len(result.of_kind(ChangeKind.NEWLY_RAISES))
        found = f"{n} result{'s' * (n != 1)} newly raise{'s' * (n == 1)}"
    else:
        n = len(result.changes)
        found = f"{n} result{'s' * (n != 1)} changed"
    print(f"detaudit: diff: {found} (--fail-on {args.fail_on})", file=sys.stderr)
    return EXIT_FINDINGS


def _run_table(args: argparse.Namespace) -> int:
    from .compare.table import build_table
    from .model.reportfile import load_reports
    from .render import RENDERERS

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
    _check_output_file("-o", args.output)
    table = build_table(load_reports(args.reports), args.reports)
    _emit(formats[fmt or "md"].render(table), args.output)
    return EXIT_OK


def _run_discover(args: argparse.Namespace) -> int:
    from .docs.discover import discover, emit_catalog
    from .render import RENDERERS

    emit = Path(args.emit_yaml) if args.emit_yaml else None
    _check_output_file("--emit-yaml", args.emit_yaml)
    err = _console(stderr=True)
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
        for path in _write_files("--emit-yaml", args.emit_yaml, files) if files else ():
            print(f"wrote {path}", file=sys.stderr)
        if not files:
            print(f"--emit-yaml: nothing to write to {emit}: no uncovered alert", file=sys.stderr)
    return EXIT_FINDINGS if found.uncovered else EXIT_OK


def _run_check_docs(args: argparse.Namespace) -> int:
    from .catalog import load_catalog, parse_version
    from .docs.check import check_docs
    from .docs.docstring import installed_docstring, parse_docstring
    from .render import RENDERERS

    if args.docstring is None:
        if args.torch_version is not None:
            raise UsageError("--torch-version goes with --docstring FILE")
        version, text, source = installed_docstring()
    else:
        if args.torch_version is None:
            raise UsageError(
                "--docstring FILE needs --torch-version VERSION (the release it documents)"
            )
        version, source = args.torch_version, args.docstring
        try:
            text = Path(args.docstring).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--docstring {args.docstring}: {exc.strerror or exc}") from None
    try:
        parse_version(version)
    except ValueError:
        raise UsageError(f"--torch-version {version!r}: expected a version like 2.13.0") from None
    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    check = check_docs(catalog, parse_docstring(text), version, source)
    sys.stdout.write(RENDERERS["docs-check"][args.format].render(check))
    return EXIT_OK if check.ok else EXIT_FINDINGS


# ---------------------------------------------------------------------------- entry point


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every ``with`` unwinds (workers killed)."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into an exception; a second one exits at once.

    Signals set to be ignored (``nohup``) stay ignored. The previous handlers
    are restored on the way out. Only the main thread can set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults = {signal.SIGINT: signal.default_int_handler}
    received: list[signal.Signals] = []

    def handler(signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        if received:  # already unwinding: the user insists
            os.write(2, f"detaudit: {sig.name} again; exiting now\n".encode())
            os._exit(128 + sig)
        received.append(sig)
        raise KeyboardInterrupt if sig == signal.SIGINT else _Signalled(sig)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        current = signal.getsignal(sig)
        if current is defaults.get(sig, signal.SIG_DFL):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "audit": _run_audit,
        "catalog": _run_catalog,
        "env": _run_env,
        "diff": _run_diff,
        "table": _run_table,
        "discover": _run_discover,
        "scan": _run_scan,
    }
    try:
        with _signals_interrupt():
            return handlers[args.command](args)
    except CatalogError as exc:
        for problem in exc.problems:
            print(f"detaudit: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"detaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReportError as exc:
        print(f"detaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EnvironmentUnsupported, WorkerError) as exc:
        print(f"detaudit: error: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except DetauditError as exc:
        print(f"detaudit: error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _Signalled) else signal.SIGINT
        print(f"detaudit: interrupted by {signum.name}; no report written", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # the machine refused a file operation: environment, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"detaudit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except Exception as exc:
        if os.environ.get("DETAUDIT_DEBUG"):
            raise
        print(
            f"detaudit: internal error: {type(exc).__name__}: {exc} "
            "(set DETAUDIT_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
