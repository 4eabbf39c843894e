"""Compare two reports: what changes for each (entry, device) from OLD to NEW. Pure; no torch."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ReportError, UsageError
from ..model.report import Environment, ProbeResult, Report, Status
from ..model.vocabulary import STATUS_INFO
from .bits import comparable, inputs_key
from .compiled import CompiledChange, compiled_changes

__all__ = [
    "CHANGE_MEANING",
    "FAILED",
    "FAIL_ON",
    "Change",
    "ChangeKind",
    "Diff",
    "EnvironmentChange",
    "diff_reports",
    "results_by_key",
]

#: Statuses under which the op ran in deterministic mode (a training run gets past it).
RAN = frozenset(status for status, info in STATUS_INFO.items() if info.ran)

#: Statuses under which the mode is supposed to make the bits repeat: the op ran
#: with no alert. Only there is a change of repeatability news. An entry that
#: raises gets its mode-on bits from warn-only runs, where the nondeterministic
#: kernel runs and is expected to vary; one that warns ran that kernel too.
REPEATS = frozenset(status for status, info in STATUS_INFO.items() if info.repeats)

#: Statuses under which the probe could not finish: error, crashed, timeout.
FAILED = frozenset(status for status, info in STATUS_INFO.items() if info.failed)


class ChangeKind(str, enum.Enum):
    """How one (entry, device) differs between the old and the new report."""

    NEWLY_RAISES = "newly-raises"
    NEWLY_FAILS = "newly-fails"
    FIXED = "fixed"
    REPEATABILITY_LOST = "repeatability-lost"
    REPEATABILITY_GAINED = "repeatability-gained"
    BITS_DIFFER = "bits-differ"
    STATUS_CHANGED = "status-changed"
    BACKWARD_ONLY_CHANGED = "backward-only-changed"
    ONLY_OLD = "only-old"
    ONLY_NEW = "only-new"

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """``newly raises``: the kind as a heading."""
        return {
            "only-old": "only in old",
            "only-new": "only in new",
            "bits-differ": "bits differ from old",
        }.get(self.value, self.value.replace("-", " "))


CHANGE_MEANING = {
    ChangeKind.NEWLY_RAISES: "ran under deterministic mode before and raises now: "
    "a deterministic training run that uses it breaks",
    ChangeKind.NEWLY_FAILS: "audited before and could not be audited now (error, crashed or "
    "timeout): the new report says nothing about it, so an upgrade gate must not pass it",
    ChangeKind.FIXED: "raised before and runs now",
    ChangeKind.REPEATABILITY_LOST: "ran without alert, and the bits repeated across the "
    "mode-on runs before and differ now",
    ChangeKind.REPEATABILITY_GAINED: "ran without alert, and the bits differed across the "
    "mode-on runs before and repeat now",
    ChangeKind.BITS_DIFFER: "same status, bits repeated on both sides, same inputs (device type, "
    "seed, random generator draws), yet the bits differ from the old report's",
    ChangeKind.STATUS_CHANGED: "any other change of status",
    ChangeKind.BACKWARD_ONLY_CHANGED: "same status with the mode on throughout, but another "
    "status (or kernel) when only the backward runs under the mode",
    ChangeKind.ONLY_OLD: "audited in the old report only (entry or device absent from the new one)",
    ChangeKind.ONLY_NEW: "audited in the new report only (entry or device absent from the old one)",
}

#: ``--fail-on`` policies: which changes make ``detaudit diff`` exit 1.
FAIL_ON = ("newly-raises", "bits-differ", "any-change", "none")

#: The changes ``--fail-on newly-raises`` (and so ``bits-differ``) fails on: what ran
#: now raises, or what was audited could not be audited now.
_BREAKS = (ChangeKind.NEWLY_RAISES, ChangeKind.NEWLY_FAILS)

#: Environment fields that always differ between two runs, so are not compared.
_ENV_IGNORED = frozenset({"time"})


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one (entry, device); ``old`` or ``new`` is None when it is absent there."""

    kind: ChangeKind
    old: ProbeResult | None
    new: ProbeResult | None

    @property
    def result(self) -> ProbeResult:
        """The newest result there is (for id, api, device and pass)."""
        found = self.new or self.old
        assert found is not None  # a change has at least one side
        return found

    @property
    def key(self) -> tuple[str, str]:
        return self.result.id, self.result.device

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "kind": self.kind.value,
            "id": r.id,
            "api": r.api,
            "group": r.group,
            "device": r.device,
            "pass": r.pass_,
            "old": _side(self.old),
            "new": _side(self.new),
        }


