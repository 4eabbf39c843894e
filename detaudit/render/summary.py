"""The terminal summary of a report: what a user came for, ordered for an 80x24 screen.

:func:`draw` prints it on a rich console (the CLI's terminal, in colour and
its width); :func:`render_text` is the registered renderer, the same lines as
plain text at 80 columns.
"""

from __future__ import annotations

import io

from ..model.vocabulary import STATUS_INFO

__all__ = [
    "SHOWN",
    "STATUS_STYLE",
    "compiled_summary",
    "cost_summary",
    "draw",
    "reach_summary",
    "render_text",
    "two_ways_summary",
]

#: Status -> rich style, from the vocabulary's table (a status looks up as its value too).
STATUS_STYLE = {status: info.style for status, info in STATUS_INFO.items()}

#: The columns of the plain-text summary: an 80x24 terminal's.
WIDTH = 80


def render_text(report) -> str:
    """The summary as plain text, :data:`WIDTH` columns wide (what ``audit`` prints)."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=WIDTH, highlight=False, soft_wrap=False, color_system=None)
    draw(console, report)
    return out.getvalue()


def _styled(status) -> str:
    return f"[{STATUS_STYLE[status.value]}]{status.value}[/]"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def draw(console, report) -> None:
    """What a user came for, ordered for the screen the command leaves behind.

    The context comes first (title, census, two ways, reach, cost, compiled,
    counts), the findings last: what could not be observed, drift, and what
    raises, so that an 80x24 terminal ends on them. Statuses that were never
    run (``skipped``) are one counted line each: their reasons are in the report.
    Each table shows at most :data:`SHOWN` rows; the rest are named on one line.
    """
    from rich.markup import escape

    from ..model.report import Status
    from .prose import title

    console.print(f"[bold]detaudit[/bold]: {escape(title(report))}")
    if report.newer_than_docs:
        console.print(f"[yellow]note[/yellow]: {escape(report.newer_than_docs)}")
    if report.census is not None:
        console.print(escape(report.census.line))
    reach_summary(console, report)
    two_ways_summary(console, report)
    cost_summary(console, report)
    compiled_summary(console, report)
    for device in report.devices:
        here = [r for r in report.results if r.device == device]
        counts = " · ".join(
            f"{n} {_styled(status)}"
            for status in Status
            if (n := sum(1 for r in here if r.status is status))
        )
        console.print(f"{device}: {counts}")
    missing = [r for r in report.results if not r.status.observed]
    for status in Status:
        info = STATUS_INFO[status]
        unrun = [r for r in missing if r.status is status and not info.failed]
        if unrun:
            console.print(f"{len(unrun)} {_styled(status)} (not run): the report says why for each")
    failed = [r for r in missing if STATUS_INFO[r.status].failed]
    if failed:
        _table(
            console,
            f"not observed: {len(failed)} could not be audited",
            ("id", "device", "status", "why"),
            [
                (escape(r.id), r.device, _styled(r.status), escape(_first_line(r.message)))
                for r in failed
            ],
        )
    if report.mostly_failed:
        console.print(f"[bold red]warning[/bold red]: {escape(report.mostly_failed)}")
    drifts = report.drifts()
    if drifts:
        _table(
            console,
            f"drift: {len(drifts)} differ from the docs of this torch",
            ("id", "device", "docs claim", "observed", "kernel"),
            [
                (
                    escape(r.id),
                    r.device,
                    escape(f"{r.expected} ({r.expected_from})"),
                    _styled(r.status),
                    escape(r.kernel or ""),
                )
                for r in drifts
            ],
        )
    else:
        console.print("no drift: every observed status matches the docs of this torch")
    raising = [r for r in report.results if r.status is Status.RAISES]
    if raising:
        columns: tuple[str, ...] = ("id", "device", "api", "kernel")
        rows: list[tuple[str, ...]] = [
            (escape(r.id), r.device, escape(r.api), escape(r.kernel or "")) for r in raising
        ]
        if console.width >= ADVICE_WIDTH and any(r.remedy for r in raising):
            # a wide terminal has room for the catalogue's remedy; an 80-column one keeps
            # the kernel uncut (the reports say what to do in full)
            columns += ("what to do",)
            rows = [(*row, escape(r.remedy or "")) for row, r in zip(rows, raising)]
        _table(console, f"raises: {len(raising)} stop a run under deterministic mode", columns, rows)
    else:
        console.print("no raises: nothing audited here stops a run under deterministic mode")


#: The terminal width from which the raises table has a "what to do" column.
ADVICE_WIDTH = 120
#: Rows a summary table shows; the others are named on one wrapped line below it.
SHOWN = 10
_WHOLE = ("id", "device", "status", "observed")  # columns a narrow terminal never cuts
_SHORT = 24  # the api column's most: the kernel beside it says more


def _table(console, heading: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """A heading, then a borderless table of one line per row (cells cut, never wrapped).

    Cells are rich markup, escaped by the caller. The ``device`` column is left out when every row is on one device; past
    :data:`SHOWN` rows, the rest are named by id and device on one line.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    devices = {r[columns.index("device")] for r in rows}
    one = f" (all on {next(iter(devices))})" if len(devices) == 1 else ""
    console.print(f"[bold]{heading}[/bold]{one}")
    keep = [i for i, c in enumerate(columns) if c != "device" or not one]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="dim")
    for i in keep:
        # The id and the device are never cut: the others give way on a narrow terminal.
        cells = [columns[i], *(str(r[i] or "") for r in rows)]
        whole = max(Text.from_markup(c).cell_len for c in cells) if columns[i] in _WHOLE else None
        short = _SHORT if columns[i] == "api" else None
        table.add_column(
            columns[i], no_wrap=True, overflow="ellipsis", min_width=whole, max_width=short
        )
    for row in rows[:SHOWN]:
        table.add_row(*(str(row[i] or "") for i in keep))
    console.print(table)
    rest = rows[SHOWN:]
    if rest:
        device = columns.index("device")
        names = ", ".join(str(r[0]) if one else f"{r[0]} ({r[device]})" for r in rest)
        console.print(f"and {len(rest)} more (in the report): {names}")


