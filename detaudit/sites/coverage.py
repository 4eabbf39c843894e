"""A census against the catalogue: each alert name covered by an entry, listed as a gap, or neither.

Pure: it takes a :class:`~detaudit.sites.census.Census`, a catalogue and the known
gaps, and returns frozen records. ``cublas`` stands for the cuBLAS workspace
check when the build holds it (the catalogue's name for that alert).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from ..catalog.gaps import KnownGaps
from ..catalog.records import Catalog
from ..model.vocabulary import DEVICES, Device
from .census import Census, Site

__all__ = ["CUBLAS", "Covered", "NameCoverage", "SitesResult", "cover"]

#: The catalogue's kernel name for the cuBLAS workspace check.
CUBLAS = "cublas"


class Covered(str, enum.Enum):
    """How the catalogue accounts for one alert name."""

    COVERED = "covered"  # an entry's kernels list it
    LISTED = "listed"  # a known gap, with its reason
    UNCOVERED = "uncovered"  # neither

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class NameCoverage:
    """One distinct alert name of the census and how the catalogue accounts for it."""

    alert: str
    devices: tuple[str, ...]  # Device words for the built-in ones
    sites: int
    state: Covered
    entries: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "alert": self.alert,
            "devices": [str(d) for d in self.devices],
            "sites": self.sites,
            "state": self.state.value,
            "entries": list(self.entries),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NameCoverage:
        """The inverse of :meth:`to_dict`."""
        return cls(
            alert=str(data["alert"]),
            devices=tuple(Device(d) if d in DEVICES else str(d) for d in data.get("devices", [])),
            sites=int(data.get("sites", 0)),
            state=Covered(data.get("state", "uncovered")),
            entries=tuple(str(e) for e in data.get("entries", [])),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class SitesResult:
    """The ``sites`` document: a census and the coverage of each of its names."""

    census: Census
    coverage: tuple[NameCoverage, ...]
    #: Names the catalogue's entries or known gaps list that this build does not raise
    #: (another version's name, or a stale one): information, not a finding.
    absent: tuple[str, ...] = ()

    def of(self, state: Covered) -> tuple[NameCoverage, ...]:
        """The names in ``state``."""
        return tuple(n for n in self.coverage if n.state is state)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "census": self.census.to_dict(),
            "coverage": [n.to_dict() for n in self.coverage],
            "absent": list(self.absent),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SitesResult:
        """The inverse of :meth:`to_dict`."""
        return cls(
            census=Census.from_dict(data.get("census", {})),
            coverage=tuple(NameCoverage.from_dict(n) for n in data.get("coverage", [])),
            absent=tuple(str(n) for n in data.get("absent", [])),
        )


def _pattern(site: Site) -> re.Pattern[str]:
    """An f-string alert (``max_unpooling{dim}d_forward_out``) as a pattern over names."""
    parts = re.split(r"\{[^}]*\}", site.alert)
    return re.compile(".+".join(re.escape(p) for p in parts))


def cover(census: Census, catalog: Catalog, known: KnownGaps) -> SitesResult:
    """How the catalogue (entries' ``kernels``) and the known gaps account for each name."""
    by_kernel: dict[str, list[str]] = {}
    for entry in catalog:
        for kernel in entry.kernels:
            by_kernel.setdefault(kernel, []).append(entry.id)
    reasons = {g.kernel: g.reason for g in known.gaps}
    grouped: dict[str, list[Site]] = {}
    for site in census.sites:
        grouped.setdefault(site.alert, []).append(site)
    if census.cublas_check:
        grouped.setdefault(CUBLAS, [])
    names = []
    matched_any: set[str] = set()
    for alert, sites in sorted(grouped.items()):
        devices = tuple(sorted({s.device for s in sites} or {Device.CUDA}, key=str))
        if sites and not all(s.literal for s in sites):
            pattern = _pattern(sites[0])
            matched = sorted(k for k in (*by_kernel, *reasons) if pattern.fullmatch(k))
        else:
            matched = [alert]
        matched_any.update(matched)
        entries = tuple(sorted({e for k in matched for e in by_kernel.get(k, [])}))
        reason = next((reasons[k] for k in matched if k in reasons), "")
        state = Covered.COVERED if entries else Covered.LISTED if reason else Covered.UNCOVERED
        names.append(NameCoverage(alert, devices, len(sites), state, entries, reason))
    absent = (set(by_kernel) | set(reasons)) - matched_any
    return SitesResult(census, tuple(names), tuple(sorted(absent)))
