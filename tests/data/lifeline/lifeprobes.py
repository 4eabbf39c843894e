"""Probes for the signal and orphan tests: they hang, and say where they are while they do.

Each writes ``<pid>.json`` into the folder named by ``DETAUDIT_TEST_MARKERS``
(a test sets it) once it runs: the worker's pid and those of the processes it
started, so that a test can wait for the probe instead of sleeping, then
check the process table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _mark(children: list[int]) -> None:
    folder = Path(os.environ["DETAUDIT_TEST_MARKERS"])
    record = {"worker": os.getpid(), "children": children}
    tmp = folder / f".{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(folder / f"{os.getpid()}.json")  # whole or absent, never half-written


def hang(device: Any) -> None:
    """Sleep (far) past any timeout a test sets."""
    _mark([])
    time.sleep(3600)


def hang_with_child(device: Any) -> None:
    """Start a child process that sleeps too, then hang: the child must not outlive the run."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    _mark([child.pid])
    time.sleep(3600)


def crash(device: Any) -> None:
    """Exit without an answer, as a fatal error in a kernel would."""
    sys.stderr.write("lifeprobes: about to exit with code 3\n")
    sys.stderr.flush()
    os._exit(3)


def hello(device: Any) -> Any:
    """Return at once (a tensor: a probe returns the tensors whose bits must repeat)."""
    import torch

    return torch.arange(3, device=device)


def working_folder(device: Any) -> Any:
    """Fail unless the worker runs in the folder the test names (the caller's)."""
    import torch

    expected = os.environ["DETAUDIT_TEST_EXPECT_CWD"]
    if os.getcwd() != expected:
        raise RuntimeError(f"the worker runs in {os.getcwd()}, not {expected}")
    return torch.arange(3, device=device)
