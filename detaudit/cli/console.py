"""The terminal: rich progress while an audit runs, and the summary after it."""

from __future__ import annotations

import sys

from ..model.vocabulary import STATUS_INFO

__all__ = [
    "STATUS_STYLE",
    "compiled_summary",
    "cost_summary",
    "progress",
    "reach_summary",
    "summary",
    "terminal",
    "two_ways_summary",
]


def terminal(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


#: Status -> rich style, from the vocabulary's table (a status looks up as its value too).
STATUS_STYLE = {status: info.style for status, info in STATUS_INFO.items()}


def progress(console, *, quiet: bool):
    """A progress bar on a terminal, plain lines otherwise; returns (callback, finish)."""
    if quiet:
        return None, lambda: None
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        task = bar.add_task("starting workers", total=None)
        bar.start()

        def update(result, done: int, total: int) -> None:
            bar.update(
                task, completed=done, total=total, description=f"{result.id} [{result.device}]"
            )

        return update, bar.stop

    def line(result, done: int, total: int) -> None:
        kernel = f" ({result.kernel})" if result.kernel else ""
        print(
            f"[{done}/{total}] {result.id} {result.device}: {result.status.value}{kernel}",
            file=sys.stderr,
            flush=True,
        )

    return line, lambda: None


def _styled(status) -> str:
    return f"[{STATUS_STYLE[status.value]}]{status.value}[/]"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def summary(console, report) -> None:
    """What a user came for: the counts, what raises (with its kernel), the drift, the gaps."""
    from rich.markup import escape
    from rich.table import Table

    from ..model.report import Status

    console.print(f"[bold]detaudit[/bold]: {report.title}")
    if report.newer_than_docs:
        console.print(f"[yellow]note[/yellow]: {escape(report.newer_than_docs)}")
    if report.mostly_failed:
        console.print(f"[bold red]warning[/bold red]: {escape(report.mostly_failed)}")
    if report.census is not None:
        console.print(escape(report.census.line))
    counts = Table(title="results per status", title_justify="left")
    counts.add_column("status")
    for device in report.devices:
        counts.add_column(device, justify="right")
    for status, total in report.counts().items():
        if total:
            per = [
                str(sum(1 for r in report.results if r.status is status and r.device == d))
                for d in report.devices
            ]
            counts.add_row(_styled(status), *per)
    console.print(counts)
    raising = [r for r in report.results if r.status is Status.RAISES]
    if raising:
        table = Table(
            title=f"raises: {len(raising)} stop a run under deterministic mode",
            title_justify="left",
        )
        for column in ("id", "device", "api", "kernel"):
            table.add_column(column)
        for r in raising:
            table.add_row(r.id, r.device, r.api, r.kernel or "")
        console.print(table)
    drifts = report.drifts()
    if drifts:
        table = Table(
            title=f"drift: {len(drifts)} differ from the docs of this torch", title_justify="left"
        )
        for column in ("id", "device", "docs claim", "observed", "kernel"):
            table.add_column(column)
        for r in drifts:
            table.add_row(
                r.id,
                r.device,
                f"{r.expected} ({r.expected_from})",
                _styled(r.status),
                r.kernel or "",
            )
        console.print(table)
    else:
        console.print("no drift: every observed status matches the docs of this torch")
    missing = [r for r in report.results if not r.status.observed]
    if missing:
        table = Table(
            title=f"not observed: {len(missing)} results say nothing about deterministic mode",
            title_justify="left",
        )
        for column in ("id", "device", "status", "why"):
            table.add_column(column)
        for r in missing:
            table.add_row(r.id, r.device, _styled(r.status), _first_line(r.message))
        console.print(table)
    reach_summary(console, report)
    two_ways_summary(console, report)
    cost_summary(console, report)
    compiled_summary(console, report)


def compiled_summary(console, report) -> None:
    """Where torch.compile differs from eager, when the audit compiled (``--compile``)."""
    from rich.markup import escape

    from ..compare.compiled import compiled_state, divergence

    compiled = [r for r in report.results if r.compiled is not None]
    if not compiled:
        return
    differ = [r for r in compiled if divergence(r)]
    console.print(
        f"compiled ({compiled[0].compiled.backend}): {len(differ)} of {len(compiled)} "
        "differ from eager"
    )
    for r in differ:
        console.print(
            f"  {escape(r.id)} on {r.device}: eager {r.status.value}, "
            f"compiled {escape(compiled_state(r))} ({divergence(r)})"
        )


def reach_summary(console, report) -> None:
    """Entries whose strict run did not dispatch the aten op they name (``reaches``)."""
    from rich.markup import escape

    from ..render.markdown import reach_notes

    missed = reach_notes(report.results)
    if not missed:
        return
    console.print(f"not reached under the mode: {len(missed)}")
    for r in missed:
        console.print(f"  {r.id} on {r.device}: {escape(r.reach_note)}")


def two_ways_summary(console, report) -> None:
    """Backward entries whose two observations (mode on throughout, backward only) differ."""
    from rich.markup import escape

    from ..render.markdown import two_ways, two_ways_reading

    differ, unobserved, both = two_ways(report.results)
    if not (differ or unobserved or both):
        return
    if differ:
        console.print(f"backward, two ways: {len(differ)} of {both} differ")
        for r in differ:
            console.print(f"  {r.id} on {r.device}: {escape(two_ways_reading(r))}")
    else:
        console.print(f"backward, two ways: none of {both} differ")
    if unobserved:
        console.print(f"backward only, not observed ({len(unobserved)}):")
        for r in unobserved:
            why = _first_line(r.backward_only.message if r.backward_only else None)
            console.print(f"  {r.id} on {r.device}: {escape(why)}")


def cost_summary(console, report, shown: int = 5) -> None:
    """The slowest deterministic entries, when the audit timed them (``--cost``)."""
    from ..render.markdown import cost_reading

    timed = sorted((r for r in report.results if r.cost), key=lambda r: -r.cost.ratio)
    if timed:
        console.print(
            f"cost of determinism, slowest first ({len(timed)} timed; all in the report):"
        )
        for result in timed[:shown]:
            console.print(f"  {cost_reading(result)}")
