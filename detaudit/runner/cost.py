"""Time a probe with deterministic mode off and on, inside a worker (opt-in: ``audit --cost``).

Kept apart from the worker's hot path so that an audit without ``--cost``
runs no line of it. Like the worker, it may run under another interpreter:
standard library, torch and the model's run records only, syntax that Python 3.9 runs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

from detaudit import torchstate
from detaudit.model.observation import Cost
from detaudit.runner.probing import seed_all, synchronize

__all__ = ["measure"]

#: Untimed runs per mode before the timed ones (first-call allocations, lazy inits).
WARMUP = 1


def measure(
    fn: Callable[[Any], Any], device: Any, seed: int, runs: int, warmup: int = WARMUP
) -> Cost | None:
    """What deterministic mode costs ``fn``: ``runs`` timed runs per mode, after ``warmup``.

    The two modes alternate, and which goes first alternates too, so that a
    change in machine load hits both; every run is seeded alike, and CUDA (or MPS) is
    synchronised before and after it. None when a run fails (a failed timing gives
    no cost, not a failed entry) or none was timed.
    """

    times: dict[bool, list[float]] = {False: [], True: []}
    saved = torchstate.snapshot()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for round_ in range(warmup + runs):
                for mode in (False, True) if round_ % 2 == 0 else (True, False):
                    seed_all(seed)
                    torchstate.set_deterministic_algorithms(mode, False)
                    synchronize(device)
                    start = time.perf_counter()
                    fn(device)
                    synchronize(device)
                    if round_ >= warmup:
                        times[mode].append(time.perf_counter() - start)
    except Exception:  # noqa: BLE001 - a failed timing gives no cost, not a failed entry
        return None
    finally:
        torchstate.restore(saved)
    if not times[False] or not times[True]:
        return None
    return Cost.from_samples(times[False], times[True])
