"""The ``signatures`` document: how the dynamic scan recognises each entry (``scan --signatures``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..catalog import Entry
from ..scanner.signatures import Signature
from .columns import columns

__all__ = ["Signatures", "render_text"]


#: The document's input: each catalogue entry, in catalogue order, with its signature (or None).
Signatures = Sequence[tuple[Entry, Signature | None]]


def render_text(signatures: Signatures) -> str:
    """Each entry's aten ops and conditions, and where they came from: one row an entry."""
    rows = [["entry", "pass", "aten op [conditions]", "op found by", "conditions from"]]
    for entry, sig in signatures:
        if sig is None or not sig.ops:
            why = sig.problem if sig is not None else "no signature"
            rows.append([entry.id, entry.pass_, f"(not matched: {why})", "", ""])
            continue
        ops = "; ".join(
            op.op
            + (
                " [" + ", ".join(f"{k}={json.dumps(c.to_data())}" for k, c in op.conditions) + "]"
                if op.conditions
                else ""
            )
            for op in sig.ops
        )
        rows.append([entry.id, sig.pass_, ops, sig.ops_from, sig.conditions_from or "–"])
    return "\n".join(columns(rows)) + "\n"
