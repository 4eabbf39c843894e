"""The ``docs-check`` document: text and JSON views of ``catalog check-docs``'s comparison."""

from __future__ import annotations

import json

from ..docs.check import KINDS, DocsCheck

__all__ = ["render_json", "render_text"]

_KIND_TITLES = {
    "missing": "listed by the docs, missing from the catalogue",
    "unlisted": "in the catalogue, no longer listed by the docs",
    "group": "group differs",
}


def _claim(value: str | None) -> str:
    return value or "not listed"


def render_text(check: DocsCheck) -> str:
    """A plain-text account: what was compared, then each kind of finding."""
    docs = check.docs
    out = [
        (
            f"torch {check.torch_version} docstring ({check.source}): "
            f"{len(docs.converted)} converted, {len(docs.raises)} raises "
            f"({len(docs.expanded())} items with sub-bullets)"
        ),
        f"compared with the catalogue's claims as of {check.basis or 'no docs version'}",
    ]
    for kind in KINDS:
        found = check.of_kind(kind)
        if not found:
            continue
        out += ["", f"{_KIND_TITLES[kind]} ({len(found)}):"]
        for f in found:
            who = f" [{', '.join(f.entries)}]" if f.entries else ""
            out.append(
                f"  {f.api} {f.condition or '(any call)'}: "
                f"docs {_claim(f.docs)}, catalogue {_claim(f.catalog)}{who}"
            )
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
        "ok": check.ok,
        "docs": {
            "converted": [i.to_dict() for i in check.docs.converted],
            "raises": [i.to_dict() for i in check.docs.raises],
        },
        "findings": [f.to_dict() for f in check.findings],
        "matched": dict(check.matched),
    }
    return json.dumps(data, indent=2) + "\n"
