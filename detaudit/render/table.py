"""The ``table`` document: Markdown and CSV views of a :class:`~detaudit.compare.table.Table`.

The HTML view is :func:`detaudit.render.html.render_table`, beside the report's page.
"""

from __future__ import annotations

import csv
import io

from ..compare.bits import NOT_COMPARED_MEANING, VERDICT_MEANING, BitMark, Verdict
from ..compare.compiled import divergence
from ..compare.table import FailedColumn, Table, bits_differ
from ..model.report import ProbeResult, Status
from ..model.vocabulary import STATUS_INFO, group_heading
from .prose import md_table as _table

__all__ = ["render_csv", "render_markdown"]


def _md_cell(result: ProbeResult | None, mark: BitMark | None = None) -> str | None:
    if result is None:
        return None
    text = f"**{result.status.value}** (drift)" if result.drift else result.status.value
    text = text + " (bits differ)" if bits_differ(result) else text
    found = divergence(result)
    text = f"{text} (compiled: {found})" if found else text
    text += _two_ways_mark(result)
    return f"{text} · `{mark.group}`" if mark is not None and mark.group else text


#: The bit-identity legend, shared by the Markdown and HTML tables.
BITS_LEGEND = (
    "A letter in a cell groups the columns that gave this entry the same mode-on bits: "
    "same letter, same bits; another letter, other bits. Only columns whose probes had the "
    "same inputs are compared: the same device type (a cpu column is never compared with a "
    "cuda one: their generators draw different numbers), the same seed and the same random "
    "generator draws (the report's rng canary), and only results that ran with no alert and "
    "whose bits repeated over the mode-on runs. A cell without a letter was not compared"
)


#: What a failed column's cells say: no status, as nothing ran.
NOT_OBSERVED = "not observed"


def failed_sentence(table: Table, quote: str = "`") -> str:
    """Why the failed columns have no status and no letter; empty when there is none."""
    if not table.failed:
        return ""
    labels = ", ".join(f"{quote}{f.label}{quote}" for f in table.failed)
    return (
        f"Failed column{'s' * (len(table.failed) != 1)} {labels}: the audit gave no report, so "
        "every cell is not observed, and the counts and the bit identity leave "
        f"{'them' if len(table.failed) != 1 else 'it'} out (nothing compared)"
    )


def _state(failed: FailedColumn) -> str:
    return ", ".join(
        part
        for part in (
            f"state {failed.state}" if failed.state else "",
            f"exit code {failed.exit_code}" if failed.exit_code else "",
        )
        if part
    )


def _failed_section(table: Table) -> list[str]:
    """Each failed column's state, exit code, one-line why and stderr tail."""
    out = ["", f"## Failed columns ({len(table.failed)})", "", failed_sentence(table) + "."]
    for failed in table.failed:
        state = _state(failed)
        out += ["", f"### {failed.label}", "", f"{failed.why}{f' ({state})' if state else ''}."]
        if failed.stderr:
            out += ["", "The job's stderr (last lines):", "", "```", failed.stderr, "```"]
    return out


def _bits_section(table: Table) -> list[str]:
    counts = table.bit_counts()
    marks = [m for row in table.bit_marks() for m in row if m is not None and m.reason]
    reasons = {m.reason: sum(1 for n in marks if n.reason is m.reason) for m in marks}
    legend = BITS_LEGEND + "." + (f" {failed_sentence(table)}." if table.failed else "")
    out = ["", "## Bit identity", "", legend, ""]
    out += _table(
        ("entries", "bits across the columns", "meaning"),
        ((counts[v], v.label, VERDICT_MEANING[v]) for v in Verdict),
    )
    if reasons:
        out += ["", "Cells not compared:", ""]
        out += _table(("cells", "why"), ((n, NOT_COMPARED_MEANING[r]) for r, n in reasons.items()))
    return out


def _two_ways_mark(result: ProbeResult) -> str:
    """`` (backward only: raises)`` where a backward entry's two observations differ."""
    if not result.two_ways_differ or result.backward_only_status is None:
        return ""
    return f" (backward only: {result.backward_only_status.value})"


def render_markdown(table: Table) -> str:
    """The matrix as GitHub-flavoured Markdown: counts, drift, then one table per group."""
    labels = [c.label for c in table.columns]
    failed = [f.label for f in table.failed]
    more = f" (+ {len(failed)} failed)" if failed else ""
    out = [f"# detaudit table: {len(table.rows)} entries × {len(labels)} columns{more}", ""]
    for source, note in table.notes():
        out += [f"> **Note** (`{source}`): {note}.", ""]
    out += _table(
        ("column", "report"),
        (
            *((label, f"`{c.source}`") for label, c in zip(labels, table.columns)),
            *((f.label, f"**failed**, no report: {f.why}") for f in table.failed),
        ),
    )
    out += ["", "## Counts", ""]
    counts = [table.column_counts(i) for i in range(len(labels))]
    out += _table(
        ("status", *labels, *failed, "meaning"),
        (
            (
                f"`{status.value}`",
                *(c[status] for c in counts),
                *("–" for _ in failed),
                STATUS_INFO[status].meaning,
            )
            for status in Status
            if any(c[status] for c in counts)
        ),
    )
    bits = table.has_bits()
    if bits:
        out += _bits_section(table)
    marks = table.bit_marks()
    verdicts = table.bit_verdicts()
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
        out += ["", f"## {group_heading(group)}", ""]
        out += _table(
            ("id", "api", "pass", *labels, *failed, *(("bits",) if bits else ())),
            (
                (
                    table.rows[i].id,
                    f"`{table.rows[i].api}`",
                    table.rows[i].pass_,
                    *(_md_cell(cell, mark) for cell, mark in zip(table.cells[i], marks[i])),
                    *(f"*{NOT_OBSERVED}*" for _ in failed),
                    *((verdicts[i].label,) if bits else ()),
                )
                for i in indices
            ),
        )
    if table.failed:
        out += _failed_section(table)
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
