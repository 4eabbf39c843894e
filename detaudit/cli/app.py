"""The ``detaudit`` command line: the parser, and the one place errors become exit codes.

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
from collections.abc import Sequence

from .._version import __version__
from ..errors import (
    CatalogError,
    DetauditError,
    EnvironmentUnsupported,
    ReportError,
    TraceError,
    UsageError,
    WorkerError,
)
from . import audit, catalog, compare, diff, discover, env, fleet, record, scan, sites, table, twice
from .exits import EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from .signals import Signalled, signals_interrupt
from .wording import worded

__all__ = ["build_parser", "main"]

#: The commands, in the order ``--help`` lists them.
COMMANDS = (audit, catalog, env, diff, table, fleet, discover, scan, sites, record, compare, twice)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="detaudit",
        description="Run PyTorch ops under torch.use_deterministic_algorithms(True) and "
        "report, op by op, what converts, raises or warns on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"detaudit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with signals_interrupt():
            return args.run(args)
    except (CatalogError, UsageError, ReportError, TraceError) as exc:
        _error(exc)
        return EXIT_USAGE
    except (EnvironmentUnsupported, WorkerError) as exc:
        _error(exc)
        return EXIT_ENVIRONMENT
    except DetauditError as exc:
        _error(exc)
        return EXIT_INTERNAL
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Signalled) else signal.SIGINT
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


def _error(exc: DetauditError) -> None:
    """``detaudit: error:`` and the message (a catalogue's: one line a problem), with flags."""
    text = worded(exc)
    for line in text.splitlines() if isinstance(exc, CatalogError) else [text]:
        print(f"detaudit: error: {line}", file=sys.stderr)
