"""What a page leads with: a matrix's findings (raises, drift, not observed, ...), format-neutral.

A :class:`Finding` is one headline: a count, what it means, and the entries it
names. :data:`FINDERS` is the ordered registry the HTML page draws at its top;
a new kind of finding is one more function there, and the page shows it with
no other change. A finder returns None when it has nothing to say (a report
made without ``--compile`` has no compiled finding); raises, drift and not
observed always answer, since "none" is news too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..compare import table as _table
from ..compare.bits import Verdict
from ..compare.compiled import divergence
from ..model.report import ProbeResult, Status
from ..model.vocabulary import STATUS_INFO
from .prose import reach_notes, two_ways, two_ways_reading

__all__ = ["FINDERS", "Finding", "Item", "Tone", "bits_summary", "findings"]


class Tone(str, enum.Enum):
    """How loud a finding is drawn: ``quiet`` when it found nothing to act on."""

    RAISES = "raises"  # stops a run
    DRIFT = "drift"  # the docs are wrong for this torch
    FAILED = "failed"  # could not be audited
    NOTE = "note"  # worth a look, stops nothing
    QUIET = "quiet"


@dataclass(frozen=True, slots=True)
class Item:
    """One named thing in a finding: an entry (linked on the page) or, for the census, a name."""

    text: str
    entry: str = ""
    where: str = ""  # the device or columns, "" on a one-column page
    detail: str = ""  # the kernel, the docs' claim, the status, ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One headline of a page: ``count`` things of one kind, named by ``items``."""

    key: str  # stable: the page's data-finding attribute and the section's anchor
    title: str
    count: int
    meaning: str
    tone: Tone
    items: tuple[Item, ...] = ()
    lines: tuple[str, ...] = ()  # counted lines that name no entry ("12 skipped ...")
    section: str = ""  # the anchor of the details below, "" when there are none


Cell = tuple[_table.Row, _table.Column, ProbeResult]


def _cells(table: _table.Table) -> list[Cell]:
    return [
        (row, column, cell)
        for row, cells in zip(table.rows, table.cells)
        for column, cell in zip(table.columns, cells)
        if cell is not None
    ]


def _where(table: _table.Table, columns: list[_table.Column]) -> str:
    """Where, in a word: the devices on a one-report page, else how many of the columns."""
    if len(table.columns) < 2:
        return ""
    if len(table.reports) < 2:
        return ", ".join(str(c.device) for c in columns)
    return f"{len(columns)} of {len(table.columns)} columns"


def _by_entry(
    table: _table.Table, cells: Iterable[Cell], detail: Callable[[ProbeResult], str]
) -> tuple[Item, ...]:
    """One item per entry, in matrix order, with the columns it was found in.

    ``detail`` reads the entry's first such cell (its kernel, its status, ...).
    """
    found: dict[str, list[Cell]] = {}
    for cell in cells:
        found.setdefault(cell[0].id, []).append(cell)
    return tuple(
        Item(
            text=entry,
            entry=entry,
            where=_where(table, [c for _, c, _ in group]),
            detail=detail(group[0][2]),
        )
        for entry, group in found.items()
    )


def _raises(table: _table.Table) -> Finding:
    cells = [c for c in _cells(table) if c[2].status is Status.RAISES]
    return Finding(
        "raises",
        "raises",
        len(cells),
        "stop a run under torch.use_deterministic_algorithms(True)"
        if cells
        else "nothing audited here stops a run under the mode",
        Tone.RAISES if cells else Tone.QUIET,
        _by_entry(table, cells, lambda r: r.kernel or ""),
    )


def _drift(table: _table.Table) -> Finding:
    drifts = table.drifts()
    return Finding(
        "drift",
        "drift",
        len(drifts),
        "observed statuses that differ from what the docs of that torch claim"
        if drifts
        else "every observed status matches the docs of its torch",
        Tone.DRIFT if drifts else Tone.QUIET,
        _by_entry(
            table,
            drifts,
            lambda r: f"docs: {r.expected} ({r.expected_from}), observed: {r.status.value}",
        ),
        section="s-drift",
    )


def _not_observed(table: _table.Table) -> Finding:
    missing = [c for c in _cells(table) if not c[2].status.observed]
    failed = [c for c in missing if STATUS_INFO[c[2].status].failed]
    unrun = [
        f"{n} {status.value}: {STATUS_INFO[status].meaning} (hover the cell for why)"
        for status in Status
        if not STATUS_INFO[status].failed
        and (n := sum(1 for c in missing if c[2].status is status))
    ]
    return Finding(
        "not-observed",
        "not observed",
        len(missing),
        "say nothing about the mode: the probe could not finish, or did not run"
        if missing
        else "every probe ran to an observation",
        Tone.FAILED if failed else Tone.QUIET,
        _by_entry(table, failed, lambda r: r.status.value),
        tuple(unrun),
        section="s-not-observed" if failed else "",
    )


