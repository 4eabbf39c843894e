"""The ``divergence`` document as HTML: the two traces side by side, the environment, a bar per step."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..trace.compare import Comparison, OpView

__all__ = ["render"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;font-family:monospace;font-size:90%}tr.differ td{background:#fde2e2}
tr.first td{background:#f8b4b4;font-weight:bold}.bar{background:#d33;height:1em}
.bars td{border:none}.sentence{font-size:120%}
"""


def _cell(view: OpView | None) -> str:
    if view is None:
        return "<td colspan=3>(no op)</td>"
    return (
        f"<td>{escape(view.op)}</td><td>{escape(view.pass_)}</td><td>{escape(view.location)}</td>"
    )


def render(comparison: Comparison) -> str:
    """One self-contained page."""
    from ..trace.compare import CAUSE_TEXT
    from .divergence import same_sentence

    c = comparison
    d = c.divergence
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>detaudit compare</title>",
        f"<style>{_CSS}</style></head><body><h1>Why do the two runs differ?</h1>",
    ]
    if d is None:
        parts.append(f"<p class=sentence>{escape(same_sentence(c))}</p>")
    else:
        parts.append(f"<p class=sentence>{escape(d.sentence)}</p>")
        parts.append(f"<p><b>Cause:</b> {escape(CAUSE_TEXT[d.cause])}</p><ul>")
        parts.extend(f"<li>{escape(x)}</li>" for x in d.details)
        parts.append(f"</ul><p><b>Fix:</b> {escape(d.fix)}</p>")
    if d is not None and c.aligned_by == "sequence":
        parts.append("<h2>The two traces around the divergence</h2><table>")
        parts.append("<tr><th>#</th><th colspan=3>run A</th><th colspan=3>run B</th></tr>")
        for va, vb, same in c.context:
            index = (va or vb).index  # type: ignore[union-attr]
            kind = "first" if index == d.index else ("" if same else "differ")
            parts.append(f"<tr class='{kind}'><td>{index}</td>{_cell(va)}{_cell(vb)}</tr>")
        parts.append("</table><h2>Ops that differ, per step</h2><table class=bars>")
        for step, differ, total in c.spread:
            width = 0 if not total else round(300 * differ / total)
            parts.append(
                f"<tr><td>step {step}</td><td><div class=bar style='width:{width}px'></div></td>"
                f"<td>{differ}/{total}</td></tr>"
            )
        parts.append("</table>")
    for run, op, pass_, where in c.rerun:
        parts.append(
            f"<p>--rerun (run {run}): {escape(op)} ({escape(pass_)}) at {escape(where)} gave "
            "other bits when run again on the same inputs.</p>"
        )
    parts.append("<h2>Environment</h2>")
    if c.environment:
        parts.append(
            "<table><tr><th>setting</th><th>run A</th><th>run B</th><th>why it matters</th></tr>"
        )
        for name, a, b, why in c.environment:
            parts.append(
                f"<tr><td>{escape(name)}</td><td>{escape(str(a))}</td><td>{escape(str(b))}</td>"
                f"<td>{escape(why)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>The same in both runs.</p>")
    parts.append(
        f"<p>Run A: {escape(c.a)} ({c.ops_a} ops{'' if c.complete_a else ', partial'})<br>"
        f"Run B: {escape(c.b)} ({c.ops_b} ops{'' if c.complete_b else ', partial'})</p>"
    )
    parts.append("</body></html>\n")
    return "".join(parts)
