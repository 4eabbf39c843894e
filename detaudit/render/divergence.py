"""The ``divergence`` document: text and JSON views of ``detaudit compare``'s Comparison."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..trace.compare import Comparison

__all__ = ["render_json", "render_text", "same_sentence"]

WIDTH = 100


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    )


def _value(value: Any) -> str:
    return "unset" if value is None else str(value)


def same_sentence(comparison: Comparison) -> str:
    """What a comparison without a divergence says (text and HTML alike)."""
    c = comparison
    if c.aligned_by == "location":
        return (
            f"Same results: every user line produced the same bits in both runs, though the "
            f"op sequences differ ({c.ops_a} and {c.ops_b} ops: another torch's decompositions); "
            "aligned by user line."
        )
    return f"Identical: both runs ran the same {c.ops_a} ops with the same bits."


def render_text(comparison: Comparison) -> str:
    """The first divergence as one sentence, then its details, fix, spread and environment."""
    from ..trace.compare import CAUSE_TEXT

    c = comparison
    lines = []
    d = c.divergence
    if d is None:
        lines.extend(textwrap.wrap(same_sentence(c), WIDTH, break_on_hyphens=False))
    else:
        lines.extend(textwrap.wrap(d.sentence, WIDTH, break_on_hyphens=False))
        lines.append(f"  cause: {CAUSE_TEXT[d.cause]}")
        for detail in d.details:
            lines.extend(_wrap(f"- {detail}"))
        lines.extend(_wrap(f"fix: {d.fix}"))
    if d is not None and c.spread:
        later = sum(n for _, n, _ in c.spread)
        total = sum(n for _, _, n in c.spread)
        steps = ", ".join(f"step {s}: {n}/{t}" for s, n, t in c.spread[:12])
        more = f", ... ({len(c.spread) - 12} more steps)" if len(c.spread) > 12 else ""
        lines.append(f"Spread: {later} of the {total} ops from there on differ ({steps}{more}).")
    for run, op, pass_, where in c.rerun[:10]:
        lines.append(
            f"--rerun (run {run}): {op} ({pass_}) at {where} gave other bits when run again "
            "on the same inputs: a nondeterministic kernel."
        )
    if len(c.rerun) > 10:
        lines.append(f"--rerun: {len(c.rerun) - 10} more ops gave other bits.")
    if c.environment:
        lines.append("Environment differences (run A -> run B):")
        for name, a, b, why in c.environment:
            text = f"{name}: {_value(a)} -> {_value(b)}" + (f" ({why})" if why else "")
            lines.extend(_wrap(text))
    else:
        lines.append("Environment: the same in both runs.")
    for name, path, ops, complete in (
        ("A", c.a, c.ops_a, c.complete_a),
        ("B", c.b, c.ops_b, c.complete_b),
    ):
        state = "complete" if complete else "partial"
        lines.append(f"Run {name}: {path} ({ops} ops, {state})")
    return "\n".join(lines) + "\n"


def render_json(comparison: Comparison) -> str:
    """The comparison as JSON (schema ``detaudit.compare/1``)."""
    return json.dumps(comparison.to_dict(), indent=2) + "\n"
