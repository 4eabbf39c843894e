"""The HTML page: one self-contained file (inline CSS, no script, no network) with a matrix.

``detaudit audit --format html`` renders one report (:func:`render`);
``detaudit table --format html`` renders many (:func:`render_table`). Both
pages are the same matrix: rows are catalogue entries grouped as the seed
groups them, columns are (report, device), cells are coloured by status,
drift is marked, and each cell's ``title`` holds the kernel and the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING

from .._version import __version__
from ..compare import table as _table
from ..compare.bits import NOT_COMPARED_MEANING
from ..compare.compiled import DIVERGENCE_MEANING, compiled_state, divergence
from ..model.report import ProbeResult, Report, Status
from ..model.vocabulary import CLAIMS, STATUS_INFO
from .findings import Finding, Tone, bits_summary, findings
from .prose import (
    COST_HEADER,
    REACH,
    TWO_WAYS,
    cost_intro,
    cost_rows,
    environment_rows,
    reach_notes,
    remedies,
    timed_results,
    title,
    two_ways,
    two_ways_reading,
)
from .table import NOT_OBSERVED, failed_sentence

if TYPE_CHECKING:
    from ..compare.bits import BitMark
    from ..compare.table import Column, FailedColumn, Row, Table

__all__ = ["PALETTE", "render", "render_table"]

GROUP_MEANING = {
    "converted": "the docs say these use a deterministic implementation under the mode",
    "raises": "the docs say these throw a RuntimeError under the mode",
    "observed": "not in the docs: known only by running it",
}
_SIDE_BY_SIDE = 2  # up to this many columns, the details sit beside the matrix
_QUOTE = '"'  # around a column's label in running text

#: Status -> (cell background, cell text, dot), from the vocabulary's table.
PALETTE = {status: info.colour for status, info in STATUS_INFO.items()}

# The page's stylesheet ships in the package beside this module; the status colours follow it.
_CSS = "\n" + files(__package__).joinpath("report.css").read_text(encoding="utf-8")


#: A finding's tone -> the status whose colours it borrows (drift and quiet are in the CSS).
_TONE_COLOURS = {Tone.RAISES: Status.RAISES, Tone.FAILED: Status.ERROR, Tone.NOTE: Status.WARNS}


def _status_css() -> str:
    """Two rules per status, from :data:`PALETTE`: the vocabulary's colours, named nowhere else.

    The findings' tones borrow a status's dot (their edge) and text (their heading).
    """
    statuses = (
        f".st-{s.value} {{ background: {bg}; color: {fg}; }}\n"
        f".dot.st-{s.value} {{ background: {dot}; }}"
        for s, (bg, fg, dot) in PALETTE.items()
    )
    tones = (
        f".finding.tone-{tone.value} {{ border-left-color: {PALETTE[s][2]}; }}\n"
        f".finding.tone-{tone.value} h2 {{ color: {PALETTE[s][1]}; }}"
        for tone, s in _TONE_COLOURS.items()
    )
    return "\n".join([*statuses, *tones])


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _tooltip(row: Row, column: Column, result: ProbeResult, mark: BitMark | None = None) -> str:
    """The cell's ``title``: what was observed, the kernel, the docs' claim and the message."""
    lines = [
        f"{row.id} · {column.label}",
        f"status: {result.status.value} ({STATUS_INFO[result.status].meaning})",
    ]
    if result.kernel:
        lines.append(f"kernel: {result.kernel}")
    if result.expected is not None:
        lines.append(f"docs claim: {result.expected} ({result.expected_from})")
    elif result.expected_from:
        lines.append(f"docs claim: none ({result.expected_from})")
    if result.drift:
        lines.append(f"DRIFT: observed {result.status.value}, the docs claim {result.expected}")
    if result.status.observed:
        lines.append(
            "distinct bit patterns over the runs with the mode on: "
            f"{result.patterns(mode_on=True) or 'not measured'}; "
            f"off: {result.patterns(mode_on=False) or 'not measured'}"
        )
    if mark is not None and mark.group:
        lines.append(f"bits: group {mark.group} (same letter in this row, same bits)")
    elif mark is not None and mark.reason:
        lines.append(f"bits: {NOT_COMPARED_MEANING[mark.reason]}")
    if result.backward_only is not None:
        lines.append(f"backward, two ways: {two_ways_reading(result)}")
    if result.reach_note:
        lines.append(result.reach_note)
    if result.message:
        lines.append(f"message: {result.message}")
    lines += _compiled_lines(result)
    return "\n".join(lines)


def _compiled_lines(result: ProbeResult) -> list[str]:
    """The tooltip's lines on the ``torch.compile`` observation (``audit --compile`` only)."""
    compiled = result.compiled
    if compiled is None:
        return []
    lines = [f"compiled ({compiled.backend}): {compiled_state(result)}"]
    if compiled.same_as_eager is not None:
        lines.append(f"compiled bits same as eager: {'yes' if compiled.same_as_eager else 'no'}")
    found = divergence(result)
    if found:
        lines.append(f"COMPILED DIFFERS: {found} ({DIVERGENCE_MEANING[found]})")
    if compiled.message:
        lines.append(f"compiled message: {compiled.message}")
    return lines


