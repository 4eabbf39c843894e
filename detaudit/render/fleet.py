"""The ``fleet`` document: each node type's Slurm job, then the fleet table (Markdown, HTML)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from . import html as _html
from . import table as _table
from .prose import md_table as _md_table

if TYPE_CHECKING:
    from ..fleet.result import Fleet, Outcome

__all__ = ["render_html", "render_markdown"]


def _column(fleet: Fleet, outcome: Outcome) -> str:
    """The outcome's columns in the table (a failed one's is ``NAME · failed``), or ``failed``."""
    if fleet.table is None:
        return "failed"
    if outcome.failed:
        return f"{outcome.node.name} · failed"
    return ", ".join(c.label for c in fleet.table.columns if c.source == str(outcome.report))


def _state(outcome: Outcome) -> str:
    code = f" (exit {outcome.exit_code})" if outcome.exit_code not in (None, "0:0") else ""
    return f"{outcome.state}{code}"


def render_markdown(fleet: Fleet) -> str:
    """The node types, then the table, where a failed node type is a failed column.

    The failed column's Slurm state and stderr tail are in the table's "Failed
    columns"; with no table at all, under the node types.
    """
    n = len(fleet.outcomes)
    out = [
        f"# detaudit fleet: {n} node type{'s' * (n != 1)}, {len(fleet.failed)} failed",
        "",
        "## Node types",
        "",
    ]
    out += _md_table(
        ("node type", "sbatch options", "job", "Slurm state", "columns"),
        (
            (
                o.node.name,
                f"`{' '.join(o.node.sbatch)}`" if o.node.sbatch else "",
                o.job_id or "",
                _state(o),
                f"**{_column(fleet, o)}**" if o.failed else _column(fleet, o),
            )
            for o in fleet.outcomes
        ),
    )
    if fleet.table is None:
        for o in fleet.failed:
            out += ["", f"### {o.node.name}: failed", "", f"{o.why}."]
            if o.stderr:
                out += ["", "The job's stderr (last lines):", "", "```", o.stderr, "```"]
        out += ["", "No node type gave a report: no table."]
        return "\n".join(out) + "\n"
    table = _table.render_markdown(fleet.table)
    # The table's headings one level down, under this document's title.
    out += [""] + [f"#{line}" if line.startswith("#") else line for line in table.splitlines()]
    return "\n".join(out) + "\n"


def _failed_html(fleet: Fleet, outcome: Outcome) -> str:
    """A failed node type's cell: its column, or (no table) why and its stderr tail."""
    if fleet.table is not None:
        return f"<b>{escape(_column(fleet, outcome))}</b>: the table's column foot gives why"
    stderr = f"<pre>{escape(outcome.stderr)}</pre>" if outcome.stderr else ""
    return f"<b>failed</b>: {escape(outcome.why or '')}{stderr}"


def _nodes_html(fleet: Fleet) -> str:
    rows = "".join(
        f"<tr><th>{escape(o.node.name)}</th><td><code>{escape(' '.join(o.node.sbatch))}</code></td>"
        f"<td>{escape(o.job_id or '')}</td><td>{escape(_state(o))}</td>"
        f"<td>{_failed_html(fleet, o) if o.failed else escape(_column(fleet, o))}</td></tr>"
        for o in fleet.outcomes
    )
    return (
        '<div class="block"><h2>Node types</h2><table class="list"><thead><tr><th>node type</th>'
        "<th>sbatch options</th><th>job</th><th>Slurm state</th><th>columns</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>\n"
    )


def render_html(fleet: Fleet) -> str:
    """The fleet table's page with the node types first; a failed node type is a failed column."""
    nodes = _nodes_html(fleet)
    if fleet.table is None:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>detaudit fleet</title></head><body><h1>detaudit fleet</h1>\n"
            f"{nodes}<p>No node type gave a report: no table.</p>\n</body></html>\n"
        )
    page = _html.render_table(fleet.table).replace("compatibility table", "fleet table", 2)
    marker = '<div class="cards">'
    return page.replace(marker, nodes + marker, 1)
