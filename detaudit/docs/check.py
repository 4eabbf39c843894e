"""Compare a torch docstring's two lists with the catalogue's claims for that release. Pure.

Each catalogue entry is matched to the docs item it stands for, from data only:
the same API, a device the item's condition covers (``entry.devices`` against
the CPU/CUDA words of the condition), and, where the docs list the API more
than once, the item whose condition shares the most words with the entry's.
One docs item may stand for several entries (the catalogue splits
``scatter_add_`` by input dimension, and interpolate by mode), and the
docstring's sub-bullets are items of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..catalog import Catalog, Entry, parse_version
from ..model.vocabulary import Group
from .docstring import DocItem, DocLists, plain

__all__ = ["DocsCheck", "DocsFinding", "check_docs"]

#: Least word overlap (Jaccard) for an entry to stand for one of several items of its API.
MIN_SIMILARITY = 0.5
KINDS = ("missing", "unlisted", "group")


@dataclass(frozen=True, slots=True)
class DocsFinding:
    """One disagreement between the docs and the catalogue."""

    kind: str  # missing | unlisted | group
    api: str
    condition: str  # the docs' wording (the catalogue's for ``unlisted``)
    docs: str | None  # the docs' group, None when the docs do not list it
    catalog: str | None  # the catalogue's claim, None when it has none
    entries: tuple[str, ...] = ()  # the catalogue entries concerned

    def to_dict(self) -> dict[str, object]:
        """The finding as JSON."""
        return {
            "kind": self.kind,
            "api": self.api,
            "condition": self.condition,
            "docs": self.docs,
            "catalog": self.catalog,
            "entries": list(self.entries),
        }


@dataclass(frozen=True, slots=True)
class DocsCheck:
    """The outcome of comparing one docstring with the catalogue."""

    torch_version: str
    source: str
    basis: str | None  # "docs 2.13": the catalogue's claims compared; None if none apply
    docs: DocLists
    findings: tuple[DocsFinding, ...]
    matched: tuple[tuple[str, int], ...] = field(default=())  # (entry id, docs item index)

    @property
    def ok(self) -> bool:
        """True when the docs and the catalogue agree."""
        return not self.findings

    def of_kind(self, kind: str) -> list[DocsFinding]:
        """The findings of one kind, in docs (or catalogue) order."""
        return [f for f in self.findings if f.kind == kind]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", plain(text).lower()))


def _similarity(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def _devices(condition: str) -> set[str]:
    """The devices a docs condition covers: its CPU/CUDA/MPS words, or CPU and CUDA when none."""
    named = _words(condition) & {"cpu", "cuda", "mps"}
    return named or {"cpu", "cuda"}


def _match(entry: Entry, items: tuple[DocItem, ...]) -> int | None:
    """The index of the docs item ``entry`` stands for, or None."""
    same_api = [i for i, item in enumerate(items) if item.api == entry.api]
    candidates = [i for i in same_api if _devices(items[i].condition) & set(entry.devices)]
    if not candidates:
        return None
    if len(same_api) == 1:
        return candidates[0]  # the docs list the API once: reworded, merged or split
    best = max(candidates, key=lambda i: _similarity(entry.condition, items[i].condition))
    return best if _similarity(entry.condition, items[best].condition) >= MIN_SIMILARITY else None


def _basis(catalog: Catalog, torch_version: str) -> str | None:
    wanted = parse_version(torch_version)
    sampled = [v for v in catalog.docs_versions if parse_version(v) <= wanted]
    return f"docs {max(sampled, key=parse_version)}" if sampled else None


def check_docs(catalog: Catalog, docs: DocLists, torch_version: str, source: str) -> DocsCheck:
    """Compare ``docs`` (the docstring of ``torch_version``) with the catalogue's claims.

    Findings: docs items no entry stands for, or whose entries claim nothing
    for this release (``missing``); entries claiming a group for this release
    that no docs item stands for (``unlisted``); and entries whose claim is
    not the docs item's group (``group``). ``observed`` entries are left out.
    """
    items = docs.expanded()
    # Observed entries are in no docstring and claim nothing: there is nothing to compare.
    listed = [e for e in catalog if e.group is not Group.OBSERVED]
    matched: dict[str, int | None] = {e.id: _match(e, items) for e in listed}
    findings: list[DocsFinding] = []
    for index, item in enumerate(items):
        entries = [e for e in listed if matched[e.id] == index]
        claims = {e.id: e.claim_for(torch_version, catalog.docs_versions)[0] for e in entries}
        unclaimed = tuple(i for i, claim in claims.items() if claim is None)
        if not entries or unclaimed:
            findings.append(
                DocsFinding("missing", item.api, item.condition, item.group, None, unclaimed)
            )
        differ = tuple(i for i, claim in claims.items() if claim not in (None, item.group))
        for claim in sorted({claims[i] for i in differ}):
            ids = tuple(i for i in differ if claims[i] == claim)
            findings.append(DocsFinding("group", item.api, item.condition, item.group, claim, ids))
    for entry in listed:
        claim = entry.claim_for(torch_version, catalog.docs_versions)[0]
        if matched[entry.id] is None and claim is not None:
            findings.append(
                DocsFinding("unlisted", entry.api, entry.condition, None, claim, (entry.id,))
            )
    return DocsCheck(
        torch_version=torch_version,
        source=source,
        basis=_basis(catalog, torch_version),
        docs=docs,
        findings=tuple(sorted(findings, key=lambda f: KINDS.index(f.kind))),
        matched=tuple((i, m) for i, m in matched.items() if m is not None),
    )
