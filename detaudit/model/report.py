"""Report records: statuses, per-probe results, the environment, and (de)serialisation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..errors import ReportError
from .codec import decode, encode, meta, shown
from .environment import Environment
from .observation import Compiled, Cost, Observation
from .vocabulary import Pass, Status, parse_version

__all__ = [
    "SCHEMA_VERSION",
    "AlertCensus",
    "Compiled",
    "Cost",
    "Environment",
    "Observation",
    "ProbeResult",
    "Report",
    "Status",
    "migrate",
]

#: Bump on any incompatible change of the JSON report; readers refuse newer ones.
SCHEMA_VERSION = 1


def _from_mapping(cls, data: Mapping[str, Any]):
    """Build a dataclass from a mapping, ignoring unknown keys (forward compatible)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The classified result for one (entry, device).

    ``group`` and ``device`` stay strings when read back: a report made by a
    detaudit that knows more groups or devices (``mps``) still loads, and the
    table sorts unknown groups last. An audit fills ``device`` with a
    :class:`~detaudit.model.vocabulary.Device`, which equals its value.
    """

    id: str
    api: str
    group: str
    condition: str
    device: str
    pass_: Pass = field(metadata=meta(key="pass"))
    status: Status
    expected: Status | None = None
    expected_from: str | None = None
    drift: bool | None = None
    kernel: str | None = None
    message: str | None = None
    seconds: float = 0.0
    strict: Observation | None = None
    warn_only: Observation | None = None
    runs_mode_on: int = 0
    runs_mode_off: int = 0
    # How many distinct bit patterns the mode-on and mode-off runs gave (None: none ran).
    # Reports made before the counts said only whether the bits differed (``repeatable``,
    # ``varies_without_mode``): :func:`migrate` reads those as counts.
    distinct_on: int | None = None
    distinct_off: int | None = None
    # The digest of the first mode-on result: another machine's can be compared bit for bit.
    digest: str | None = None
    # Every later run that failed or behaved unlike the first of its series.
    later: tuple[Observation, ...] = ()
    stderr: str | None = None
    # only with ``audit --cost``, for entries that ran
    cost: Cost | None = field(default=None, metadata=meta(omit="none"))
    # only with ``audit --compile``
    compiled: Compiled | None = field(default=None, metadata=meta(omit="none"))
    # A backward entry's run with the mode on for the backward only (the graph built with
    # it off), and the status that run alone would give (None: it observed nothing).
    # Neither is written for a forward entry, so its results keep their shape.
    backward_only: Observation | None = field(default=None, metadata=meta(omit="none"))
    backward_only_status: Status | None = field(
        default=None, metadata=meta(omit="without:backward_only")
    )
    # For an entry that names the aten ops it means to reach (``reaches``): those the strict
    # run did not dispatch, the ops it dispatched that the first mode-off run did not, and
    # whether that mode-off run dispatched the missing ones (None: it recorded nothing).
    unreached: tuple[str, ...] = field(default=(), metadata=meta(omit="empty"))
    instead: tuple[str, ...] = field(default=(), metadata=meta(omit="empty"))
    reached_without_mode: bool | None = field(default=None, metadata=meta(omit="none"))
    # The catalogue's advice for the entry (what to do instead); None: it gives none.
    remedy: str | None = field(default=None, metadata=meta(omit="none"))

    #: The JSON keys written last, as reports have them.
    JSON_LAST: ClassVar[tuple[str, ...]] = ("pass", "backward_only", "backward_only_status")

    @property
    def decomposed(self) -> bool:
        """The strict run did not reach the entry's op, the mode-off run did: a decomposition."""
        return bool(self.unreached) and self.reached_without_mode is True

    @property
    def reach_note(self) -> str | None:
        """``decomposed under the mode: ...``, or why the entry's op was not reached; else None."""
        if not self.unreached:
            return None
        missing = ", ".join(self.unreached)
        if self.decomposed:
            shown = ", ".join(self.instead[:8]) + (", ..." if len(self.instead) > 8 else "")
            return (
                f"decomposed under the mode: {missing} did not run (it does with the mode off); "
                f"ran instead: {shown or 'nothing new'}"
            )
        off = " or off" if self.reached_without_mode is False else ""
        return f"not reached: the probe did not dispatch {missing} with the mode on{off}"

    @property
    def two_ways_differ(self) -> bool | None:
        """Whether the backward-only run saw another status (or kernel) than the strict one.

        None when there is no backward-only status to compare: a forward entry,
        a report made before it was observed, or a run that observed nothing.
        """
        if self.backward_only_status is None or self.backward_only is None:
            return None
        return (self.backward_only_status, self.backward_only.kernel) != (self.status, self.kernel)

    @property
    def bits_repeat(self) -> bool | None:
        """One bit pattern over at least two mode-on runs; None with fewer runs."""
        return self.distinct_on == 1 if self.runs_mode_on >= 2 else None

    def patterns(self, mode_on: bool = True) -> str | None:
        """``1 of 5``: distinct bit patterns over the runs with the mode on (or off); None if none."""
        runs = self.runs_mode_on if mode_on else self.runs_mode_off
        distinct = self.distinct_on if mode_on else self.distinct_off
        return None if distinct is None else f"{distinct} of {runs}"

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "result") -> ProbeResult:
        """Rebuild one; a missing field or one of the wrong type is a :class:`ReportError`."""
        return decode(cls, data, where)


