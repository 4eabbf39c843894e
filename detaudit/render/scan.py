"""The ``scan`` document: text and JSON views of a dynamic scan's result (``ScanResult``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from ..scanner.records import Hit, ScanResult
from .columns import columns

__all__ = ["render_json", "render_text", "summary"]


def _entry(hit: Hit) -> str:
    if hit.entry is None:
        return "(not catalogued)"
    more = len(hit.entries) - 1
    return f"{hit.entry} (+{more})" if more else hit.entry


def _at(hit: Hit) -> str:
    """``lib.py:3 via train.py:10`` when the line is in a library, else ``train.py:10``."""
    return f"{hit.where} via {hit.via}" if hit.via else hit.where


def _where(hit: Hit) -> str:
    return f"{_at(hit)} (in backward)" if hit.located == "backward" else _at(hit)


#: Under the table whenever a cell is unknown.
_LEGEND = (
    "– : not known: here, the scan did not observe deterministic mode; under [n], that report "
    "has no result for the entry on its device (in brackets: what that torch's docs claim)"
)


def _listing(
    hits: Sequence[Hit],
    kernel: Callable[[Hit], str | None],
    named: Callable[[Hit], str | None] = lambda hit: hit.entry,
) -> str:
    parts = []
    for hit in hits:
        k = kernel(hit)
        name = named(hit) or hit.op
        parts.append(f"{name} ({_at(hit)}{', ' + k if k else ''})")
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

        def raised(hit: Hit, index: int = index):
            """The entry that raised there (of several the call matches: the first that did)."""
            return next(e for e in _seen(hit, index) if e.status == "raises")

        def kernel(hit: Hit) -> str | None:
            return raised(hit).kernel

        def entry(hit: Hit) -> str | None:
            return raised(hit).entry

        unknown = result.unknown_in(index)
        counted = f"these {len(there)} ops raise" if len(there) != 1 else "this op raises"
        if there:
            said = f"{counted}: {_listing(there, kernel, entry)}"
        elif unknown:
            # never "none of them raises" while some were not observed there
            said = "none of the ops it has a result for raises"
        else:
            said = "none of them raises"
        if unknown:
            said += f"; {len(unknown)} not in this report: " + ", ".join(
                f"{hit.entry}{_claimed(hit, index)}" for hit in unknown
            )
        lines.append(f"on {ref.title} [{index + 1}]: {said}")
    return lines


def _claimed(hit: Hit, index: int) -> str:
    """What the docs of report ``index``'s torch claim for a hit it has no result for."""
    seen = next((e for e in hit.elsewhere if e.report == index), None)
    if seen is None or seen.claim is None:
        return ""  # no claim, or a scan written before claims were kept
    return f" ({seen.claim_from or 'docs'}: {seen.claim})"


def _seen(hit: Hit, index: int) -> list:
    """What report ``index`` observed for the hit: one per entry with a result, worst first."""
    return [e for e in hit.elsewhere if e.report == index]


def _cell(hit: Hit, index: int) -> str:
    every = _seen(hit, index)
    if len(every) > 1:  # several entries match the call: each one's result, worst first
        return ", ".join(f"{e.status or '–'} ({e.entry})" for e in every)
    seen = every[0] if every else None
    if seen is not None and seen.status:
        return seen.status
    if seen is not None and seen.claim is not None:
        return f"– ({seen.claim_from or 'docs'}: {seen.claim})"
    return "–"


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
            row += [_cell(hit, index) for index in range(len(result.reports))]
            rows.append(row)
        out += columns(rows, right=(4,))
        if any(cell.startswith("–") for row in rows[1:] for cell in row[6:]):
            out.append(_LEGEND)
        out.append("")
    out += summary(result)
    return "\n".join(out) + "\n"


def render_json(result: ScanResult) -> str:
    """The scan result as JSON (``ScanResult.from_dict`` reads it back)."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
