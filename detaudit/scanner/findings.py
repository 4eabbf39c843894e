"""Assemble a scan's counted hits into a :class:`~detaudit.scanner.records.ScanResult`.

Each hit gets its catalogue entry, what deterministic mode did to it here,
and what each report observed for it on that report's machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch

from ..catalog import Catalog
from ..compare.naming import report_title
from ..model.report import Report
from ..model.vocabulary import Status, clean_run_status
from .matching import Matcher, report_device, status_in, statuses_in, worst_first
from .mode import HitKey
from .records import Elsewhere, Hit, ReportRef, ScanResult

__all__ = ["assemble"]


def _shown_file(path: str, cwd: str) -> str:
    if path.startswith(cwd + os.sep):
        return os.path.relpath(path, cwd)
    return path


def _elsewhere(
    catalog: Catalog,
    index: int,
    report: Report,
    ref: ReportRef,
    entries: Sequence[str],
    matcher: Matcher,
) -> tuple[Elsewhere, ...]:
    """What ``report`` observed for each of the hit's entries, worst first.

    A call several entries for that device match (``torch.mm``:
    ``cublas-mm-workspace-unset`` and ``-4096-8``, told apart only by the
    environment) gets the report's result for each of them, so the one that
    raises there is never hidden behind one that converts. When the report has
    none of them: what its torch's docs claim for the entry shown.
    """
    seen = [
        Elsewhere(index, entry, status, kernel)
        for entry, status, kernel in statuses_in(
            report, matcher.for_device(entries, ref.device), ref.device
        )
    ]
    if seen:
        return tuple(sorted(seen, key=lambda e: worst_first(e.status)))
    entry, _, _ = status_in(report, entries, ref.device, matcher.shown)
    claim, basis = catalog.expected(catalog.get(entry), ref.device, ref.torch)
    return (Elsewhere(index, entry, None, None, claim, basis),)


#: The claim worst first: what stops the run, then what runs a documented deterministic kernel.
_CLAIM_ORDER = (Status.RAISES, Status.CONVERTS, Status.OK)


def _claim(
    catalog: Catalog, matcher: Matcher, entries: Sequence[str], device: str, version: str
) -> tuple[str, Status | None, str | None]:
    """(entry, claim, docs) the docs of ``version`` make for the hit on ``device``, worst first.

    Of several entries the call matches, those whose condition covers ``device`` speak
    (``torch.mm``: the cuBLAS entries), and the worst claim among them is the hit's.
    """
    claims = []
    for entry in matcher.for_device(entries, device):
        claim, basis = catalog.expected(catalog.get(entry), device, version)
        claims.append((entry, claim, basis))
    rank = {s: i for i, s in enumerate(_CLAIM_ORDER)}
    return min(claims, key=lambda c: rank.get(c[1], len(rank)))


def _site(catalog: Catalog, entry: str, device: str, alerts: Mapping[str, set[str]] | None):
    """Does this build have the entry's alert site for ``device``? None when the census can't say.

    The census of a build without ``device`` kernels (a CPU wheel, asked about cuda) knows
    nothing of their sites, so it says nothing.
    """
    kernels = catalog.get(entry).kernels
    known = alerts.get(device) if alerts is not None else None
    if not kernels or not known:
        return None
    return any(k in known for k in kernels)


def assemble(
    catalog: Catalog,
    matcher: Matcher,
    counts: Mapping[HitKey, int],
    alerts: Mapping[HitKey, str],
    reports: Sequence[tuple[Report, str]],
    device: str | None,
    observe: bool,
    census: Mapping[str, set[str]] | None = None,
) -> ScanResult:
    """The result of a scan that counted ``counts`` and saw ``alerts``, read against ``reports``.

    ``reports`` are (report, where it came from); ``device`` is the device whose
    results to read in them (default: cuda where a report has it) and whose docs
    claim each hit carries (default cuda); ``observe`` says whether the scan ran
    under warn-only mode, and so knows what raises here. ``census`` maps a device
    to the alert names this build's sites for it pass (None: no census known).
    """
    claim_device = device or "cuda"
    refs = []
    for report, source in reports:
        refs.append(
            ReportRef(
                title=report_title(report),
                source=source,
                device=report_device(report, device),
                torch=report.environment.torch,
            )
        )
    cwd = os.getcwd()
    hits = []
    for key, calls in list(counts.items()):
        entries, op, pass_, hit_device, location, located = key
        kernel = alerts.get(key)
        file, line, function, via = location or ("?", 0, "?", None)
        entry = matcher.shown(entries, hit_device) if entries else None
        info = catalog.get(entry) if entry else None
        here = None
        if observe:
            covered = info.covered if info is not None else ()
            here = Status.RAISES if kernel else clean_run_status(hit_device, covered)
        elsewhere = tuple(
            seen
            for index, ((report, _), ref) in enumerate(zip(reports, refs))
            if entries
            for seen in _elsewhere(catalog, index, report, ref, entries, matcher)
        )
        claimed, claim, claim_from = (
            _claim(catalog, matcher, entries, claim_device, torch.__version__)
            if entries
            else (None, None, None)
        )
        # the advice of the entry that raises, else of the first that has some (cuBLAS: the
        # unset-workspace entry's, when the shown one is its converted twin)
        candidates = [claimed]
        if claim != Status.RAISES and entries:
            candidates += matcher.for_device(entries, claim_device)
        remedy = next(
            (catalog.get(e).remedy for e in candidates if e and catalog.get(e).remedy), ""
        )
        hits.append(
            Hit(
                entry=entry,
                entries=entries,
                api=info.api if info else "",
                group=info.group if info else "",
                op=op,
                pass_=pass_,
                device=hit_device,
                calls=calls,
                file=_shown_file(file, cwd),
                line=line,
                function=function,
                located=located,
                via=None if via is None else f"{_shown_file(via[0], cwd)}:{via[1]}",
                here=here,
                kernel=kernel,
                elsewhere=elsewhere,
                claim=claim,
                claim_from=claim_from if claim is not None else None,
                site=_site(catalog, claimed, claim_device, census) if claimed else None,
                remedy=remedy,
            )
        )
    hits.sort(key=lambda h: (h.file, h.line, h.pass_ != "forward", h.op))
    return ScanResult(
        torch=torch.__version__,
        devices=tuple(dict.fromkeys(h.device for h in hits)),
        observed=observe,
        hits=tuple(hits),
        reports=tuple(refs),
        catalog_hash=catalog.hash,
        claim_device=claim_device,
        skipped=catalog.skipped,
    )
