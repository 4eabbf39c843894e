"""Hold SIGINT, SIGTERM and SIGHUP for the length of a block, then deliver them.

Used where an interrupt half-way would lose track of something the command
started: a worker process just spawned, a Slurm job just submitted.

Masking the signals with ``pthread_sigmask`` is not enough: it masks the
calling thread only, and the kernel then hands a process-wide signal to any
other thread (numpy's OpenBLAS threads, the audit's census thread), whose C
handler makes Python run the handler in the main thread at once, inside the
block. So in the main thread the handlers themselves are swapped for one that
records the signal, and the signals are raised again once the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["HELD", "signals_held"]

HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def signals_held(signals: tuple[signal.Signals, ...] = HELD) -> Iterator[None]:
    """Defer ``signals`` until the block ends (they are delivered then, in order)."""
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread can set handlers, and only it runs them: mask this thread.
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    received: list[int] = []
    previous = {}
    for sig in signals:
        if signal.getsignal(sig) in (signal.SIG_IGN, None):
            continue  # ignored (nohup) stays ignored; None: a handler not set from Python
        previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in received:
            signal.raise_signal(signum)
