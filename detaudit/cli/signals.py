"""SIGINT, SIGTERM and SIGHUP end a command like Ctrl-C: every ``with`` unwinds, workers die."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Signalled", "signals_interrupt"]


class Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every ``with`` unwinds (workers killed)."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


@contextmanager
def signals_interrupt() -> Iterator[None]:
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
        raise KeyboardInterrupt if sig == signal.SIGINT else Signalled(sig)

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
