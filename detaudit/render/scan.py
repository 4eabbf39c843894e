"""Scan renderers: text and JSON for the dynamic and the static scan. Pure: each returns a ``str``.

The CLI's ``scan --format`` choices come from :data:`FORMATS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ..catalog import Catalog
from ..scanner.records import Hit, ScanResult, StaticResult
from ..scanner.signatures import Signature

__all__ = [
    "FORMATS",
    "ScanFormat",
    "render_json",
    "render_signatures",
    "render_static_json",
    "render_static_text",
    "render_text",
    "summary",
]


class ScanFormat(NamedTuple):
    dynamic: Callable[[ScanResult], str]
    static: Callable[[StaticResult], str]


def _columns(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]


def _entry(hit: Hit) -> str:
    if hit.entry is None:
        return "(not catalogued)"
    more = len(hit.entries) - 1
    return f"{hit.entry} (+{more})" if more else hit.entry


def _where(hit: Hit) -> str:
    return f"{hit.where} (in backward)" if hit.located == "backward" else hit.where


def _listing(hits: Sequence[Hit], kernel: Callable[[Hit], str | None]) -> str:
    parts = []
    for hit in hits:
        name = hit.entry or hit.op
        k = kernel(hit)
        parts.append(f"{name} ({hit.where}{', ' + k if k else ''})")
    return ", ".join(parts)


def summary(result: ScanResult) -> list[str]:
    """One line for this machine and one per report: which ops raise where."""
    devices = " + ".join(result.devices) or "no device"
    if not result.hits:
        return [f"scanned on {devices}: no catalogued op ran and no op raised the alert"]
    lines = []
    if result.observed:
        here = result.raising_here()
        verb = "op raises" if len(here) == 1 else "ops raise"
        lines.append(
            f"scanned on {devices} (torch {result.torch}): "
            + (
                f"{len(here)} {verb} here: {_listing(here, lambda h: h.kernel)}"
                if here
                else "no op raises here"
            )
        )
    else:
        lines.append(f"scanned on {devices} (torch {result.torch}); alerts not observed")
    for index, ref in enumerate(result.reports):
        there = result.raising_in(index)

        def kernel(hit: Hit, index: int = index) -> str | None:
            return next((e.kernel for e in hit.elsewhere if e.report == index), None)

        counted = f"these {len(there)} ops raise" if len(there) != 1 else "this op raises"
        lines.append(
            f"on {ref.title} [{index + 1}]: "
            + (f"{counted}: {_listing(there, kernel)}" if there else "none of them raises")
        )
    return lines


def render_text(result: ScanResult) -> str:
    """A table of hits, then the summary lines."""
    out = [
        f"detaudit scan: torch {result.torch}; "
        + (
            "deterministic mode observed (warn_only: alerts recorded, not raised)"
            if result.observed
            else "deterministic mode not observed"
        )
    ]
    for index, ref in enumerate(result.reports):
        out.append(f"[{index + 1}] {ref.title}: {ref.device} results of {ref.source}")
    out.append("")
    if result.hits:
        header = ["entry", "op", "pass", "device", "calls", "where", "here"]
        header += [f"[{i + 1}]" for i in range(len(result.reports))]
        rows = [header]
        for hit in result.hits:
            row = [
                _entry(hit),
                hit.op,
                hit.pass_,
                hit.device,
                str(hit.calls),
                _where(hit),
                (f"{hit.here} ({hit.kernel})" if hit.kernel else hit.here) or "–",
            ]
            for index in range(len(result.reports)):
                seen = next((e for e in hit.elsewhere if e.report == index), None)
                row.append(seen.status if seen is not None and seen.status else "–")
            rows.append(row)
        out += _columns(rows, right=(4,))
        out.append("")
    out += summary(result)
    return "\n".join(out) + "\n"


def render_json(result: ScanResult) -> str:
    """The scan result as JSON (``ScanResult.from_dict`` reads it back)."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_static_text(result: StaticResult) -> str:
    """``file:line:col: entry-id message``, one line a finding, like a linter; then skipped files."""
    lines = [f"{f.file}:{f.line}:{f.col}: {f.entry} {f.message}" for f in result.findings]
    lines += [f"{s.file}:{s.line}:{s.col}: skipped: {s.error}" for s in result.skipped]
    return "".join(f"{line}\n" for line in lines)


def render_static_json(result: StaticResult) -> str:
    """The static scan result as JSON."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, ScanFormat] = {
    "text": ScanFormat(render_text, render_static_text),
    "json": ScanFormat(render_json, render_static_json),
}


def render_signatures(catalog: Catalog, signatures: Mapping[str, Signature]) -> str:
    """How the dynamic scan recognises each entry: its aten ops, conditions, and where they came from."""
    rows = [["entry", "pass", "aten op [conditions]", "op found by", "conditions from"]]
    for entry in catalog:
        sig = signatures.get(entry.id)
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
    return "\n".join(_columns(rows)) + "\n"
