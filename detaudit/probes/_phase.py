"""Mark where a probe's backward starts, so that the runner can put only the backward under the mode.

A backward entry is observed two ways (:mod:`detaudit.runner.observe`): with
the mode on throughout, as a training run that sets it at start, and with the
mode on for the backward only, the graph built with the mode off, as
PyTorch's own tests do. For the second, the runner starts the probe with the
mode off inside :func:`backward_only`; :func:`backward_phase` (and
:func:`backward`, which uses it) then switches strict mode on for the
backward and back after. Outside :func:`backward_only` both only run the
backward: the mode stays as it is.

Runs in probe workers: standard library and torch only, Python 3.9 syntax,
and importable without torch (``detaudit.probes`` re-exports it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from detaudit import torchstate

__all__ = ["BackwardOnly", "backward", "backward_only", "backward_phase"]


class BackwardOnly:
    """A backward-only observation in progress: how many backward phases the probe marked."""

    def __init__(self) -> None:
        self.marked = 0


#: The observation in progress (at most one: a worker runs one probe at a time).
_ACTIVE: list[BackwardOnly] = []


@contextlib.contextmanager
def backward_only() -> Iterator[BackwardOnly]:
    """For the runner: within, every :func:`backward_phase` runs under strict deterministic mode."""
    marks = BackwardOnly()
    _ACTIVE.append(marks)
    try:
        yield marks
    finally:
        _ACTIVE.remove(marks)


def _mode() -> tuple[bool, bool | None]:
    import torch

    warn = getattr(torch, "is_deterministic_algorithms_warn_only_enabled", None)
    return torch.are_deterministic_algorithms_enabled(), (warn() if warn else None)


@contextlib.contextmanager
def backward_phase() -> Iterator[None]:
    """Mark a probe's backward: in a backward-only observation it runs with the mode on, strict.

    The mode the probe had before is put back afterwards, also when the
    backward raises. Outside such an observation this does nothing.
    """
    if not _ACTIVE:
        yield
        return
    _ACTIVE[-1].marked += 1
    before = _mode()
    torchstate.set_deterministic_algorithms(True, False if before[1] is not None else None)
    try:
        yield
    finally:
        torchstate.set_deterministic_algorithms(*before)


def backward(out: Any) -> None:
    """Backprop a random upstream gradient through the tensor ``out``, as a marked backward phase.

    A random (not all-ones) gradient makes the order of atomic adds change the
    rounding, so a racy backward kernel shows up as different bits.
    ``sum(out * g)`` has the upstream gradient ``g``, like ``out.backward(g)``,
    but it is a scalar backward as in training: an explicit gradient tensor
    makes torch 2.x import sympy (over half a second per worker) to check its
    shape. The product and the sum are built before the phase: only the
    backward itself runs under the mode when the runner asks for it.
    """
    import torch

    loss = (out * torch.randn_like(out)).sum()
    with backward_phase():
        loss.backward()