@dataclass(frozen=True, slots=True)
class AlertCensus:
    """The alert census of the audited torch (``detaudit sites``): the names no result probed.

    ``names`` are the distinct alert names its libraries and Python files pass
    (``cublas`` for the cuBLAS workspace check); ``unprobed`` those that no
    result of this audit probed on the device the site is for. Not ``taken``
    (``why`` says why: the sites extra missing, ``--no-census``, a failure),
    the report says so and claims nothing about what is missing.
    """

    taken: bool
    names: tuple[str, ...] = ()
    unprobed: tuple[str, ...] = ()
    why: str = field(default="", metadata=meta(omit="empty"))

    @property
    def line(self) -> str:
        """One sentence for every report format and the terminal summary."""
        if not self.taken:
            return f"census not taken ({self.why})"
        if not self.unprobed:
            return (
                f"census: every one of the {len(self.names)} alert names of this torch was probed"
            )
        return (
            f"census: {len(self.unprobed)} of the {len(self.names)} alert names of this torch "
            f"no entry probed here: {', '.join(self.unprobed)}"
        )

    def json_extra(self) -> dict[str, Any]:
        """Derived, for readers of the JSON; ignored on loading."""
        return {"summary": self.line}

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "census") -> AlertCensus:
        return decode(cls, data, where)