def _cell(row: Row, column: Column, result: ProbeResult | None, mark: BitMark | None = None) -> str:
    if result is None:
        return f'<td class="c none" title="{_e(f"{row.id}: not in this report")}">–</td>'
    status = result.status.value
    marks = ""
    if result.drift:
        marks += '<i class="m drift">◆</i>'
    if _table.bits_differ(result):
        marks += '<i class="m differ">≠</i>'
    if divergence(result):
        marks += '<i class="m compiled">⚙</i>'
    if mark is not None and mark.group:
        same = "" if mark.same else " other"
        marks += f'<i class="m bits{same}">{_e(mark.group)}</i>'
    if result.two_ways_differ:
        marks += '<i class="m">⇄</i>'
    if result.reach_note:
        marks += '<i class="m">↯</i>'
    css = "c d" if result.drift else "c"
    kernel = f'<code class="k">{_e(result.kernel)}</code>' if result.kernel else ""
    return (
        f'<td class="{css}" data-id="{_e(row.id)}" data-column="{_e(column.label)}" '
        f'data-status="{status}" title="{_e(_tooltip(row, column, result, mark))}">'
        f'<span class="s st-{status}">{status}{marks}</span>{kernel}</td>'
    )


def _column_header(column: Column) -> str:
    torch, _, rest = column.label.partition(" · ")
    parts = "".join(f'<span class="dev">{_e(p)}</span>' for p in rest.split(" · ") if p)
    return (
        f'<th class="col" scope="col" title="{_e(column.source)}">'
        f'<span class="torch">{_e(torch)}</span>{parts}</th>'
    )


def _failed_header(failed: FailedColumn) -> str:
    name, _, rest = failed.label.partition(" · ")
    return (
        f'<th class="col failed" scope="col" title="{_e(failed.why)}">'
        f'<span class="torch">{_e(name)}</span><span class="dev">{_e(rest or "failed")}</span></th>'
    )


def _failed_cell(row: Row, failed: FailedColumn) -> str:
    why = f"{row.id} · {failed.label}: not observed, no report ({failed.why})"
    return f'<td class="c none failed" title="{_e(why)}">{_e(NOT_OBSERVED)}</td>'


def _failed_foot(table: Table) -> str:
    """The failed columns' foot: state, exit code, why and the stderr tail."""
    cells = "".join(
        f'<td class="failed"><b>{_e(f.state or "failed")}</b>'
        + (f" exit code {_e(f.exit_code)}" if f.exit_code else "")
        + f"<br>{_e(f.why)}"
        + (f"<pre>{_e(f.stderr)}</pre>" if f.stderr else "")
        + "</td>"
        for f in table.failed
    )
    return (
        "<tr><th>failed: why</th>" + "".join("<td></td>" for _ in table.columns) + cells + "</tr>"
    )


