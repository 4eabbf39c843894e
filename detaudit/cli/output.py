"""The one place a command writes its output: stdout, or files written whole or not at all."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EnvironmentUnsupported, UsageError

if TYPE_CHECKING:
    from ..model.report import Report
    from ..scanner.program import Program

__all__ = [
    "check_output_file",
    "check_output_folder",
    "emit",
    "program_failed",
    "report_stem",
    "write_files",
]

# Where the output goes is checked before any
# work starts (a bad place is exit 2 at once, not after a long audit); a write
# that still fails (disk full, read-only filesystem) is exit 3 and leaves every
# file as it was: all requested files are written, or none is.


def report_stem(report: Report) -> str:
    """``detaudit-torch2.13.0-cpu``: a report file's name, the torch version and devices."""
    return f"detaudit-torch{report.environment.torch}-{'-'.join(report.devices)}"


def check_output_folder(option: str, given: str, folder: Path | None = None) -> None:
    """Exit 2 now, before any work, if files cannot be written into ``folder`` (``given``)."""
    from ..atomic import unwritable_reason

    why = unwritable_reason(given if folder is None else folder)
    if why is not None:
        raise UsageError(f"{option} {given}: {why}; give a folder you can write to")


def check_output_file(option: str, given: str | None) -> None:
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
    check_output_folder(option, given, path.parent)


def write_files(option: str, given: str, files: dict[Path, str]) -> list[Path]:
    """Write every file or none; a failure is :class:`EnvironmentUnsupported` (exit 3)."""
    from ..atomic import write_texts_atomic

    try:
        return write_texts_atomic(files)
    except OSError as exc:
        which = f" {exc.filename}" if exc.filename and exc.filename != given else ""
        raise EnvironmentUnsupported(
            f"{option} {given}: cannot write{which}: {exc.strerror or exc}; "
            "no file was written or changed"
        ) from None


def emit(text: str, output: str | None) -> None:
    """The document to stdout, or to file ``output`` with a ``wrote`` line on stderr."""
    if output is None:
        sys.stdout.write(text)
        return
    for path in write_files("-o", output, {Path(output): text}):
        print(f"wrote {path}", file=sys.stderr)


def program_failed(program: Program, what: str, consequence: str) -> bool:
    """Say on stderr that the program ``scan``/``record`` ran failed, and what that leaves.

    ``what``: "scanned" or "recorded"; ``consequence``: what the output still is. Returns
    whether it failed (the command then exits 2).
    """
    if not (program.error or program.exit_code):
        return False
    if program.error:
        print(program.error, file=sys.stderr, end="")
    print(
        f"detaudit: error: the {what} program exited with code {program.exit_code}; "
        f"{consequence}",
        file=sys.stderr,
    )
    return True

