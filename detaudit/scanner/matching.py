"""Match dispatched aten ops to catalogue entries, and read what reports observed for them. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..catalog import Catalog, Condition
from ..model.report import Report
from ..model.vocabulary import Status
from .signatures import Signature

__all__ = ["Matcher", "Rule", "report_device", "status_in", "statuses_in", "worst_first"]

#: ``get(argument, part)`` -> (feature value, present); see :func:`detaudit.scanner.trace.feature`.
Getter = Callable[[str, str], tuple[object, bool]]


@dataclass(frozen=True, slots=True)
class Rule:
    """Entries that an op in one pass matches when every condition holds."""

    entries: tuple[str, ...]
    conditions: tuple[tuple[str, Condition], ...] = ()

    def test(self, get: Getter) -> bool:
        """Do the op's arguments, read through ``get``, meet every condition?"""
        for name, condition in self.conditions:
            argument, _, part = name.partition(".")
            value, present = get(argument, part)
            if not condition.test(value, present):
                return False
        return True


class Matcher:
    """The registry the dynamic scan consults, keyed by op (``op_key`` form) and pass.

    Entries whose signatures are equal (same op, pass and conditions: one
    probe shared by a CPU and a CUDA entry, or two APIs that reach the same
    kernel) share one :class:`Rule`.
    """

    def __init__(self, catalog: Catalog, signatures: Mapping[str, Signature]) -> None:
        self.catalog = catalog
        self.signatures = dict(signatures)
        grouped: dict[tuple[str, str, tuple], list[str]] = {}
        for entry in catalog:
            sig = signatures.get(entry.id)
            for op in sig.ops if sig is not None else ():
                grouped.setdefault((op.op, sig.pass_, op.conditions), []).append(entry.id)
        self._rules: dict[tuple[str, str], list[Rule]] = {}
        for (op, pass_, conditions), ids in grouped.items():
            self._rules.setdefault((op, pass_), []).append(Rule(tuple(ids), conditions))
        self._devices = {e.id: e.devices for e in catalog}
        self._order = {e.id: index for index, e in enumerate(catalog)}

    def rules(self, op: str, pass_: str) -> list[Rule]:
        """The rules for ``op`` (``op_key`` form) dispatched in ``pass_``."""
        return self._rules.get((op, pass_), [])

    def match(self, op: str, pass_: str, get: Getter) -> tuple[str, ...]:
        """Every entry whose rule for ``op`` in ``pass_`` holds, in catalogue order."""
        ids = {i for rule in self.rules(op, pass_) if rule.test(get) for i in rule.entries}
        return tuple(sorted(ids, key=self._order.__getitem__))

    def shown(self, entries: Sequence[str], device: str) -> str:
        """The entry to name for ``device``: the first whose condition covers it."""
        return next((e for e in entries if device in self._devices.get(e, ())), entries[0])

    def for_device(self, entries: Sequence[str], device: str) -> tuple[str, ...]:
        """The entries whose condition covers ``device`` (else the one :meth:`shown` names).

        A report audits every entry on every device, so a CPU-only entry has a
        cuda result too (``ok``): only the entries for that device say anything.
        """
        covering = tuple(e for e in entries if device in self._devices.get(e, ()))
        return covering or (self.shown(entries, device),)


def report_device(report: Report, wanted: str | None) -> str:
    """The device whose results to read: ``wanted``, else cuda when the report has it."""
    if wanted:
        return wanted
    return "cuda" if "cuda" in report.devices else (report.devices or ("cpu",))[0]


#: Statuses from worst to best for a run under deterministic mode: what stops it, what
#: runs a nondeterministic kernel, what could not be observed, then what runs cleanly.
_WORST_FIRST = (
    Status.RAISES,
    Status.WARNS,
    Status.CRASHED,
    Status.TIMEOUT,
    Status.ERROR,
    Status.CONVERTS,
    Status.OK,
    Status.SKIPPED,
)


def worst_first(status: Status | None) -> int:
    """A sort key putting the worst status first (None, not observed, last)."""
    return _WORST_FIRST.index(status) if status is not None else len(_WORST_FIRST)


def statuses_in(
    report: Report, entries: Iterable[str], device: str
) -> list[tuple[str, Status, str | None]]:
    """(entry, status, kernel) for each of ``entries`` with a result on ``device`` in ``report``."""
    wanted = tuple(entries)
    found = {r.id: r for r in report.results if r.device == device and r.id in wanted}
    return [(e, found[e].status, found[e].kernel) for e in wanted if e in found]


def status_in(
    report: Report, entries: Iterable[str], device: str, shown: Callable[..., str]
) -> tuple[str, Status | None, str | None]:
    """(entry, status, kernel) that ``report`` observed on ``device``; status None if absent."""
    entries = tuple(entries)
    entry = shown(entries, device)
    for result in report.results:
        if result.id == entry and result.device == device:
            return entry, result.status, result.kernel
    return entry, None, None
