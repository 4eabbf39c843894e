"""What a fleet run found: how each node type's job ended, and the table of their reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..compare.table import FailedColumn, Table, build_table
from ..model.report import Report
from .plan import NodeType

__all__ = ["Fleet", "Outcome", "build_fleet"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one node type's job ended: its report, or why there is none."""

    node: NodeType
    job_id: str | None
    state: str  # Slurm's JobState (COMPLETED, FAILED, CANCELLED...), or detaudit's words
    exit_code: str | None = None
    report: Path | None = None
    why: str | None = None  # one line, when there is no report
    stderr: str | None = None  # the tail of the job's stderr

    @property
    def failed(self) -> bool:
        return self.report is None


@dataclass(frozen=True, slots=True)
class Fleet:
    """Every node type's outcome, and the table over the reports (None when there is none)."""

    outcomes: tuple[Outcome, ...]
    table: Table | None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]


def build_fleet(outcomes: Sequence[Outcome], reports: Sequence[Report]) -> Fleet:
    """The fleet table: one column per (node type, device), labelled with the node type first.

    ``reports`` are the loaded reports of the outcomes that have one, in order.
    A node type whose job failed is a failed column (``NAME · failed``): its
    Slurm state, exit code and stderr tail, no cells.
    """
    done = [o for o in outcomes if not o.failed]
    if len(done) != len(reports):
        raise ValueError("one report per outcome with a report")
    if not reports:
        return Fleet(tuple(outcomes), None)
    table = build_table(reports, [str(o.report) for o in done])
    names = {str(o.report): o.node.name for o in done}
    columns = tuple(replace(c, label=f"{names[c.source]} · {c.label}") for c in table.columns)
    failed = tuple(
        FailedColumn(f"{o.node.name} · failed", o.why or o.state, o.state, o.exit_code, o.stderr)
        for o in outcomes
        if o.failed
    )
    return Fleet(tuple(outcomes), replace(table, columns=columns, failed=failed))