def _entries(console, results, reading) -> None:
    """One indented, uncut-id line per result (at most :data:`SHOWN`), the rest named on one line."""
    from rich.markup import escape

    for r in results[:SHOWN]:
        console.print(
            f"  {escape(r.id)} on {r.device}: {escape(reading(r))}",
            no_wrap=True,
            overflow="ellipsis",
        )
    rest = results[SHOWN:]
    if rest:
        names = ", ".join(f"{r.id} ({r.device})" for r in rest)
        console.print(f"  and {len(rest)} more (in the report): {escape(names)}")


def compiled_summary(console, report) -> None:
    """Where torch.compile differs from eager, when the audit compiled (``--compile``)."""
    from ..compare.compiled import compiled_state, divergence

    compiled = [r for r in report.results if r.compiled is not None]
    if not compiled:
        return
    differ = [r for r in compiled if divergence(r)]
    console.print(
        f"compiled ({compiled[0].compiled.backend}): {len(differ)} of {len(compiled)} "
        "differ from eager"
    )
    _entries(
        console,
        differ,
        lambda r: f"eager {r.status.value}, compiled {compiled_state(r)} ({divergence(r)})",
    )


def reach_summary(console, report) -> None:
    """Entries whose strict run did not dispatch the aten op they name (``reaches``)."""
    from .prose import reach_notes

    missed = reach_notes(report.results)
    if not missed:
        return
    console.print(f"not reached under the mode: {len(missed)}")
    _entries(console, missed, lambda r: r.reach_note)


def two_ways_summary(console, report) -> None:
    """Backward entries whose two observations (mode on throughout, backward only) differ."""
    from .prose import two_ways, two_ways_reading

    differ, unobserved, both = two_ways(report.results)
    if not (differ or unobserved or both):
        return
    if differ:
        console.print(f"backward, two ways: {len(differ)} of {both} differ")
        _entries(console, differ, two_ways_reading)
    else:
        console.print(f"backward, two ways: none of {both} differ")
    if unobserved:
        console.print(f"backward only, not observed ({len(unobserved)}):")
        _entries(
            console,
            unobserved,
            lambda r: _first_line(r.backward_only.message if r.backward_only else None),
        )


def cost_summary(console, report, shown: int = 5) -> None:
    """The slowest deterministic entries, when the audit timed them (``--cost``)."""
    from .prose import cost_reading

    timed = sorted((r for r in report.results if r.cost), key=lambda r: -r.cost.ratio)
    if timed:
        console.print(
            f"cost of determinism, slowest first ({len(timed)} timed; all in the report):"
        )
        for result in timed[:shown]:
            console.print(f"  {cost_reading(result)}")
