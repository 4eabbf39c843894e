"""Where ``torch.compile`` differs from eager (``audit --compile``), and how that changes. Pure.

One result's difference (:func:`divergence`) compares its eager status with its
compiled observation; a diff of two reports (:func:`compiled_changes`) lists
the results whose difference changed. No torch.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model.report import ProbeResult, Status
from ..model.vocabulary import STATUS_INFO

__all__ = [
    "DIVERGENCE_MEANING",
    "CompiledChange",
    "Divergence",
    "compiled_changes",
    "compiled_state",
    "divergence",
]

#: Statuses under which the eager op ran with no alert and the mode promises repeating bits.
_REPEATS = frozenset(status for status, info in STATUS_INFO.items() if info.repeats)


class Divergence(str, enum.Enum):
    """How the compiled observation of one result differs from its eager status."""

    NOT_REPEATABLE = "not-repeatable-compiled"
    REPEATABLE = "repeatable-only-compiled"
    NO_ALERT = "no-alert-compiled"
    ALERT = "alert-only-compiled"
    COMPILE_ERROR = "compile-error"
    ERROR = "error-only-compiled"

    def __str__(self) -> str:
        return self.value


DIVERGENCE_MEANING = {
    Divergence.NOT_REPEATABLE: "eager ran without alert and its bits repeated; compiled, "
    "the bits differ between runs",
    Divergence.REPEATABLE: "eager ran without alert and its bits differed; compiled, they repeat",
    Divergence.NO_ALERT: "eager raises the nondeterministic alert; compiled runs without it",
    Divergence.ALERT: "eager ran without alert; compiled raises the nondeterministic alert",
    Divergence.COMPILE_ERROR: "torch.compile failed (dynamo, AOTAutograd or Inductor raised)",
    Divergence.ERROR: "eager ran; compiled raised another error",
}


def divergence(result: ProbeResult) -> Divergence | None:
    """How ``result``'s compiled observation differs from eager; None if alike or not compiled.

    Nothing is inferred where nothing was observed: an eager result that did
    not run (skipped, crashed, timeout) or a compiled one with fewer than two
    runs says nothing about repeatability.
    """
    compiled = result.compiled
    if compiled is None or not result.status.observed:
        return None
    if compiled.outcome == "error":
        if compiled.reason == "compile-error":
            return Divergence.COMPILE_ERROR
        return None if result.status is Status.ERROR else Divergence.ERROR
    eager_raises = result.status is Status.RAISES
    if eager_raises and compiled.outcome == "ran" and not compiled.kernel:
        return Divergence.NO_ALERT
    if not eager_raises and result.status is not Status.ERROR and compiled.outcome == "alert":
        return Divergence.ALERT
    if result.status in _REPEATS and compiled.outcome == "ran" and not compiled.kernel:
        if result.bits_repeat is True and compiled.bits_repeat is False:
            return Divergence.NOT_REPEATABLE
        if result.bits_repeat is False and compiled.bits_repeat is True:
            return Divergence.REPEATABLE
    return None


def compiled_state(result: ProbeResult) -> str:
    """``ran, 1 of 5``, ``alert (put_)``, ``compile-error``: the compiled observation in brief."""
    compiled = result.compiled
    if compiled is None:
        return "not compiled"
    if compiled.outcome == "alert":
        return f"alert ({compiled.kernel})"
    if compiled.outcome == "error":
        return compiled.reason or "error"
    if compiled.outcome == "ran":
        return f"ran, {compiled.patterns()}" if compiled.patterns() else "ran"
    return compiled.outcome


@dataclass(frozen=True, slots=True)
class CompiledChange:
    """One (entry, device) whose compiled observation changed between two reports."""

    old: ProbeResult
    new: ProbeResult

    @property
    def key(self) -> tuple[str, str]:
        return self.new.id, self.new.device

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.new.id,
            "device": self.new.device,
            "old": _side(self.old),
            "new": _side(self.new),
        }


def _side(result: ProbeResult) -> dict[str, Any]:
    compiled = result.compiled
    found = divergence(result)
    return {
        "compiled": compiled_state(result),
        "repeatable": compiled.bits_repeat if compiled else None,  # the diff's word for it
        "divergence": found.value if found else None,
    }


def _signature(result: ProbeResult) -> tuple[Any, ...] | None:
    compiled = result.compiled
    if compiled is None:
        return None
    return compiled.outcome, compiled.kernel, compiled.reason, compiled.bits_repeat


def compiled_changes(
    before: Mapping[tuple[str, str], ProbeResult], after: Mapping[tuple[str, str], ProbeResult]
) -> tuple[CompiledChange, ...]:
    """The results in both whose compiled outcome, kernel, error kind or repeatability changed.

    Only where both reports have a compiled observation: a report made without
    ``--compile`` says nothing about compiled code.
    """
    changes = []
    for key, new in after.items():
        old = before.get(key)
        if old is None or old.compiled is None or new.compiled is None:
            continue
        if _signature(old) != _signature(new):
            changes.append(CompiledChange(old, new))
    return tuple(changes)
