"""signals_held defers SIGINT/SIGTERM/SIGHUP to the block's end, whatever thread the kernel picks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from detaudit.signalhold import signals_held

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def handled(monkeypatch):
    """SIGTERM recorded by a handler of the test's, and a second thread that does not mask it."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handled"))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # as numpy's OpenBLAS threads are
    other.start()
    yield seen
    stop.set()
    other.join()
    signal.signal(signal.SIGTERM, previous)


_IN_THE_BLOCK = """
import os, signal, threading, time
from detaudit.signalhold import signals_held

seen = []
signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handled"))
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # a thread that does not mask it
with signals_held():
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # bytecodes run: a pending handler would run now
        pass
    seen.append("block ends")
print(seen)
"""


def test_a_signal_in_the_block_runs_its_handler_after_it():
    # In a fresh process: masking the main thread alone (pthread_sigmask) let the kernel hand
    # the signal to the other thread, and its handler ran inside the block.
    done = subprocess.run(
        [sys.executable, "-c", _IN_THE_BLOCK], check=False, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "['block ends', 'handled']"


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_the_handlers_are_put_back(handled):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with signals_held():
        pass
    assert {sig: signal.getsignal(sig) for sig in before} == before
