"""Compare a torch docstring's two lists with the catalogue's claims for that release. Pure.

Each catalogue entry is matched to the docs item it stands for, from data only:
the same API, a device the item's condition covers (``entry.devices`` against
the CPU/CUDA/MPS words of the condition; a condition naming none covers every
device the docstring names), and, where the docs list the API more than once
in a list, the item whose condition shares the most words with the entry's.
An entry looks in the list of the group it claims for the release first, and
in the other list only when no item of its own group fits: a group change is
reported only then. One docs item may stand for several entries (the catalogue
splits ``scatter_add_`` by input dimension, and interpolate by mode); the
docstring's sub-bullets, and each API of a bullet naming several, are items of
their own. Entries without any claims (not from the docs) are not compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, Entry, parse_version
from ..model.vocabulary import DEVICES, docs_label, docs_release
from .docstring import DocItem, DocLists, plain

__all__ = ["DocsCheck", "DocsFinding", "check_docs", "devices_named"]

#: Least word overlap (Jaccard) for an entry to stand for one of several items of its API.
MIN_SIMILARITY = 0.5
KINDS = ("missing", "unlisted", "group", "devices")
# reduce='sum', accumulate=True, reduce='prod'\'mean' (2.15's wording for prod or mean)
_ARGUMENT = re.compile(r"(\w+)\s*=\s*((?:\\?'[^']*'|[\w.]+)+)")


@dataclass(frozen=True, slots=True)
class DocsFinding:
    """One disagreement between the docs and the catalogue, and what to change."""

    kind: str  # missing | unlisted | group | devices
    api: str
    condition: str  # the docs' wording (the catalogue's for ``unlisted``)
    docs: str | None  # the docs' group, None when the docs do not list it
    catalog: str | None  # the catalogue's claim, None when it has none
    entries: tuple[str, ...] = ()  # the catalogue entries concerned
    bullet: str = ""  # the docs bullet in plain text ("" for ``unlisted``)
    line: int = 0  # the bullet's line in the docstring text
    devices: tuple[str, ...] = ()  # the devices the docs item covers (the entry's: unlisted)
    fix: str = ""  # what to change in the catalogue

    def to_dict(self) -> dict[str, object]:
        """The finding as JSON."""
        return {
            "kind": self.kind,
            "api": self.api,
            "condition": self.condition,
            "docs": self.docs,
            "catalog": self.catalog,
            "entries": list(self.entries),
            "bullet": self.bullet,
            "line": self.line,
            "devices": list(self.devices),
            "fix": self.fix,
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
    key: str = ""  # the claims key of this release: "2.14" for torch 2.14.1
    devices: tuple[str, ...] = ()  # every device the docstring names
    unnamed: tuple[int, ...] = ()  # docs items whose condition names no device
    not_compared: tuple[str, ...] = ()  # entries without claims (not from the docs)

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


def devices_named(condition: str) -> tuple[str, ...]:
    """The devices a docs condition names ("CUDA or MPS": both), in vocabulary order."""
    words = _words(condition)
    return tuple(d for d in DEVICES if d in words)


def _arguments(condition: str) -> dict[str, set[str]]:
    """The argument values a condition names: ``reduce='sum' or reduce='mean'``: sum and mean."""
    named: dict[str, set[str]] = {}
    for name, values in _ARGUMENT.findall(plain(condition)):
        named.setdefault(name.lower(), set()).update(re.findall(r"[\w.]+", values.lower()))
    return named


def _contradicts(entry: Entry, item: DocItem) -> bool:
    """Do the entry and the item name different values for one argument (prod against sum)?"""
    mine, theirs = _arguments(entry.condition), _arguments(item.condition)
    return any(not (mine[name] & theirs[name]) for name in mine.keys() & theirs.keys())


def _match(
    entry: Entry, claim: str | None, items: tuple[DocItem, ...], cover: list[tuple[str, ...]]
) -> int | None:
    """The index of the docs item ``entry`` stands for, or None.

    An item fits when it names the entry's API, covers one of its devices and
    names no argument value the entry contradicts. Among the fitting items,
    those of the list the entry claims come first, unless the other list has
    one whose wording is strictly closer to the entry's (1.11 lists scatter_add_
    in both lists, split by input dimension).
    """
    fit = [
        i
        for i, item in enumerate(items)
        if item.api == entry.api
        and set(cover[i]) & set(entry.devices)
        and not _contradicts(entry, item)
    ]
    if not fit:
        return None

    def score(i: int) -> float:
        return _similarity(entry.condition, items[i].condition)

    pool = fit
    if claim is not None:
        own = [i for i in fit if items[i].group == claim]
        other = [i for i in fit if items[i].group != claim]
        closer = other and (not own or max(map(score, other)) > max(map(score, own)))
        pool = other if closer else own
    if len(pool) == 1:
        return pool[0]  # one fitting item: reworded, merged or split
    best = max(pool, key=score)
    return best if score(best) >= MIN_SIMILARITY else None


def _basis(catalog: Catalog, torch_version: str) -> str | None:
    wanted = docs_release(torch_version)  # a pre-release reads the release before it
    sampled = [v for v in catalog.docs_versions if parse_version(v) <= wanted]
    return docs_label(torch_version, max(sampled, key=parse_version)) if sampled else None


def _ids(ids) -> str:
    return ", ".join(ids)


def check_docs(catalog: Catalog, docs: DocLists, torch_version: str, source: str) -> DocsCheck:
    """Compare ``docs`` (the docstring of ``torch_version``) with the catalogue's claims.

    Findings: docs items that no entry claiming something for this release
    stands for (``missing``); entries claiming a group for this release that
    no docs item stands for (``unlisted``); entries whose claim is not the
    group of the item they stand for, where no item of their own group fits
    (``group``); and items naming a device that none of their entries covers
    (``devices``). Each finding says what to change.
    """
    items = docs.expanded()
    major, minor = parse_version(torch_version)
    key = f"{major}.{minor}"
    named = [devices_named(item.condition) for item in items]
    talked = tuple(d for d in DEVICES if any(d in n for n in named)) or ("cpu", "cuda")
    cover = [n or talked for n in named]
    compared = [e for e in catalog if e.claims]
    claims = {e.id: e.claim_for(torch_version, catalog.docs_versions) for e in compared}
    matched = {e.id: _match(e, claims[e.id][0], items, cover) for e in compared}
    basis = _basis(catalog, torch_version)
    findings: list[DocsFinding] = []

    for index, item in enumerate(items):
        here = [e for e in compared if matched[e.id] == index]
        claimed = [e for e in here if claims[e.id][0] is not None]
        where: dict[str, Any] = {"bullet": item.bullet, "line": item.line, "devices": cover[index]}
        if not claimed:
            unclaimed = tuple(e.id for e in here)
            fix = (
                f'add "{key}": {item.group} to the claims of {_ids(unclaimed)}'
                if unclaimed
                else f"add an entry for {item.api} on {', '.join(cover[index])} with "
                f'claims {{"{key}": {item.group}}} and a probe'
            )
            findings.append(
                DocsFinding(
                    "missing",
                    item.api,
                    item.condition,
                    item.group,
                    None,
                    unclaimed,
                    **where,
                    fix=fix,
                )
            )
            continue
        differ = [e for e in claimed if claims[e.id][0] != item.group]
        for claim in sorted({claims[e.id][0] for e in differ}):
            ids = tuple(e.id for e in differ if claims[e.id][0] == claim)
            fix = f'set "{key}": {item.group} in the claims of {_ids(ids)}'
            findings.append(
                DocsFinding(
                    "group", item.api, item.condition, item.group, claim, ids, **where, fix=fix
                )
            )
        lacking = [d for d in named[index] if not any(d in e.devices for e in claimed)]
        if lacking:
            ids = tuple(e.id for e in claimed)
            fix = (
                f"add an entry for {item.api} on {', '.join(lacking)} with claims "
                f'{{"{key}": {item.group}}} and a probe (the entries here cover '
                f"{', '.join(sorted({d for e in claimed for d in e.devices}))})"
            )
            findings.append(
                DocsFinding(
                    "devices", item.api, item.condition, item.group, None, ids, **where, fix=fix
                )
            )

    for entry in compared:
        claim, entry_basis = claims[entry.id]
        if matched[entry.id] is not None or claim is None:
            continue
        if entry_basis == f"docs {key}":
            fix = f'remove "{key}" from the claims of {entry.id}'
        else:
            fix = (
                f'record docs {key} in the catalogue: a "{key}" claim on each entry these docs '
                f"list, none on {entry.id}"
            )
        fix += " (or, if a bullet stands for it, give it that bullet's API, devices or wording)"
        findings.append(
            DocsFinding(
                "unlisted",
                entry.api,
                entry.condition,
                None,
                claim,
                (entry.id,),
                devices=tuple(str(d) for d in entry.devices),
                fix=fix,
            )
        )
    return DocsCheck(
        torch_version=torch_version,
        source=source,
        basis=basis,
        docs=docs,
        findings=tuple(sorted(findings, key=lambda f: KINDS.index(f.kind))),
        matched=tuple(
            (i, m) for i, m in matched.items() if m is not None and claims[i][0] is not None
        ),
        key=key,
        devices=talked,
        unnamed=tuple(i for i, n in enumerate(named) if not n),
        not_compared=tuple(e.id for e in catalog if not e.claims),
    )
