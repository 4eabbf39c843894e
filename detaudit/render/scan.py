"""The ``scan`` document: text and JSON views of a dynamic scan's result (``ScanResult``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import PurePath

from ..model.vocabulary import Status
from ..scanner.records import Hit, ScanResult
from .columns import columns

__all__ = ["quiet_groups", "render_json", "render_text", "summary"]


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
    if result.claim_device:
        claimed = result.raising_by_claim()
        if claimed:
            counted = f"these {len(claimed)} ops raise" if len(claimed) != 1 else "this op raises"
            lines.append(
                f"on {result.claim_device} ({_docs(result)}, a claim): {counted}: "
                + _listing(claimed, lambda h: None)
            )
        elif not result.reports:
            lines.append(f"on {result.claim_device} ({_docs(result)}, a claim): no op raises")
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


def _docs(result: ScanResult) -> str:
    """``docs 2.13``: the docs the hits' claims come from (the scanned torch's)."""
    return next((h.claim_from for h in result.hits if h.claim_from), "") or "docs"


def _claim_cell(hit: Hit) -> str:
    if hit.claim is None:
        return "–"
    if hit.site is None:
        return str(hit.claim)
    return f"{hit.claim} ({'site in this build' if hit.site else 'no site in this build'})"


def _places(hits: Sequence[Hit]) -> str:
    """``conv2d ×10 (model.py:12, +9 more)``: each entry with its count and first place."""
    by_entry: dict[str, list[Hit]] = {}
    for hit in hits:
        by_entry.setdefault(hit.entry or hit.op, []).append(hit)
    parts = []
    for name, same in by_entry.items():
        more = f", +{len(same) - 1} more" if len(same) > 1 else ""
        parts.append(f"{name} ×{len(same)} ({_at(same[0])}{more})")
    return ", ".join(parts)


def _quiet_reason(result: ScanResult, hit: Hit) -> tuple[str, str]:
    """Why a hit that raises nowhere is quiet: the verb phrase for one op and for several."""
    device = result.claim_device or "cuda"
    seen = hit.observed_on(device, result.reports)
    if seen:
        verbs = {"converts": ("converts", "convert"), "ok": ("runs cleanly", "run cleanly")}
        pairs = [verbs.get(str(e.status), (f"is {e.status}", f"are {e.status}")) for e in seen]
        one = " or ".join(dict.fromkeys(p[0] for p in pairs))
        several = " or ".join(dict.fromkeys(p[1] for p in pairs))
        return f"{one} on {device} in a report", f"{several} on {device} in a report"
    docs = hit.claim_from or "docs"
    if hit.claim == Status.CONVERTS:
        return f"converts on {device} ({docs})", f"convert on {device} ({docs})"
    if hit.claim == Status.OK:
        return (
            f"is not for {device}: no alert there ({docs})",
            f"are not for {device}: no alert there ({docs})",
        )
    if hit.group == "observed":
        why = f"in no docs list (observed entries: an audit on {device} measures them)"
    elif hit.entry is None:
        why = "not catalogued"
    else:
        why = f"in no docs list of torch {result.torch} for {device}"
    return f"is {why}", f"are {why}"


def quiet_groups(result: ScanResult) -> list[str]:
    """One line per group of hits that raise nowhere: how many, why, which, and the remedy."""
    groups: dict[tuple[str, str], list[Hit]] = {}
    for hit in result.hits:
        if not result.raises_somewhere(hit):
            groups.setdefault(_quiet_reason(result, hit), []).append(hit)
    lines = []
    for (one, several), hits in groups.items():
        remedies = {h.remedy for h in hits}
        advice = f"; {remedies.pop()}" if len(remedies) == 1 and "" not in remedies else ""
        count = f"1 op {one}" if len(hits) == 1 else f"{len(hits)} ops {several}"
        lines.append(f"{count}: {_places(hits)}{advice}")
    return lines


def _remedies(hits: Sequence[Hit]) -> list[str]:
    """``what to do``: the catalogue's remedy of each raising entry, once."""
    seen: dict[str, str] = {}
    for hit in hits:
        if hit.remedy and hit.entry and hit.entry not in seen:
            seen[hit.entry] = hit.remedy
    return [f"  {entry}: {remedy}" for entry, remedy in seen.items()]


def render_text(result: ScanResult, *, every: bool = False) -> str:
    """The hits that raise somewhere (``every``: all hits), the quiet groups, then the summary.

    Somewhere: here, in a report, or per the scanned torch's docs on ``claim_device``
    (a claim, which a report's result for that device overrides).
    """
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
    for file, why in result.skipped:
        out.append(
            f"catalogue file {PurePath(file).name} not loaded ({why}): its ops are not matched"
        )
    out.append("")
    raising = [h for h in result.hits if result.raises_somewhere(h)]
    shown = list(result.hits) if every else raising
    claims = bool(result.claim_device)
    if shown:
        header = ["entry", "op", "pass", "device", "calls", "where", "here"]
        if claims:
            header.append(f"{result.claim_device} claim ({_docs(result)})")
        header += [f"[{i + 1}]" for i in range(len(result.reports))]
        first = 7 + claims  # the first report column
        rows = [header]
        for hit in shown:
            row = [
                _entry(hit),
                hit.op,
                hit.pass_,
                hit.device,
                str(hit.calls),
                _where(hit),
                (f"{hit.here} ({hit.kernel})" if hit.kernel else hit.here) or "–",
            ]
            if claims:
                row.append(_claim_cell(hit))
            row += [_cell(hit, index) for index in range(len(result.reports))]
            rows.append(row)
        out += columns(rows, right=(4,))
        if any(cell.startswith("–") for row in rows[1:] for cell in row[first:]):
            out.append(_LEGEND)
        if claims:
            out.append(
                f"{result.claim_device} claim: what the {_docs(result)} claim, not an observation "
                "(a --report result for that device overrides it)"
            )
        out.append("")
    elif result.hits:
        out += ["no catalogued op raises here, in a report, or per the docs", ""]
    if not every:
        quiet = quiet_groups(result)
        if quiet:
            out += [*quiet, "(--all lists every op)", ""]
    remedies = _remedies(raising)
    if remedies:
        out += ["what to do:", *remedies, ""]
    out += summary(result)
    return "\n".join(out) + "\n"


def render_json(result: ScanResult, *, every: bool = True) -> str:
    """The scan result as JSON, every hit (``ScanResult.from_dict`` reads it back)."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
