"""The ``table`` document: Markdown and CSV views of a :class:`~detaudit.compare.table.Table`.

The HTML view is :func:`detaudit.render.html.render_table`, beside the report's page.
"""

from __future__ import annotations

import csv
import io

from ..compare.table import Table, bits_differ
from ..model.report import ProbeResult, Status
from ..model.vocabulary import STATUS_INFO
from .markdown import _table

__all__ = ["render_csv", "render_markdown"]


def _md_cell(result: ProbeResult | None) -> str | None:
    if result is None:
        return None
    text = f"**{result.status.value}** (drift)" if result.drift else result.status.value
    text = text + " (bits differ)" if bits_differ(result) else text
    return text + _two_ways_mark(result)


def _two_ways_mark(result: ProbeResult) -> str:
    """`` (backward only: raises)`` where a backward entry's two observations differ."""
    if not result.two_ways_differ or result.backward_only_status is None:
        return ""
    return f" (backward only: {result.backward_only_status.value})"


def render_markdown(table: Table) -> str:
    """The matrix as GitHub-flavoured Markdown: counts, drift, then one table per seed group."""
    labels = [c.label for c in table.columns]
    out = [f"# detaudit table: {len(table.rows)} entries × {len(labels)} columns", ""]
    for source, note in table.notes():
        out += [f"> **Note** (`{source}`): {note}.", ""]
    out += _table(
        ("column", "report"), ((label, f"`{c.source}`") for label, c in zip(labels, table.columns))
    )
    out += ["", "## Counts", ""]
    counts = [table.column_counts(i) for i in range(len(labels))]
    out += _table(
        ("status", *labels, "meaning"),
        (
            (f"`{status.value}`", *(c[status] for c in counts), STATUS_INFO[status].meaning)
            for status in Status
            if any(c[status] for c in counts)
        ),
    )
    drifts = table.drifts()
    out += ["", f"## Drift ({len(drifts)})", ""]
    if drifts:
        out += _table(
            ("id", "column", "docs claim", "observed", "kernel"),
            (
                (
                    row.id,
                    column.label,
                    f"{r.expected} ({r.expected_from})",
                    r.status.value,
                    r.kernel,
                )
                for row, column, r in drifts
            ),
        )
    else:
        out.append("None: every observed status matches what the docs of its torch claim.")
    for group, indices in table.groups():
        out += ["", f"## {group} (seed group)", ""]
        out += _table(
            ("id", "api", "pass", *labels),
            (
                (
                    table.rows[i].id,
                    f"`{table.rows[i].api}`",
                    table.rows[i].pass_,
                    *(_md_cell(cell) for cell in table.cells[i]),
                )
                for i in indices
            ),
        )
    return "\n".join(out) + "\n"


def render_csv(table: Table) -> str:
    """The matrix as CSV: one row per entry, one status column per (report, device).

    A cell is the bare status (empty where the report lacks the entry); drift
    and repeatability are in the Markdown, HTML and JSON views.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "group", "api", "condition", "pass", *(c.label for c in table.columns)])
    for row, cells in zip(table.rows, table.cells):
        writer.writerow(
            [
                row.id,
                row.group,
                row.api,
                row.condition,
                row.pass_,
                *(cell.status.value if cell else "" for cell in cells),
            ]
        )
    return buffer.getvalue()