def _side(result: ProbeResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    side = {
        "status": result.status.value,
        "kernel": result.kernel,
        "repeatable": result.bits_repeat,  # the diff's word for it, derived from distinct_on
        "digest": result.digest,
        "expected": result.expected,
        "drift": result.drift,
        "message": result.message,
    }
    return {**side, **_backward_only_side(result)}


def _backward_only_side(result: ProbeResult) -> dict[str, Any]:
    """A backward entry's backward-only status and kernel; nothing where it was not observed."""
    status = result.backward_only_status
    if status is None or result.backward_only is None:
        return {}
    return {
        "backward_only_status": status.value,
        "backward_only_kernel": result.backward_only.kernel,
    }


@dataclass(frozen=True, slots=True)
class EnvironmentChange:
    """One environment field that differs (``cuda``: ``12.8`` -> ``13.0``)."""

    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class Diff:
    """Everything that differs between two reports, and how many results did not change."""

    old: Report
    new: Report
    changes: tuple[Change, ...]
    environment: tuple[EnvironmentChange, ...]
    unchanged: int
    old_source: str = "old"
    new_source: str = "new"
    #: Results whose ``torch.compile`` observation changed (both reports made with ``--compile``).
    compiled: tuple[CompiledChange, ...] = ()

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        """The changes of one kind, in report order."""
        return [c for c in self.changes if c.kind is kind]

    def counts(self) -> dict[ChangeKind, int]:
        """How many changes of each kind (every kind present, zeros included)."""
        return {kind: len(self.of_kind(kind)) for kind in ChangeKind}

    def notes(self) -> list[tuple[str, str]]:
        """(``old``/``new``, sentence) for each side whose torch is newer than its catalogue's docs."""
        sides = (("old", self.old), ("new", self.new))
        return [(side, r.newer_than_docs) for side, r in sides if r.newer_than_docs]

    def fails(self, policy: str) -> bool:
        """Whether ``--fail-on policy`` makes this diff a finding (exit 1).

        ``newly-raises``: something that ran now raises, or something audited
        before could not be audited now (error, crashed, timeout: a candidate
        that could not be audited must not pass); ``bits-differ``: that, or an
        entry's bits differ from OLD's; ``any-change``: any change of a result
        (environment differences do not count); ``none``: never.
        """
        breaks = any(self.of_kind(kind) for kind in _BREAKS)
        if policy == "newly-raises":
            return breaks
        if policy == "bits-differ":
            return breaks or bool(self.of_kind(ChangeKind.BITS_DIFFER))
        if policy == "any-change":
            return bool(self.changes or self.compiled)
        if policy == "none":
            return False
        raise UsageError(f"must be one of {', '.join(FAIL_ON)}, got {policy!r}", option="fail_on")

    def failure(self, policy: str) -> str | None:
        """Why ``--fail-on policy`` makes this diff a finding, in a few words; None if it does not.

        ``2 results newly raise (--fail-on newly-raises)``.
        """
        if not self.fails(policy):
            return None
        n = len(self.of_kind(ChangeKind.NEWLY_RAISES))
        f = len(self.of_kind(ChangeKind.NEWLY_FAILS))
        fails = f", {f} could not be audited in new" if f else ""
        if policy == "newly-raises":
            found = f"{n} result{'s' * (n != 1)} newly raise{'s' * (n == 1)}{fails}"
        elif policy == "bits-differ":
            b = len(self.of_kind(ChangeKind.BITS_DIFFER))
            found = f"{n} newly raise{'s' * (n == 1)}{fails}, {b} with bits that differ from old"
        else:
            n = len({c.key for c in (*self.changes, *self.compiled)})
            found = f"{n} result{'s' * (n != 1)} changed"
        return f"{found} (--fail-on {policy})"

    def to_dict(self) -> dict[str, Any]:
        """The diff as ``detaudit diff --format json`` prints it."""
        return {
            "old": {"source": self.old_source, "environment": self.old.environment.to_dict()},
            "new": {"source": self.new_source, "environment": self.new.environment.to_dict()},
            "environment": [e.to_dict() for e in self.environment],
            "counts": {kind.value: n for kind, n in self.counts().items()},
            "unchanged": self.unchanged,
            "changes": [c.to_dict() for c in self.changes],
            # only when there is one: diffs of reports current with their catalogue keep their shape
            **({"notes": dict(self.notes())} if self.notes() else {}),
            # only with --compile on both sides, when a compiled observation changed
            **({"compiled": [c.to_dict() for c in self.compiled]} if self.compiled else {}),
        }


def results_by_key(report: Report, source: str = "report") -> dict[tuple[str, str], ProbeResult]:
    """The results of ``report`` keyed by (entry id, device); a repeated key is a ReportError."""
    keyed: dict[tuple[str, str], ProbeResult] = {}
    for result in report.results:
        key = (result.id, result.device)
        if key in keyed:
            raise ReportError(f"{source}: corrupt report (two results for {key[0]} on {key[1]})")
        keyed[key] = result
    return keyed


def _kind(old: ProbeResult, new: ProbeResult, same_inputs: bool = False) -> ChangeKind | None:
    """The change from ``old`` to ``new``, or None; status outranks repeatability, then bits.

    ``same_inputs``: both probes drew the same inputs (see :mod:`detaudit.compare.bits`).
    """
    if old.status is not new.status:
        if new.status in FAILED and old.status not in FAILED:
            return ChangeKind.NEWLY_FAILS
        if old.status in RAN and new.status is Status.RAISES:
            return ChangeKind.NEWLY_RAISES
        if old.status is Status.RAISES and new.status in RAN:
            return ChangeKind.FIXED
        return ChangeKind.STATUS_CHANGED
    if _backward_only_changed(old, new):
        return ChangeKind.BACKWARD_ONLY_CHANGED
    # Same status, other bits: the silent case. None ("not measured": one
    # sample, or it did not run) is no change, and neither is anything where
    # the mode does not promise repeating bits (see REPEATS).
    if new.status not in REPEATS:
        return None
    if old.bits_repeat is True and new.bits_repeat is False:
        return ChangeKind.REPEATABILITY_LOST
    if old.bits_repeat is False and new.bits_repeat is True:
        return ChangeKind.REPEATABILITY_GAINED
    if (
        same_inputs
        and comparable(old) is None
        and comparable(new) is None
        and old.digest != new.digest
    ):
        return ChangeKind.BITS_DIFFER
    return None


def _backward_only_changed(old: ProbeResult, new: ProbeResult) -> bool:
    """Both observed a backward entry with the mode on for the backward only, and saw otherwise.

    A report without that observation (older, or a probe that marks no
    backward) is no change: nothing was measured there.
    """
    sides = [_backward_only_side(r) for r in (old, new)]
    return all(sides) and sides[0] != sides[1]


def _environment_changes(old: Environment, new: Environment) -> tuple[EnvironmentChange, ...]:
    return tuple(
        EnvironmentChange(f.name, getattr(old, f.name), getattr(new, f.name))
        for f in fields(Environment)
        if f.name not in _ENV_IGNORED and getattr(old, f.name) != getattr(new, f.name)
    )


def diff_reports(
    old: Report, new: Report, *, old_source: str = "old", new_source: str = "new"
) -> Diff:
    """What changes for every (entry, device) present in either report, old -> new.

    Results are matched on (entry id, device); the pass is a property of the
    entry. Each pair has at most one change: a change of status, else a change
    of the backward-only observation, else a change of repeatability (whose
    bits stop repeating once it raises is no news).
    """
    before = results_by_key(old, old_source)
    after = results_by_key(new, new_source)
    changes: list[Change] = []
    unchanged = 0
    for key, result in after.items():
        previous = before.get(key)
        if previous is None:
            changes.append(Change(ChangeKind.ONLY_NEW, None, result))
            continue
        same_inputs = inputs_key(old, key[1]) is not None and inputs_key(old, key[1]) == inputs_key(
            new, key[1]
        )
        kind = _kind(previous, result, same_inputs)
        if kind is None:
            unchanged += 1
        else:
            changes.append(Change(kind, previous, result))
    changes += [Change(ChangeKind.ONLY_OLD, r, None) for k, r in before.items() if k not in after]
    order = list(ChangeKind)
    changes.sort(key=lambda c: order.index(c.kind))  # stable: report order within a kind
    return Diff(
        old=old,
        new=new,
        changes=tuple(changes),
        environment=_environment_changes(old.environment, new.environment),
        unchanged=unchanged,
        old_source=old_source,
        new_source=new_source,
        compiled=compiled_changes(before, after),
    )
