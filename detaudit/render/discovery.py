"""The ``discovery`` document: text and JSON views of a ``detaudit discover`` sweep."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .columns import columns

if TYPE_CHECKING:
    from ..docs.discover import Discovery

__all__ = ["render_json", "render_text"]


def render_text(found: Discovery) -> str:
    """A plain-text account: what ran, each alert with its kernel and coverage, the gaps."""
    limit = (
        f" (at most {found.settings['samples']} per op)" if found.settings.get("samples") else ""
    )
    out = [
        (
            f"torch {found.torch} on {found.device}: {found.ops} OpInfo ops, {found.samples} samples"
            f"{limit} forward, {found.backward} of them also backward, in {found.seconds:.1f} s"
        ),
        "",
    ]
    rows = [("op", "pass", "status", "kernel", "samples", "catalogue")]
    for op in found.alerting:
        for a in op.alerts:
            rows.append(
                (
                    op.id,
                    a.pass_,
                    a.status,
                    a.kernel,
                    f"{a.count}/{op.samples}",
                    ", ".join(a.covered_by) or "NOT COVERED",
                )
            )
    if found.alerting:
        out.append(f"ops that alert under deterministic mode ({len(found.alerting)}):")
        out += columns(rows, indent="  ")
    else:
        out.append("no op alerted under deterministic mode")
    if found.failures:
        out += ["", f"not swept ({len(found.failures)}):"]
        out += [f"  {op}: {why}" for op, why in found.failures]
    uncovered = found.uncovered
    errored = ", ".join(f"{op} ({runs})" for op, runs, _ in found.errored)
    out += [
        "",
        f"{found.errors} runs failed with other errors, not alerts"
        + (f", in {len(found.errored)} ops: {errored}" if errored else ""),
        f"not covered by the catalogue: {', '.join(op.id for op in uncovered)}"
        if uncovered
        else "every alerting op is covered by the catalogue",
    ]
    return "\n".join(out) + "\n"


def render_json(found: Discovery) -> str:
    """The sweep as indented JSON."""
    return json.dumps(found.to_dict(), indent=2) + "\n"
