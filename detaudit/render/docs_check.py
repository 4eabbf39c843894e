"""The ``docs-check`` document: text and JSON views of ``catalog check-docs``'s comparison."""

from __future__ import annotations

import json

from ..docs.check import KINDS, DocsCheck, DocsFinding
from ..model.vocabulary import is_prerelease

__all__ = ["render_json", "render_text"]

_KIND_TITLES = {
    "missing": "listed by the docs, missing from the catalogue",
    "unlisted": "in the catalogue, no longer listed by the docs",
    "group": "group differs (no bullet of the entry's own group fits)",
    "devices": "a device the docs name that no entry of the bullet covers",
}


def _claim(value: str | None) -> str:
    return value or "not listed"


def _header(check: DocsCheck) -> list[str]:
    docs = check.docs
    items = docs.expanded()
    out = [
        (
            f"torch {check.torch_version} docstring ({check.source}): "
            f"{docs.bullets('converted')} converted, {docs.bullets('raises')} raises"
            f"{f', {len(docs.cublas)} cuBLAS' if docs.cublas else ''} bullets "
            f"({len(items)} items: each sub-bullet and each API of a bullet apart)"
        ),
        f"compared with the catalogue's claims as of {check.basis or 'no docs version'}",
    ]
    if check.basis is not None and is_prerelease(check.torch_version):
        out.append(
            f"torch {check.torch_version} is a pre-release of {check.key}: its docs are not "
            f"final, so it is compared with the release before it ({check.basis.split()[-1]})"
        )
    elif check.basis is not None and check.basis != f"docs {check.key}":
        out.append(
            f'the catalogue has no claims from docs {check.key} (claims key "{check.key}"): '
            f"it expects what docs {check.basis.split()[-1]} say"
        )
    if check.unnamed:
        apis = sorted({items[i].api for i in check.unnamed})
        out.append(
            f"{len(check.unnamed)} item(s) name no device; each is read as covering every device "
            f"this docstring names ({', '.join(check.devices)}): {', '.join(apis)}"
        )
    if check.not_compared:
        count = len(check.not_compared)
        out.append(
            f"not compared: {count} entr{'y' if count == 1 else 'ies'} "
            f"without docs claims (not from the docs): {', '.join(check.not_compared)}"
        )
    return out


def _finding(f: DocsFinding) -> list[str]:
    who = f"[{', '.join(f.entries)}] " if f.entries else ""
    if f.kind == "unlisted":
        what = f"  {who}{f.api} {f.condition or '(any call)'}"
    else:
        what = f"  {who}docs line {f.line}: {f.bullet}"
        item = f"{f.api} {f.condition}".strip()
        if item != f.bullet:
            what += f"\n    item: {item}"
    catalogue = _claim(f.catalog) if f.entries else "no entry"
    return [
        what,
        f"    devices: {', '.join(f.devices)}; docs: {_claim(f.docs)}; catalogue: {catalogue}",
        f"    fix: {f.fix}",
    ]


def render_text(check: DocsCheck) -> str:
    """A plain-text account: what was compared, then each kind of finding and its fix."""
    out = _header(check)
    for kind in KINDS:
        found = check.of_kind(kind)
        if not found:
            continue
        out += ["", f"{_KIND_TITLES[kind]} ({len(found)}):"]
        for f in found:
            out += _finding(f)
    verdict = (
        "agree: every docs item and catalogue claim match"
        if check.ok
        else f"disagree: {len(check.findings)} finding(s)"
    )
    return "\n".join([*out, "", verdict]) + "\n"


def render_json(check: DocsCheck) -> str:
    """The check as indented JSON."""
    data = {
        "torch": check.torch_version,
        "source": check.source,
        "basis": check.basis,
        "key": check.key,
        "ok": check.ok,
        "devices": list(check.devices),
        "docs": {
            "converted": [i.to_dict() for i in check.docs.converted],
            "raises": [i.to_dict() for i in check.docs.raises],
            **({"cublas": [i.to_dict() for i in check.docs.cublas]} if check.docs.cublas else {}),
        },
        "unnamed": list(check.unnamed),
        "not_compared": list(check.not_compared),
        "findings": [f.to_dict() for f in check.findings],
        "matched": dict(check.matched),
    }
    return json.dumps(data, indent=2) + "\n"
