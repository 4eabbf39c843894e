"""Scan records: dynamic hits with what each machine observed, static findings; (de)serialisation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ReportError
from ..model.report import _from_mapping
from ..model.vocabulary import Claim, Group, Status

__all__ = [
    "SCAN_SCHEMA",
    "Elsewhere",
    "Hit",
    "ReportRef",
    "ScanResult",
    "Skipped",
    "StaticFinding",
    "StaticResult",
]

#: Bump on an incompatible change of the scan JSON.
SCAN_SCHEMA = 1


def _plain(record: Any) -> dict[str, Any]:
    """The record's fields in order, ``pass_`` written as ``pass``."""
    return {f.name.rstrip("_"): getattr(record, f.name) for f in fields(record)}


def _build(cls, data: Mapping[str, Any]):
    """A record from its JSON form (``pass`` read as ``pass_``; unknown keys ignored)."""
    data = dict(data)
    if "pass" in data:
        data["pass_"] = data.pop("pass")
    return _from_mapping(cls, data)


def _status(value: object) -> Status | None:
    """A status read from JSON (None stays None; an unknown word is a ValueError)."""
    return None if value is None else Status(value)


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """What one report's machine observed for a hit's entry, on the device the report was read for."""

    report: int  # index into ScanResult.reports
    entry: str
    status: Status | None  # None: not in the report
    kernel: str | None = None
    # when not in the report: what the docs of the report's torch claim, and which docs
    claim: Status | None = None
    claim_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        if self.claim is None and self.claim_from is None:
            del data["claim"], data["claim_from"]  # absent, as in scans written before them
        return data