def _matrix(table: Table) -> list[str]:
    width = len(table.columns) + len(table.failed) + 1
    out = ['<div class="wrap" id="matrix"><table class="matrix">', "<thead><tr>"]
    out.append('<th class="entry" scope="col">entry</th>')
    out += [_column_header(c) for c in table.columns]
    out += [_failed_header(f) for f in table.failed]
    out.append("</tr></thead>")
    marks = (
        table.bit_marks() if table.has_bits() else [[None] * len(table.columns)] * len(table.rows)
    )
    for group, indices in table.groups():
        out.append(f'<tbody><tr class="group"><th colspan="{width}">{_e(group)}')
        seed = " (seed group)" if group in CLAIMS else ""
        out.append(f"<span>{_e(GROUP_MEANING.get(group, ''))}{seed}</span></th></tr>")
        for i in indices:
            row = table.rows[i]
            out.append(
                f'<tr id="{_e(row.id)}"><th class="entry" scope="row">'
                f'<span class="id mono">{_e(row.id)}</span><span class="pass">{_e(row.pass_)}</span>'
                f'<div class="api"><code>{_e(row.api)}</code> · {_e(row.condition)}</div></th>'
            )
            out += [_cell(row, c, r, m) for c, r, m in zip(table.columns, table.cells[i], marks[i])]
            out += [_failed_cell(row, f) for f in table.failed]
            out.append("</tr>")
        out.append("</tbody>")
    counts = [table.column_counts(i) for i in range(len(table.columns))]
    out.append("<tfoot>")
    for status in Status:
        if not any(c[status] for c in counts):
            continue
        out.append(
            f'<tr><th><span class="dot st-{status.value}"></span>{status.value}</th>'
            + "".join(
                f'<td class="{"zero" if not c[status] else ""}">{c[status]}</td>' for c in counts
            )
            + '<td class="zero">–</td>' * len(table.failed)
            + "</tr>"
        )
    if table.failed:
        out.append(_failed_foot(table))
    out.append("</tfoot></table></div>")
    return out


def _compiled_legend(table: Table) -> str:
    """The compiled mark's legend, where some cell has a compiled observation."""
    if not any(cell is not None and cell.compiled for cells in table.cells for cell in cells):
        return ""
    return '<span><i class="m compiled">⚙</i>torch.compile differs from eager</span>'


def _cards(table: Table) -> list[str]:
    """Counts per status over the whole matrix; with the colours, they are the legend.

    The bit-identity card is neutral: identity is a measurement, and a matrix
    whose columns could not be compared says so in words, not as "0 of N".
    """
    counts = table.counts()
    out = ['<div class="cards">']
    for status in Status:
        if counts[status]:
            out.append(
                f'<div class="card st-{status.value}"><b>{counts[status]}</b>'
                f"<span>{status.value}</span><small>{_e(STATUS_INFO[status].meaning)}</small></div>"
            )
    bits = bits_summary(table)
    if bits is not None:
        figure, label, why = bits
        failed = "; failed columns left out" if table.failed else ""
        out.append(
            f'<div class="card bits" data-card="bits"><b>{_e(figure)}</b><span>{_e(label)}</span>'
            f"<small>{_e(why)}{failed}</small></div>"
        )
    out.append("</div>")
    absent = ", ".join(s.value for s in Status if not counts[s])
    out.append(
        '<div class="legend"><span><i class="m drift">◆</i>drift: the cell is outlined</span>'
        '<span><i class="m differ">≠</i>bits differ across mode-on runs</span>'
        + _compiled_legend(table)
        + (
            '<span><i class="m bits">A</i>same letter in a row, same mode-on bits; '
            '<i class="m bits other">B</i>other bits from the same inputs; no letter: not '
            "compared (other device type or inputs, bits that vary, an alert; hover the cell)"
            "</span>"
            if bits is not None
            else ""
        )
        + "<span>– the report has no such result</span>"
        + (
            f"<span><b>{_e(NOT_OBSERVED)}</b>: {_e(failed_sentence(table, quote=_QUOTE))}; "
            "the column's foot gives why</span>"
            if table.failed
            else ""
        )
        + (
            '<span><i class="m">⇄</i>backward: the two ways differ (see below)</span>'
            if any(
                cell is not None and cell.two_ways_differ for cells in table.cells for cell in cells
            )
            else ""
        )
        + (
            '<span><i class="m">↯</i>the strict run did not reach the entry\'s op '
            "(decomposed under the mode; see below)</span>"
            if any(cell is not None and cell.reach_note for cells in table.cells for cell in cells)
            else ""
        )
        + (f"<span><b>none</b>: {_e(absent)}</span>" if absent else "")
        + "<span>hover a cell for the docs' claim and the whole message</span></div>"
    )
    return out