def _reach(table: _table.Table) -> Finding | None:
    cells = _cells(table)
    missed = {id(r) for r in reach_notes(c[2] for c in cells)}
    shown = [c for c in cells if id(c[2]) in missed]
    if not shown:
        return None
    return Finding(
        "reach",
        "not reached",
        len(shown),
        "the strict run did not dispatch the op the entry names",
        Tone.NOTE,
        _by_entry(table, shown, lambda r: r.reach_note),
        section="s-reach",
    )


def _census(table: _table.Table) -> Finding | None:
    censuses = [(source, r.census) for source, r in table.reports if r.census is not None]
    if not censuses:
        return None
    many = len(censuses) > 1
    names = [
        Item(name, where=source if many else "")
        for source, census in censuses
        for name in census.unprobed
    ]
    untaken = tuple(census.line for _, census in censuses if not census.taken)
    return Finding(
        "census",
        "alert names unprobed",
        len(names),
        "alert names this torch can raise that no entry probed here (the census)",
        Tone.NOTE if names else Tone.QUIET,
        tuple(names),
        untaken,
        section="s-census",
    )


def _two_ways(table: _table.Table) -> Finding | None:
    cells = [c for c in _cells(table) if c[2].backward_only is not None]
    differ, _, both = two_ways(c[2] for c in cells)
    if not differ:
        return None
    ids = {id(r) for r in differ}
    return Finding(
        "two-ways",
        "backward differs two ways",
        len(differ),
        f"of {both} backward results: mode on throughout vs on for the backward only",
        Tone.NOTE,
        _by_entry(table, [c for c in cells if id(c[2]) in ids], two_ways_reading),
        section="s-two-ways",
    )


def _compiled(table: _table.Table) -> Finding | None:
    cells = [c for c in _cells(table) if c[2].compiled is not None]
    differ = [c for c in cells if divergence(c[2])]
    if not differ:
        return None
    return Finding(
        "compiled",
        "torch.compile differs",
        len(differ),
        f"of {len(cells)} compiled results differ from eager",
        Tone.NOTE,
        _by_entry(table, differ, lambda r: str(divergence(r))),
    )


def _bits_runs(table: _table.Table) -> Finding | None:
    differ = [c for c in _cells(table) if _table.bits_differ(c[2])]
    if not differ:
        return None
    return Finding(
        "bits-runs",
        "bits differ run to run",
        len(differ),
        "ran under the mode, yet the bits differed across the mode-on runs",
        Tone.DRIFT,
        _by_entry(table, differ, lambda r: r.status.value),
    )


def _bits_columns(table: _table.Table) -> Finding | None:
    if not table.has_bits():
        return None
    rows = [row for row, v in zip(table.rows, table.bit_verdicts()) if v is Verdict.DIFFER]
    if not rows:
        return None
    return Finding(
        "bits-columns",
        "bits differ across columns",
        len(rows),
        "two columns of one device type, same inputs, gave different bits",
        Tone.DRIFT,
        tuple(Item(row.id, row.id) for row in rows),
    )


#: The page's headlines, in order. Each finder reads the table; None: nothing to say.
FINDERS: tuple[Callable[[_table.Table], Finding | None], ...] = (
    _raises,
    _drift,
    _not_observed,
    _reach,
    _census,
    _two_ways,
    _compiled,
    _bits_runs,
    _bits_columns,
)


def findings(table: _table.Table) -> list[Finding]:
    """Every finder's answer for ``table``, in :data:`FINDERS` order."""
    return [f for finder in FINDERS if (f := finder(table)) is not None]


def bits_summary(table: _table.Table) -> tuple[str, str, str] | None:
    """The bit-identity card: (figure, label, explanation); None when no bits are comparable.

    "0 of N bit-identical" would read as a failure when nothing was compared,
    so a matrix with no compared row says "not compared" and why, in words.
    """
    if not table.has_bits():
        return None
    counts = table.bit_counts()
    compared = counts[Verdict.IDENTICAL] + counts[Verdict.PARTIAL] + counts[Verdict.DIFFER]
    if not compared:
        why = (
            f"not compared: no two columns of one device type had comparable bits for any of "
            f"the {len(table.rows)} entries (hover a cell for why)"
        )
        return ("not compared", "bit identity", why)
    same = counts[Verdict.IDENTICAL] + counts[Verdict.PARTIAL]
    why = (
        f"{counts[Verdict.IDENTICAL]} in every column, {counts[Verdict.PARTIAL]} where compared; "
        f"{counts[Verdict.DIFFER]} differ; {counts[Verdict.NOT_COMPARED]} entries not compared "
        "(hover a cell for why)"
    )
    return (f"{same} of {compared}", "compared entries bit-identical", why)