@dataclass(frozen=True, slots=True)
class Hit:
    """One catalogued op (or one op that alerted) at one place in the user's code.

    ``entry`` is None for an op that no entry matches but that raised the
    nondeterministic alert here. ``located`` says how ``file:line`` was found:
    ``call`` (the line that called the op), ``forward`` (for a backward op: the
    forward call that created it), ``backward`` (the innermost user code while
    backward ran; the forward call is unknown) or ``unknown``. ``here`` is what deterministic mode did on
    this machine: ``raises`` (the alert, naming ``kernel``), ``converts``
    (no alert, on a device the entry's condition covers) or ``ok``; None
    when the scan did not observe. ``via`` is the user's own call site
    (``file:line``) when ``file:line`` is inside an installed library, else None.
    """

    entry: str | None
    entries: tuple[str, ...]
    api: str
    group: str
    op: str
    pass_: str
    device: str
    calls: int
    file: str
    line: int
    function: str
    located: str
    here: Status | None = None
    kernel: str | None = None
    elsewhere: tuple[Elsewhere, ...] = ()
    via: str | None = None
    # What the scanned torch's docs claim for the hit on ScanResult.claim_device (a claim,
    # never an observation: a --report result for that device overrides it), which docs,
    # and whether this build has the entry's alert site (None: the census does not know).
    claim: Status | None = None
    claim_from: str | None = None
    site: bool | None = None
    remedy: str = ""  # the catalogue's advice for the entry shown

    @property
    def where(self) -> str:
        """``model.py:14``."""
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        data["entries"] = list(self.entries)
        data["elsewhere"] = [e.to_dict() for e in self.elsewhere]
        for key in ("via", "claim", "claim_from", "site"):
            if data[key] is None:
                del data[key]  # absent, as in scans written before they existed
        if not self.remedy:
            del data["remedy"]
        return data

    def observed_on(self, device: str, reports: tuple[ReportRef, ...]) -> list[Elsewhere]:
        """What the reports read for ``device`` observed for this hit (results only)."""
        return [
            e
            for e in self.elsewhere
            if e.status is not None
            and e.report < len(reports)
            and reports[e.report].device == device
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hit:
        data = dict(data)
        data["entries"] = tuple(data.get("entries", ()))
        data["elsewhere"] = tuple(
            _build(
                Elsewhere,
                {**e, "status": _status(e.get("status")), "claim": _status(e.get("claim"))},
            )
            for e in data.get("elsewhere", ())
        )
        data["here"] = _status(data.get("here"))
        data["claim"] = _status(data.get("claim"))
        return _build(cls, data)


@dataclass(frozen=True, slots=True)
class ReportRef:
    """A report the hits were looked up in: where it came from and which device was read."""

    title: str
    source: str
    device: str
    torch: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything one dynamic scan found."""

    torch: str
    devices: tuple[str, ...]
    observed: bool
    hits: tuple[Hit, ...]
    reports: tuple[ReportRef, ...] = ()
    catalog_hash: str = ""
    #: The device whose docs claim each hit carries (``--device``, default cuda); "" before.
    claim_device: str = ""
    #: Catalogue files not loaded, with why (``requires:`` missing): their ops were not matched.
    skipped: tuple[tuple[str, str], ...] = ()

    def raising_here(self) -> list[Hit]:
        """Hits that raised the alert on this machine."""
        return [h for h in self.hits if h.here == Status.RAISES]

    def raising_in(self, report: int) -> list[Hit]:
        """Hits whose entry raised on the machine of ``self.reports[report]``."""
        return [
            h
            for h in self.hits
            if any(e.report == report and e.status == Status.RAISES for e in h.elsewhere)
        ]

    def unknown_in(self, report: int) -> list[Hit]:
        """Catalogued hits that ``self.reports[report]`` has no result for."""
        return [
            h
            for h in self.hits
            if any(e.report == report and e.status is None for e in h.elsewhere)
        ]

    def raising_by_claim(self) -> list[Hit]:
        """Hits the docs claim raise on ``claim_device``, that no report observed there.

        A report's result for that device overrides the claim: observed beats claimed.
        """
        return [
            h
            for h in self.hits
            if h.claim == Status.RAISES and not h.observed_on(self.claim_device, self.reports)
        ]

    def raises_somewhere(self, hit: Hit) -> bool:
        """Does ``hit`` raise here, in a report, or (not overridden by one) per the docs?"""
        if hit.here == Status.RAISES or any(e.status == Status.RAISES for e in hit.elsewhere):
            return True
        return hit.claim == Status.RAISES and not hit.observed_on(self.claim_device, self.reports)

    def raises_anywhere(self) -> bool:
        """Did any hit raise here or in any report, or do the docs claim it raises?"""
        return any(self.raises_somewhere(h) for h in self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "detaudit-scan",
            "schema_version": SCAN_SCHEMA,
            "torch": self.torch,
            "devices": list(self.devices),
            "observed": self.observed,
            "catalog_hash": self.catalog_hash,
            "reports": [_plain(r) for r in self.reports],
            **({"claim_device": self.claim_device} if self.claim_device else {}),
            **({"skipped": [list(s) for s in self.skipped]} if self.skipped else {}),
            "hits": [h.to_dict() for h in self.hits],
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "scan") -> ScanResult:
        """Rebuild a scan result; a newer schema or a corrupt structure is a :class:`ReportError`."""
        if not isinstance(data, Mapping) or data.get("schema") != "detaudit-scan":
            raise ReportError(f"{source}: not a detaudit scan result")
        if not isinstance(data.get("schema_version"), int) or data["schema_version"] > SCAN_SCHEMA:
            raise ReportError(f"{source}: scan schema {data.get('schema_version')} is too new")
        try:
            return cls(
                torch=data["torch"],
                devices=tuple(data["devices"]),
                observed=bool(data["observed"]),
                catalog_hash=data.get("catalog_hash", ""),
                claim_device=data.get("claim_device", ""),
                skipped=tuple((str(f), str(w)) for f, w in data.get("skipped", ())),
                reports=tuple(_build(ReportRef, r) for r in data.get("reports", ())),
                hits=tuple(Hit.from_dict(h) for h in data["hits"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(
                f"{source}: corrupt scan result ({type(exc).__name__}: {exc})"
            ) from None


@dataclass(frozen=True, slots=True)
class StaticFinding:
    """A call in source code that matches catalogue entries (``col`` is 1-based).

    One finding per call: ``entries`` names every entry the call may be (when its
    arguments cannot tell, ``F.pad(x, p, mode='reflect')`` is reflection-pad 1d, 2d
    or 3d); ``entry`` is the first of them, the one ``api``, ``claim`` and
    ``condition`` describe: the first that raises, else the first in catalogue order.
    """

    file: str
    line: int
    col: int
    entry: str
    api: str
    group: str
    claim: Claim | None  # what the docs of the installed (or newest read) torch claim
    claim_from: str | None
    condition: str
    unchecked: tuple[str, ...] = ()  # call conditions whose argument is not a literal
    entries: tuple[str, ...] = ()  # every entry the call may be, ``entry`` first

    def __post_init__(self) -> None:
        if not self.entries:
            object.__setattr__(self, "entries", (self.entry,))

    @property
    def message(self) -> str:
        """The linter message: the api, the docs' claim, the condition, the other candidates."""
        others = f"; or {', '.join(self.entries[1:])}" if len(self.entries) > 1 else ""
        unknown = "".join(f"; check: {name} is not a literal" for name in self.unchecked)
        return f"{self.summary}{others}{unknown}"

    @property
    def summary(self) -> str:
        """The api and what the docs claim under the entry's condition (no other candidates).

        An ``observed`` entry is in no docstring and its condition is one backend's:
        the call's backend is chosen when it runs, so the summary says so instead.
        """
        if self.group == Group.OBSERVED:
            return (
                f"{self.api} is in no docstring: what deterministic mode does depends on "
                "the backend that runs (`detaudit audit` observes each)"
            )
        if not self.claim:  # in the catalogue, but not in the lists of this torch's docs
            basis = f"the {self.claim_from} lists" if self.claim_from else "the docs' lists"
            return f"{self.api} {self.condition}: not in {basis} (the catalogue has it from other docs)"
        basis = f" ({self.claim_from})" if self.claim_from else ""
        return f"{self.api} {Claim(self.claim).status} under deterministic mode {self.condition}{basis}"

    @property
    def raises(self) -> bool:
        """Do the docs claim it raises, with the condition met literally (nothing to check)?"""
        return self.claim == Claim.RAISES and not self.unchecked

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        data["unchecked"] = list(self.unchecked)
        data["entries"] = list(self.entries)
        data["message"] = self.message
        return data


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file the static scan could not read or parse (``line``/``col`` 1-based, 0 if unknown)."""

    file: str
    line: int
    col: int
    error: str


@dataclass(frozen=True, slots=True)
class StaticResult:
    """Everything one static scan found."""

    findings: tuple[StaticFinding, ...]
    skipped: tuple[Skipped, ...]
    files: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "detaudit-static-scan",
            "schema_version": SCAN_SCHEMA,
            "files": self.files,
            "findings": [f.to_dict() for f in self.findings],
            "skipped": [_plain(s) for s in self.skipped],
        }
