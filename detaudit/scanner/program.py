"""Run a Python script or module in this process, as ``python`` would: what ``detaudit scan`` scans."""

from __future__ import annotations

import os
import re
import runpy
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["Program", "parse_command", "run_program"]


@dataclass(frozen=True, slots=True)
class Program:
    """How a scanned program ended: its exit code and, if it raised, the traceback."""

    exit_code: int
    error: str | None = None


def _is_python(word: str) -> bool:
    """``python``, ``python3``, ``python3.11`` or this interpreter's path."""
    return (
        word == sys.executable or re.fullmatch(r"python[\d.]*", os.path.basename(word)) is not None
    )


def parse_command(command: Sequence[str]) -> tuple[str, str, list[str]]:
    """``[--] [python] SCRIPT ARGS`` or ``[--] python -m MODULE ARGS`` -> (kind, target, args)."""
    words = list(command)
    if words[:1] == ["--"]:
        words = words[1:]
    if words and _is_python(words[0]):
        words = words[1:]
        if words[:1] == ["-m"] and len(words) > 1:
            return "module", words[1], words[2:]
        if words and words[0].startswith("-"):
            raise UsageError(
                f"scan: python option {words[0]!r} is not supported; "
                "give `-- python SCRIPT ARGS` or `-- python -m MODULE ARGS`"
            )
    if not words:
        raise UsageError(
            "scan: nothing to run; give `detaudit scan SCRIPT ARGS`, "
            "`detaudit scan -- python SCRIPT ARGS` or `detaudit scan --static PATH...`"
        )
    if not Path(words[0]).is_file():
        raise UsageError(
            f"scan: {words[0]}: no such Python script (the scan runs a script in-process: "
            "`detaudit scan [-- python] SCRIPT ARGS`)"
        )
    return "script", words[0], words[1:]


def run_program(command: Sequence[str]) -> Program:
    """Run a Python script or module in this process, as ``python`` would, with its arguments.

    ``sys.argv`` and ``sys.path`` are set for it and restored afterwards. Its
    exception (KeyboardInterrupt aside) or non-zero ``sys.exit`` is returned,
    not raised, so that a scan reports what ran before it.
    """
    kind, target, args = parse_command(command)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    try:
        if kind == "module":
            sys.argv = [target, *args]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [target, *args]
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return Program(0)
        return Program(
            code if isinstance(code, int) else 1, None if isinstance(code, int) else str(code)
        )
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the program's failure is its outcome
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if "runpy" not in f.filename and __file__ != f.filename]
        text = "".join(traceback.format_list(own)) + "".join(
            traceback.format_exception_only(type(exc), exc)
        )
        return Program(1, "Traceback (most recent call last):\n" + text)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return Program(0)
