"""What the benchmark scripts share: the wall (and CPU) time of one command, its output discarded."""

from __future__ import annotations

import resource
import subprocess
import time


def wall(cmd: list[str]) -> float:
    """Seconds ``cmd`` took to run (it must exit 0); stdin closed, stdout discarded."""
    return timed(cmd)[0]


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + sys of ``cmd`` and every process it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu
