"""Mark where a probe's backward starts, so that the runner can put only the backward under the mode.

A backward entry is observed two ways (:mod:`detaudit.runner.observe`): with
the mode on throughout, as a training run that sets it at start, and with the
mode on for the backward only, the graph built with the mode off, as
PyTorch's own tests do. For the second, the runner starts the probe with the
mode off inside :func:`backward_only`; :func:`backward_phase` (and
:func:`backward`, which uses it) then switches strict mode on for the
backward and back after. Outside :func:`backward_only` both only run the
backward: the mode stays as it is.

Within :func:`backward_only`, every ``Tensor.backward``, ``torch.autograd.backward``
and ``torch.autograd.grad`` call is counted, so a probe that misuses the phase
(marks one that runs no backward, runs its backward outside every phase, marks
a phase inside another) is told so (:meth:`BackwardOnly.misuse`) instead of
observing its backward with the mode off.

Runs in probe workers: standard library and torch only, Python 3.9 syntax,
and importable without torch (``detaudit.probes`` re-exports it).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from detaudit import torchstate

__all__ = ["BackwardOnly", "backward", "backward_only", "backward_phase"]


class BackwardOnly:
    """A backward-only observation in progress: the phases the probe marked, the backwards it ran."""

    def __init__(self) -> None:
        self.marked = 0  # phases entered
        self.empty = 0  # phases that ran no backward
        self.nested = 0  # phases entered inside another
        self.outside = 0  # backward calls outside every phase
        self.inside = 0  # backward calls inside a phase
        self.depth = 0  # phases open now

    def saw_backward(self) -> None:
        """Count one backward call, inside a phase or not."""
        if self.depth:
            self.inside += 1
        else:
            self.outside += 1

    def misuse(self) -> str | None:
        """How the probe misused :func:`backward_phase`, or None (also when it marked nothing)."""
        if not self.marked:
            return None
        problems = []
        if self.empty:
            problems.append(f"{_times(self.empty, 'marked phase')} ran no backward")
        if self.outside:
            problems.append(
                f"{_times(self.outside, 'backward call')} (Tensor.backward, "
                "torch.autograd.backward or torch.autograd.grad) ran outside every marked "
                "phase, with the mode off"
            )
        if self.nested:
            problems.append(
                f"{_times(self.nested, 'phase')} marked inside another (the backward is marked "
                "twice: detaudit.probes.backward marks it already)"
            )
        if not problems:
            return None
        return (
            "the probe misuses detaudit.probes.backward_phase(): "
            + "; ".join(problems)
            + "; mark each backward once, around the backward call alone "
            "(detaudit.probes.backward(out) does), so that the backward-only run observes it"
        )


def _times(count: int, what: str) -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def _tracing() -> bool:
    """Whether torch is tracing (torch.compile's AOTAutograd calls autograd.grad in a forward)."""
    import torch

    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if is_compiling is not None and is_compiling():
        return True
    try:
        from torch.utils._python_dispatch import _get_current_dispatch_mode
    except ImportError:  # an old torch: no tracing to tell apart
        return False
    return _get_current_dispatch_mode() is not None


def _counted(marks: BackwardOnly, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not _tracing():
            marks.saw_backward()
        return original(*args, **kwargs)

    return call


#: The observation in progress (at most one: a worker runs one probe at a time).
_ACTIVE: list[BackwardOnly] = []


@contextlib.contextmanager
def backward_only() -> Iterator[BackwardOnly]:
    """For the runner: within, every :func:`backward_phase` runs under strict deterministic mode."""
    import torch.autograd

    marks = BackwardOnly()
    # Tensor.backward calls torch.autograd.backward, looked up at each call: both are counted.
    originals = {name: getattr(torch.autograd, name) for name in ("backward", "grad")}
    _ACTIVE.append(marks)
    try:
        for name, original in originals.items():
            setattr(torch.autograd, name, _counted(marks, original))
        yield marks
    finally:
        for name, original in originals.items():
            setattr(torch.autograd, name, original)
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
    marks = _ACTIVE[-1]
    marks.marked += 1
    marks.nested += bool(marks.depth)
    marks.depth += 1
    inside = marks.inside
    before = _mode()
    torchstate.set_deterministic_algorithms(True, False if before[1] is not None else None)
    try:
        yield
    finally:
        torchstate.set_deterministic_algorithms(*before)
        marks.depth -= 1
        marks.empty += marks.inside == inside


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
