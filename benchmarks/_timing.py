"""What the benchmark scripts share: the wall time of one command, its output discarded."""

from __future__ import annotations

import subprocess
import time


def wall(cmd: list[str]) -> float:
    """Seconds ``cmd`` took to run (it must exit 0); stdin closed, stdout discarded."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start
