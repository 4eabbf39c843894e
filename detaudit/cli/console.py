"""The terminal: rich progress while an audit runs, and the summary (render/summary.py) after it."""

from __future__ import annotations

import sys

from ..render.summary import (
    SHOWN,
    STATUS_STYLE,
    compiled_summary,
    cost_summary,
    reach_summary,
    two_ways_summary,
)
from ..render.summary import draw as summary

__all__ = [
    "SHOWN",
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