@dataclass(frozen=True, slots=True)
class Report:
    """An audit of one torch installation on one machine."""

    environment: Environment
    results: tuple[ProbeResult, ...]
    devices: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    #: The newest torch docs version the catalogue has claims from (``"2.14"``); None
    #: in reports made before it was recorded, or from a catalogue without claims.
    catalog_docs_newest: str | None = field(default=None, metadata=meta(omit="none"))
    #: The alert census of the audited torch; None in reports made before it was recorded.
    census: AlertCensus | None = field(default=None, metadata=meta(omit="none"))

    #: The JSON keys written first and last, as reports have them.
    JSON_FIRST: ClassVar[tuple[str, ...]] = ("schema_version",)
    JSON_LAST: ClassVar[tuple[str, ...]] = ("counts", "results")

    def counts(self) -> dict[Status, int]:
        """How many results have each status (every status present, zeros included)."""
        counter = Counter(r.status for r in self.results)
        return {status: counter.get(status, 0) for status in Status}

    def drifts(self) -> list[ProbeResult]:
        """Results whose observed status differs from what the docs claim."""
        return [r for r in self.results if r.drift]

    @property
    def newer_than_docs(self) -> str | None:
        """The sentence saying this torch is newer than every docs version the catalogue read.

        None when it is not, or when the report does not say which docs the
        catalogue read. The docs are per minor release: 2.14.1 is not newer than 2.14.
        """
        newest = self.catalog_docs_newest
        torch, docs = _minor(self.environment.torch), _minor(newest or "")
        if newest is None or torch is None or docs is None or torch <= docs:
            return None
        return (
            f"torch {self.environment.torch} is newer than the newest docs this catalogue "
            f"has read ({newest}): drift is computed against the docs of {newest}"
        )

    @property
    def mostly_failed(self) -> str | None:
        """The sentence warning that most results failed (error, crashed, timeout); else None.

        Such a report says little about deterministic mode: a bad input or a
        broken environment, not the ops, made most results.
        """
        failed = Counter(r.status for r in self.results if r.status.info.failed)
        total = sum(failed.values())
        if not self.results or 2 * total <= len(self.results):
            return None
        kinds = ", ".join(f"{failed[st]} {st.value}" for st in Status if failed[st])
        return (
            f"{total} of {len(self.results)} results are errors ({kinds}): this audit says "
            "little about deterministic mode; see Not observed for why"
        )

    def json_extra(self) -> dict[str, Any]:
        """Derived, for readers of the JSON; ignored on loading."""
        return {"counts": {s.value: n for s, n in self.counts().items()}}

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "report") -> Report:
        """Rebuild a report; a newer schema or a bad structure is a :class:`ReportError`.

        The error is one line naming ``source`` and the field, e.g.
        ``r.json: results[3].seconds: expected a number, got "1.5"``.
        """
        if not isinstance(data, Mapping) or "schema_version" not in data:
            raise ReportError(f"{source}: not a detaudit report (no schema_version)")
        version = data["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ReportError(
                f"{source}: schema_version: expected a positive whole number, got {shown(version)}"
            )
        if version > SCHEMA_VERSION:
            raise ReportError(
                f"{source}: report schema {version} is newer than this detaudit "
                f"understands ({SCHEMA_VERSION}); upgrade detaudit"
            )
        try:
            return decode(cls, migrate(data, version))
        except ReportError as exc:
            raise ReportError(f"{source}: {exc}") from None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a check missed it
            raise ReportError(f"{source}: corrupt report ({type(exc).__name__}: {exc})") from None


#: How a report of each older schema becomes one of the next: ``MIGRATIONS[v]`` takes a
#: schema-``v`` report's data to schema ``v + 1``. None yet: schema 1 is the first.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: The result keys of older schema-1 reports that the distinct counts replaced.
LEGACY_RESULT_KEYS = ("repeatable", "varies_without_mode")


def _legacy_counts(result: Any) -> Any:
    """A result of a report made before ``distinct_on``/``distinct_off``, with them.

    Such a report said only whether the bits differed: ``repeatable`` (mode on)
    and ``varies_without_mode`` (mode off), each None with fewer than two runs.
    Equal bits are one pattern; differing bits are read as two, the fewest they
    can have been (exact with two runs, the default ``--repeat``). A result that
    has the counts keeps them; the old keys are dropped either way.
    """
    if not isinstance(result, Mapping) or not any(k in result for k in LEGACY_RESULT_KEYS):
        return result
    result = dict(result)
    repeatable = result.pop("repeatable", None)
    varies = result.pop("varies_without_mode", None)
    if "distinct_on" not in result and isinstance(repeatable, bool):
        result["distinct_on"] = 1 if repeatable else 2
    if "distinct_off" not in result and isinstance(varies, bool):
        result["distinct_off"] = 2 if varies else 1
    return result


def migrate(data: Mapping[str, Any], version: int) -> dict[str, Any]:
    """A report's data, read as schema ``version``, in the shape this detaudit reads.

    The one place older reports are read: each schema step in :data:`MIGRATIONS`,
    then the shapes schema 1 had before a field existed (no ``devices`` or
    ``settings``: none recorded) or while a field it no longer has lived
    (``repeatable``/``varies_without_mode``: :func:`_legacy_counts`). Fields added
    later (``census``, ``torch_path``...) have defaults that say "not recorded".
    """
    data = dict(data)
    for step in range(version, SCHEMA_VERSION):
        data = MIGRATIONS[step](data)
    data.setdefault("devices", [])
    data.setdefault("settings", {})
    results = data.get("results")
    if isinstance(results, list):
        data["results"] = [_legacy_counts(r) for r in results]
    data["schema_version"] = SCHEMA_VERSION  # the schema its data now has
    return data


def _minor(version: str) -> tuple[int, int] | None:
    """``"2.15.0+cpu"`` -> ``(2, 15)``; None when it is not a version."""
    try:
        return parse_version(version)
    except ValueError:
        return None
