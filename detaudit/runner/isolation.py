"""Every probe starts from the same process state: snapshot it, restore it, say what changed.

A worker runs many probes one after another. Whatever one probe changes in
the process (torch's global flags, thread counts, the default device, anomaly
mode, the working directory, environment variables) would otherwise reach
every later probe: ``torch.set_default_device('meta')`` made every later probe
an ``error``. The run handler snapshots before each run and restores after
it; what cannot be restored (the inter-op thread count can be set only once
per process) makes the worker retire after its answer.

Runs in probe workers: standard library and torch only, Python 3.9 syntax.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from detaudit import torchstate

__all__ = ["Unrestorable", "restore", "snapshot"]


class Unrestorable(Exception):
    """The probe changed something this process cannot put back; the worker must retire."""


def _default_device() -> str | None:
    import torch

    get = getattr(torch, "get_default_device", None)
    return str(get()) if get is not None else None


def _set_default_device(device: str | None) -> None:
    import torch

    # None drops the device context that set_default_device installed; "cpu" is the default.
    torch.set_default_device(None if device in (None, "cpu") else device)


def _anomaly() -> tuple[bool, bool]:
    import torch

    check_nan = getattr(torch, "is_anomaly_check_nan_enabled", lambda: True)
    return torch.is_anomaly_enabled(), check_nan()


def _set_anomaly(value: tuple[bool, bool]) -> None:
    import torch

    try:
        torch.set_anomaly_enabled(value[0], value[1])
    except TypeError:  # torch before 2.0 has no check_nan argument
        torch.set_anomaly_enabled(value[0])


def _matmul_precision() -> str | None:
    import torch

    get = getattr(torch, "get_float32_matmul_precision", None)
    return get() if get is not None else None


def _set_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def snapshot() -> dict[str, Any]:
    """The process state a probe may change, keyed by a name that messages use."""
    import torch

    return {
        "torch flags": torchstate.snapshot(),
        "torch.get_num_threads()": torch.get_num_threads(),
        "torch.get_num_interop_threads()": torch.get_num_interop_threads(),
        "default device": _default_device(),
        "anomaly mode": _anomaly(),
        "float32 matmul precision": _matmul_precision(),
        "working directory": os.getcwd(),
        "environment variables": dict(os.environ),
    }


def restore(saved: dict[str, Any], started: dict[str, Any] | None = None) -> list[str]:
    """Put back every part of ``saved`` that differs now.

    Returns the names of the parts that differ from ``started`` (the state the
    probe started from, after the runner set its mode; ``saved`` if None): what
    the probe changed. Raises :class:`Unrestorable` (after restoring the rest)
    when a part cannot be put back in this process.
    """
    import torch

    now = snapshot()
    started = saved if started is None else started
    changed = [name for name, value in started.items() if now[name] != value]
    problems = []
    for name in [name for name, value in saved.items() if now[name] != value]:
        value = saved[name]
        if name == "torch flags":
            torchstate.restore(value)
        elif name == "torch.get_num_threads()":
            torch.set_num_threads(value)
        elif name == "default device":
            _set_default_device(value)
        elif name == "anomaly mode":
            _set_anomaly(value)
        elif name == "float32 matmul precision":
            torch.set_float32_matmul_precision(value)
        elif name == "working directory":
            try:
                os.chdir(value)
            except OSError as exc:
                problems.append(f"the working directory {value} ({exc.strerror})")
        elif name == "environment variables":
            _set_environ(value)
        else:  # the inter-op thread count: torch allows setting it once per process
            problems.append(name)
    if problems:
        raise Unrestorable(", ".join(problems))
    return changed


def set_env(env: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (a string) or unset (None) each variable; return the values now in effect.

    The caller snapshots first: :func:`restore` puts the previous values back.
    """
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return {name: os.environ.get(name) for name in env}