def _h2(anchor: str, text: str) -> str:
    """A details section's heading, after the anchor a finding's "more below" links to."""
    return f'<span class="anchor" id="{anchor}"></span><h2>{_e(text)}</h2>'


def _rows(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    """A plain list table; cells are already HTML."""
    out = ['<table class="list"><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    out += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return out


def _where(table: Table, column: Column) -> str:
    """A column's label; on a one-report page (whose title names torch and GPU), its device."""
    return column.label if len(table.reports) > 1 else column.device


def _drift(table: Table) -> list[str]:
    drifts = table.drifts()
    out = [_h2("s-drift", f"Drift ({len(drifts)})")]
    if not drifts:
        return [*out, '<p class="none">None: every observed status matches the docs of its torch.</p>']
    return out + _rows(
        ("entry", "column", "docs claim", "observed", "kernel"),
        (
            (
                f'<a href="#{_e(row.id)}" class="mono">{_e(row.id)}</a>',
                _e(_where(table, column)),
                _e(f"{r.expected} ({r.expected_from})"),
                f'<span class="dot st-{r.status.value}"></span>{r.status.value}',
                f"<code>{_e(r.kernel or '–')}</code>",
            )
            for row, column, r in drifts
        ),
    )


def _not_observed(table: Table) -> list[str]:
    found = [
        (row, column, cell)
        for row, cells in zip(table.rows, table.cells)
        for column, cell in zip(table.columns, cells)
        if cell is not None and STATUS_INFO[cell.status].failed
    ]
    if not found:
        return []
    out = [_h2("s-not-observed", f"Not observed ({len(found)})")]
    return out + _rows(
        ("entry", "column", "status", "why"),
        (
            (
                f'<span class="mono">{_e(row.id)}</span>',
                _e(_where(table, column)),
                f'<span class="dot st-{r.status.value}"></span>{r.status.value}',
                f"<pre>{_e(r.message)}</pre>",
            )
            for row, column, r in found
        ),
    )


def _two_ways(table: Table) -> list[str]:
    """Backward results whose two observations differ; nothing when no cell has both."""
    cells = [
        (row, column, cell)
        for row, row_cells in zip(table.rows, table.cells)
        for column, cell in zip(table.columns, row_cells)
        if cell is not None and cell.backward_only is not None
    ]
    if not cells:
        return []
    differ, _, both = two_ways(cell for _, _, cell in cells)
    out = [
        _h2("s-two-ways", f"Backward, two ways ({len(differ)} differ)"),
        f'<p class="sub">{_e(TWO_WAYS)}</p>',
    ]
    shown = [(row, column, r) for row, column, r in cells if r.two_ways_differ is not False]
    if not shown:
        return [
            *out,
            f'<p class="none">None differ: {both} backward results the same both ways.</p>',
        ]
    return out + _rows(
        ("entry", "column", "⇄ two ways"),
        (
            (
                f'<a href="#{_e(row.id)}" class="mono">{_e(row.id)}</a>',
                _e(_where(table, column)),
                _e(two_ways_reading(r)),
            )
            for row, column, r in shown
        ),
    )


def _reach(table: Table) -> list[str]:
    """Cells whose strict run did not reach the op the entry names; nothing when all did."""
    cells = [
        (row, column, cell)
        for row, row_cells in zip(table.rows, table.cells)
        for column, cell in zip(table.columns, row_cells)
        if cell is not None
    ]
    missed = {id(r) for r in reach_notes(cell for _, _, cell in cells)}
    shown = [(row, column, r) for row, column, r in cells if id(r) in missed]
    if not shown:
        return []
    return [_h2("s-reach", f"Not reached under the mode ({len(shown)})"), f'<p class="sub">{_e(REACH)}</p>', *_rows(("entry", "column", "↯ what ran"), ((f'<a href="#{_e(row.id)}" class="mono">{_e(row.id)}</a>', _e(_where(table, column)), _e(r.reach_note)) for row, column, r in shown))]


def _settings(report: Report) -> str | None:
    s = report.settings
    if not s:
        return None
    return f"repeat {s.get('repeat')}, timeout {s.get('timeout')} s, seed {s.get('seed')}"


def _environments(table: Table, *, sources: bool) -> list[str]:
    reports = table.reports
    out = [f"<h2>Environment{'s' if len(reports) > 1 else ''}</h2>", '<div class="envs">']
    for source, report in reports:
        out.append(f'<div class="env"><h3>{_e(title(report))}</h3>')
        if sources:
            out.append(f'<div class="src mono">{_e(source)}</div>')
        rows = [*environment_rows(report), ("settings", _settings(report))]
        out.append("<table>")
        out += [
            f"<tr><th>{_e(label)}</th><td>{_e(value if value not in (None, '') else '–')}</td></tr>"
            for label, value in rows
        ]
        out.append("</table></div>")
    out.append("</div>")
    return out


def _body(table: Table, *, sources: bool, sections: list[str]) -> list[str]:
    """The matrix, then drift, failures, ``sections`` and environments; beside a narrow matrix."""
    details = [
        *_drift(table),
        *_not_observed(table),
        *_reach(table),
        *sections,
        *_two_ways(table),
        *_environments(table, sources=sources),
    ]
    if len(table.columns) > _SIDE_BY_SIDE:
        return [*_matrix(table), *details]
    return [
        '<div class="split"><div>',
        *_matrix(table),
        "</div><aside>",
        *details,
        "</aside></div>",
    ]


def _notes(table: Table) -> list[str]:
    """One line per report mostly of errors, or whose torch is newer than its docs read."""
    many = len(table.reports) > 1
    return [
        f'<p class="sub note"><b>{word}</b>: {_e(f"{source}: " if many else "")}{_e(note)}.</p>'
        for word, notes in (("Warning", table.warnings()), ("Note", table.notes()))
        for source, note in notes
    ]


def _cost(report: Report) -> list[str]:
    """What deterministic mode costs each timed entry (``audit --cost``); nothing otherwise."""
    timed = timed_results(report)
    if not timed:
        return []
    rows = [tuple(_e(c) for c in row) for row in cost_rows(timed)]
    return [
        '<section class="cost">' + _h2("s-cost", f"Cost of determinism ({len(timed)})"),
        f"<p>{_e(cost_intro(timed))}</p>",
        *_rows(COST_HEADER, rows),
        "</section>",
    ]


def _remedies(report: Report) -> list[str]:
    """What to do about each entry that raised: the catalogue's remedy, once per entry."""
    seen = remedies(report)
    if not seen:
        return []
    items = "".join(
        f'<li><span class="mono">{_e(i)}</span>: {_e(text)}</li>' for i, text in seen.items()
    )
    return [
        '<section class="remedies">' + _h2("s-remedies", "What to do"),
        f"<ul>{items}</ul>",
        "</section>",
    ]


def _census(report: Report) -> list[str]:
    """The alert census: the alert names of this torch no entry probed here."""
    census = report.census
    if census is None:
        return []
    out = [
        '<section class="census">' + _h2("s-census", "Alert census"),
        f"<p>{_e(census.line)}</p>",
    ]
    if census.taken and census.unprobed:
        out.append("<ul>" + "".join(f'<li class="mono">{_e(n)}</li>' for n in census.unprobed))
        out.append("</ul>")
    return [*out, "</section>"]


#: How many entries a finding names on the first screen; the rest are counted and linked.
_NAMED = 6


def _finding(finding: Finding, below: str) -> str:
    """One headline card: the count, what it means, and the first entries it names.

    Past :data:`_NAMED` entries, a link to their section in ``below`` (the
    page's details), or to the matrix when the page has no such section.
    """
    items = []
    for item in finding.items[:_NAMED]:
        name = (
            f'<a class="mono" href="#{_e(item.entry)}">{_e(item.text)}</a>'
            if item.entry
            else f'<span class="mono">{_e(item.text)}</span>'
        )
        where = f' <span class="where">{_e(item.where)}</span>' if item.where else ""
        detail = f' <code class="k">{_e(item.detail)}</code>' if item.detail else ""
        items.append(f"<li>{name}{where}{detail}</li>")
    rest = len(finding.items) - _NAMED
    if rest > 0:
        anchor = finding.section if f'id="{finding.section}"' in below else "matrix"
        items.append(f'<li class="more"><a href="#{anchor}">+ {rest} more below</a></li>')
    items += [f'<li class="line">{_e(line)}</li>' for line in finding.lines]
    return (
        f'<section class="finding tone-{finding.tone.value}" data-finding="{finding.key}">'
        f"<h2><b>{finding.count}</b> {_e(finding.title)}</h2>"
        f'<p class="meaning">{_e(finding.meaning)}</p>'
        + (f"<ul>{''.join(items)}</ul>" if items else "")
        + "</section>"
    )


def _findings(table: Table, below: str) -> list[str]:
    """The first screen: what raises, what drifted, what was not observed, then the rest."""
    return ['<div class="findings">', *(_finding(f, below) for f in findings(table)), "</div>"]


def _page(
    heading: str, subtitle: str, table: Table, *, sources: bool, sections: list[str] | None = None
) -> str:
    details = "\n".join(_body(table, sources=sources, sections=sections or []))
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="detaudit {_e(__version__)}">',
        f"<title>{_e(heading)}</title>",
        f"<style>{_CSS}{_status_css()}\n</style></head><body>",
        f'<header><span class="brand">detaudit</span><h1>{_e(heading)}</h1></header>',
        f'<p class="sub">{_e(subtitle)}</p>',
        *_notes(table),
        *_findings(table, details),
        *_cards(table),
        details,
        (
            f"<footer>Made by detaudit {_e(__version__)}: every status comes from running the op "
            "under torch.use_deterministic_algorithms(True). A self-contained page: no script, "
            "no network.</footer>"
        ),
        "</body></html>",
    ]
    return "\n".join(body) + "\n"


def render(report: Report) -> str:
    """One report as a self-contained HTML page (``detaudit audit --format html``)."""
    table = _table.build_table([report])
    entries = len(table.rows)
    subtitle = (
        f"{entries} entries on {', '.join(report.devices)} · {report.environment.time or 'no time'}"
    )
    return _page(
        f"report: {title(report)}",
        subtitle,
        table,
        sources=False,
        sections=[*_remedies(report), *_census(report), *_cost(report)],
    )


def render_table(table: Table) -> str:
    """Many reports' matrix as a self-contained HTML page (``detaudit table --format html``)."""
    reports = len(table.reports)
    failed = f" (+ {len(table.failed)} failed, no report)" if table.failed else ""
    subtitle = (
        f"{len(table.rows)} entries × {len(table.columns)} columns{failed} from {reports} "
        f"report{'s' if reports != 1 else ''}; columns sorted by torch version, then device"
    )
    return _page("compatibility table", subtitle, table, sources=True)
