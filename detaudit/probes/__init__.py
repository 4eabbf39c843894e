"""Built-in probe functions, one module per op family.

A probe is ``fn(device: torch.device)`` that builds its inputs on ``device``
(the runner has seeded every RNG first) and returns the tensors whose bits
must repeat: the outputs for a forward entry, the gradients for a backward
entry. A backward probe runs its backward through :func:`backward` (or inside
:func:`backward_phase`), so that the runner can also observe it with the mode
on for the backward only (:mod:`detaudit.probes._phase`). A probe may return a
tensor or a (nested) tuple, list or dict of tensors.

This package must stay importable without torch: the worker imports
:class:`ProbeSkipped` from here before it imports any probe module.
"""

from __future__ import annotations

from ._phase import backward, backward_phase

__all__ = ["ProbeSkipped", "backward", "backward_phase", "skip"]


class ProbeSkipped(Exception):
    """Raised by a probe when the op cannot run here (e.g. absent from this torch)."""


def skip(reason: str) -> None:
    """Stop the probe and record the entry as ``skipped`` with ``reason``."""
    raise ProbeSkipped(reason)
