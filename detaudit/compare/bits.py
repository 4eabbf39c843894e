"""Bit identity across reports: which columns gave an entry the same mode-on bits. Pure; no torch.

Two results are compared only when both are *comparable* (they ran with no alert
and their bits repeated over the mode-on runs) and their probes had the same inputs: the same
device type, the same seed and the same random-generator canary (the
:class:`~detaudit.model.environment.Environment` field the device's registry entry
names, :attr:`~detaudit.devices.DeviceInfo.canary_field`: ``rng_cpu``, ``rng_cuda``). CPU and
CUDA generators draw different numbers from one seed, so a ``cpu`` result is
never compared with a ``cuda`` one.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Sequence
from dataclasses import dataclass

from .. import devices as registry
from ..model.report import ProbeResult, Report
from ..model.vocabulary import STATUS_INFO

__all__ = [
    "NOT_COMPARED_MEANING",
    "VERDICT_MEANING",
    "BitMark",
    "NotCompared",
    "Verdict",
    "comparable",
    "inputs_key",
    "mark_row",
    "verdict",
]


class NotCompared(str, enum.Enum):
    """Why one result's bits were not compared with the others of its row."""

    VARIES = "varies"
    ONE_SAMPLE = "one-sample"
    NO_BITS = "no-bits"
    ALERT = "alert"
    INPUTS_UNKNOWN = "inputs-unknown"
    ALONE = "alone"

    def __str__(self) -> str:
        return self.value


NOT_COMPARED_MEANING = {
    NotCompared.VARIES: "not comparable: its bits vary run to run under the mode",
    NotCompared.ONE_SAMPLE: "not comparable: one mode-on run, so whether its bits repeat is unknown",
    NotCompared.NO_BITS: "no bits to compare: no mode-on run finished",
    NotCompared.ALERT: "not compared: it raised or warned under the mode, so its mode-on bits "
    "come from the nondeterministic kernel run in warn-only mode",
    NotCompared.INPUTS_UNKNOWN: "not compared: the report does not record its random generator's "
    "draws (made by an older detaudit), so its inputs may differ",
    NotCompared.ALONE: "nothing to compare with: no other column of this device type had "
    "comparable bits from the same inputs",
}


class Verdict(str, enum.Enum):
    """What one row says about bit identity across the columns."""

    IDENTICAL = "identical"
    PARTIAL = "identical-where-compared"
    DIFFER = "differ"
    NOT_COMPARED = "not-compared"

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """``identical where compared``: the verdict as words."""
        return self.value.replace("-", " ")


VERDICT_MEANING = {
    Verdict.IDENTICAL: "every column gave the same bits as every other column of its device type",
    Verdict.PARTIAL: "the columns compared gave the same bits; some could not be compared",
    Verdict.DIFFER: "two columns of one device type, same inputs, gave different bits",
    Verdict.NOT_COMPARED: "no two columns could be compared",
}


@dataclass(frozen=True, slots=True)
class BitMark:
    """One cell's place in its row: a group letter (same letter, same bits) or why it has none."""

    group: str | None = None
    reason: NotCompared | None = None
    #: True when every other compared cell of its inputs gave the same bits (None: not compared).
    same: bool | None = None

    @property
    def text(self) -> str:
        """``A``, or the reason's word."""
        return self.group or str(self.reason)


def inputs_key(report: Report, device: str) -> tuple[str, object, str] | None:
    """What must be equal for two columns' probes to have had the same inputs; None if unknown."""
    info = registry.find(str(device))
    where = info.canary_field if info is not None else None
    canary = getattr(report.environment, where, None) if where else None
    if canary is None:
        return None
    return (str(device), report.settings.get("seed"), canary)


def comparable(result: ProbeResult) -> NotCompared | None:
    """None when ``result``'s digest stands for its bits; else why it does not."""
    if result.digest is None:
        return NotCompared.NO_BITS
    if not STATUS_INFO[result.status].repeats:
        return NotCompared.ALERT
    if result.bits_repeat is False:
        return NotCompared.VARIES
    if result.bits_repeat is None:
        return NotCompared.ONE_SAMPLE
    return None


def mark_row(
    keys: Sequence[tuple[str, object, str] | None], cells: Sequence[ProbeResult | None]
) -> tuple[BitMark | None, ...]:
    """The marks of one row: ``keys[i]`` is column i's :func:`inputs_key`, ``cells[i]`` its result.

    Letters are handed out in column order, unique within the row: two cells
    with one letter had the same inputs and gave the same bits; cells of
    different inputs never share a letter.
    """
    reasons: list[NotCompared | None] = [None] * len(cells)
    classes: dict[tuple[str, object, str], list[int]] = {}
    for i, (key, cell) in enumerate(zip(keys, cells)):
        if cell is None:
            continue
        reasons[i] = comparable(cell) or (NotCompared.INPUTS_UNKNOWN if key is None else None)
        if reasons[i] is None:
            classes.setdefault(key, []).append(i)  # type: ignore[arg-type]
    letters: dict[int, str] = {}
    same: dict[int, bool] = {}
    names = iter(string.ascii_uppercase)
    for members in sorted(classes.values()):
        if len(members) < 2:
            reasons[members[0]] = NotCompared.ALONE
            continue
        by_digest: dict[str | None, str] = {}
        for i in members:
            digest = cells[i].digest  # type: ignore[union-attr]
            if digest not in by_digest:
                by_digest[digest] = next(names, "?")
            letters[i] = by_digest[digest]
        same.update((i, len(by_digest) == 1) for i in members)
    return tuple(
        None if cell is None else BitMark(letters.get(i), reasons[i], same.get(i))
        for i, cell in enumerate(cells)
    )


def verdict(marks: Sequence[BitMark | None]) -> Verdict:
    """The row's verdict from its marks (an absent cell counts as not compared)."""
    compared = [m for m in marks if m is not None and m.group]
    if not compared:
        return Verdict.NOT_COMPARED
    if any(not m.same for m in compared):
        return Verdict.DIFFER
    if len(compared) == len(marks):
        return Verdict.IDENTICAL
    return Verdict.PARTIAL
