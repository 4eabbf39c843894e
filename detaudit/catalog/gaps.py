"""The known gaps: every nondeterministic alert of a torch build, and those no entry covers.

``catalog/known_gaps.yaml`` is data beside the catalogue (not entries): ``alerts`` are the
names torch 2.14.1 passes to ``alertNotDeterministic`` (read from its binaries), ``history``
alert names of other builds (``cublas`` for the cuBLAS check of builds up to 2.9) that an
entry's ``kernels`` may still name, ``gaps`` the alerts no entry's ``kernels`` lists, each with
its reason; ``alert_not_found`` the entries whose alert is in no call site read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import CatalogError
from .load import GAPS_FILE, builtin_catalog_dir
from .records import Catalog
from .yamlfile import load_yaml

__all__ = ["Alert", "KnownGaps", "load_known_gaps", "uncovered"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert call site read in PyTorch's source; ``reason`` is set for a known gap."""

    kernel: str
    file: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class KnownGaps:
    """Every alert of the build read (``alerts``), older names (``history``), the uncovered
    alerts (``gaps``) and what was read."""

    alerts: tuple[Alert, ...]
    gaps: tuple[Alert, ...]
    read: tuple[str, ...] = ()
    alert_not_found: tuple[str, ...] = ()  # entry ids whose alert the builds read lack
    history: tuple[Alert, ...] = ()  # names of other builds, each with its reason


def _alerts(items: object, path: Path, key: str) -> tuple[Alert, ...]:
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("kernel"), str) for i in items
    ):
        raise CatalogError(f"{path}: {key} must be a list of {{kernel: NAME, file: PATH}}")
    return tuple(
        Alert(i["kernel"], str(i.get("file", "")), str(i.get("reason", ""))) for i in items
    )


def load_known_gaps(path: str | Path | None = None) -> KnownGaps:
    """Read the known-gaps file (the built-in one unless ``path``)."""
    path = Path(path) if path is not None else builtin_catalog_dir() / GAPS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the known gaps: {exc}") from None
    data = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping with alerts and gaps")
    gaps = _alerts(data.get("gaps", []), path, "gaps")
    if any(not g.reason for g in gaps):
        raise CatalogError(f"{path}: every gap needs a reason")
    history = _alerts(data.get("history", []), path, "history")
    if any(not h.reason for h in history):
        raise CatalogError(
            f"{path}: every history name needs a reason (what is known of its builds)"
        )
    not_found = data.get("alert_not_found", [])
    if not isinstance(not_found, list) or not all(
        isinstance(i, dict) and isinstance(i.get("entry"), str) and i.get("searched")
        for i in not_found
    ):
        raise CatalogError(
            f"{path}: alert_not_found must be a list of {{entry: ID, searched: TEXT}}"
        )
    return KnownGaps(
        alerts=_alerts(data.get("alerts", []), path, "alerts"),
        gaps=gaps,
        read=tuple(str(r) for r in data.get("read", [])),
        alert_not_found=tuple(i["entry"] for i in not_found),
        history=history,
    )


def uncovered(catalog: Catalog, known: KnownGaps) -> list[str]:
    """What breaks the two-way rule, one line each (empty when the catalogue and gaps agree).

    Every alert is in some entry's ``kernels`` or is a gap; no gap is in an entry's
    ``kernels``; every gap is an alert; every entry's kernel is an alert or a history
    name; no history name is an alert; an entry listed as ``alert_not_found`` exists
    and lists no kernel.
    """
    covered = {k for entry in catalog for k in entry.kernels}
    alerts = {a.kernel for a in known.alerts}
    gaps = {g.kernel for g in known.gaps}
    history = {h.kernel for h in known.history}
    problems = [
        f"alert {k!r}: no entry lists it and it is no known gap"
        for k in sorted(alerts - covered - gaps)
    ]
    problems += [
        f"gap {k!r}: entry {', '.join(e.id for e in catalog if k in e.kernels)} covers it"
        for k in sorted(gaps & covered)
    ]
    problems += [f"gap {k!r}: not among the alerts read" for k in sorted(gaps - alerts)]
    problems += [f"history {k!r}: an alert of the build read" for k in sorted(history & alerts)]
    problems += [
        f"entry {e.id}: kernel {k!r} is not among the alerts read nor their history"
        for e in catalog
        for k in e.kernels
        if k not in alerts and k not in history
    ]
    ids = {e.id for e in catalog}
    for entry_id in known.alert_not_found:
        if entry_id not in ids:
            problems.append(f"alert_not_found {entry_id!r}: no such entry")
        elif catalog.get(entry_id).kernels:
            problems.append(f"alert_not_found {entry_id!r}: the entry lists kernels")
    return problems
