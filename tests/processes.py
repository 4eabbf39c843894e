"""Helpers for tests that look at the process table: wait for a probe, check what is left."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

LIFELINE = Path(__file__).parent / "data" / "lifeline"
LIFELINE_CATALOG = LIFELINE / "lifeline.yaml"
#: Generous: these wait for things a loaded machine delays, never for a fixed time.
DEADLINE = 90.0


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie is dead (init may be slow to reap an orphan, or never)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group(pgid: int) -> set[int]:
    """The living processes of process group ``pgid``."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.add(int(entry.name))
    return members


def wait_for_marker(folder: Path, proc: subprocess.Popen | None = None) -> dict[str, Any]:
    """Wait until a probe of tests/data/lifeline runs; return what it wrote (its pids)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        markers = sorted(folder.glob("*.json"))
        if markers:
            return json.loads(markers[0].read_text())
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before the probe ran")
        time.sleep(0.05)
    raise AssertionError(f"no probe wrote a marker into {folder} within {DEADLINE:.0f} s")


def wait_gone(pids: set[int] | list[int]) -> set[int]:
    """Wait until none of ``pids`` runs; return those still running at the deadline."""
    deadline = time.monotonic() + DEADLINE
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left
