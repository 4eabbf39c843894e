"""One compatibility matrix over many reports: entries x (report, device). Pure; no torch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath

from ..errors import UsageError
from ..model.report import ProbeResult, Report, Status
from ..model.vocabulary import GROUPS
from .bits import BitMark, Verdict, inputs_key, mark_row, verdict
from .diff import REPEATS, results_by_key
from .naming import report_title

__all__ = [
    "Column",
    "FailedColumn",
    "Row",
    "Table",
    "bits_differ",
    "build_table",
    "column_label",
    "version_key",
]

_VERSION_RE = re.compile(r"^(\d+(?:\.\d+)*)(?:\.?(dev|a|b|rc)(\d*))?")
_PRE_RANK = {"dev": 0, "a": 1, "b": 2, "rc": 3, None: 4}  # 2.11.0.dev < 2.11.0a0 < ... < 2.11.0


def version_key(version: str) -> tuple:
    """Sort key for torch versions: ``2.9.1`` < ``2.10.0.dev2025`` < ``2.10.0+cu128``.

    A version that does not parse sorts after every one that does, by its text.
    """
    match = _VERSION_RE.match(version)
    if not match:
        return (1, (), 0, 0, version)
    release = tuple(int(part) for part in match.group(1).split("."))
    release += (0,) * (3 - len(release))
    pre_number = int(match.group(3)) if match.group(3) else 0
    return (0, release, _PRE_RANK[match.group(2)], pre_number, version)


def column_label(report: Report, device: str) -> str:
    """``torch 2.13.0+cpu · cpu`` or ``torch 2.11.0+cu130 · cuda · NVIDIA H100 (sm_90)``."""
    return report_title(report, (device,))


def bits_differ(result: ProbeResult) -> bool:
    """It ran without alert under deterministic mode, yet its bits differed across the runs.

    Only where the mode promises repeating bits (:data:`~detaudit.compare.diff.REPEATS`):
    an op that raises or warns runs its nondeterministic kernel in warn-only mode.
    """
    return result.status in REPEATS and result.bits_repeat is False


@dataclass(frozen=True, slots=True)
class Column:
    """One (report, device): a column of the matrix."""

    label: str
    device: str
    report: Report
    source: str

    @property
    def torch(self) -> str:
        return self.report.environment.torch


@dataclass(frozen=True, slots=True)
class FailedColumn:
    """A column whose audit gave no report: every cell not observed, and why.

    ``detaudit table`` never makes one (it reads reports only); ``detaudit fleet``
    does, for a node type whose job failed. It is never counted or compared.
    """

    label: str
    why: str  # one line
    state: str | None = None  # the batch system's state for the job (Slurm's JobState)
    exit_code: str | None = None
    stderr: str | None = None  # the tail of the job's stderr


@dataclass(frozen=True, slots=True)
class Row:
    """One catalogue entry: a row of the matrix."""

    id: str
    api: str
    group: str
    condition: str
    pass_: str


@dataclass(frozen=True, slots=True)
class Table:
    """The matrix: ``cells[row][column]`` is that result, or None where the report lacks it.

    ``failed`` columns come after ``columns``, have no cells, and take no part in
    the counts or the bit-identity marks.
    """

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    cells: tuple[tuple[ProbeResult | None, ...], ...]
    failed: tuple[FailedColumn, ...] = ()

    def groups(self) -> list[tuple[str, list[int]]]:
        """(seed group, row indices), converted first, then raises, then any other group."""
        names = [g for g in GROUPS if any(r.group == g for r in self.rows)]
        names += sorted({r.group for r in self.rows} - set(GROUPS))
        return [(g, [i for i, r in enumerate(self.rows) if r.group == g]) for g in names]

    def column_counts(self, column: int) -> dict[Status, int]:
        """How many cells of one column have each status (zeros included)."""
        statuses = [cell.status for row in self.cells if (cell := row[column]) is not None]
        return {status: statuses.count(status) for status in Status}

    def counts(self) -> dict[Status, int]:
        """How many cells of the whole matrix have each status (zeros included)."""
        per_column = [self.column_counts(c) for c in range(len(self.columns))]
        return {status: sum(counts[status] for counts in per_column) for status in Status}

    def drifts(self) -> list[tuple[Row, Column, ProbeResult]]:
        """Every cell whose observed status differs from the docs of its torch."""
        return [
            (row, column, cell)
            for row, cells in zip(self.rows, self.cells)
            for column, cell in zip(self.columns, cells)
            if cell is not None and cell.drift
        ]

    @property
    def reports(self) -> list[tuple[str, Report]]:
        """(source, report) once per report, in column order."""
        seen: dict[int, tuple[str, Report]] = {}
        for column in self.columns:
            seen.setdefault(id(column.report), (column.source, column.report))
        return list(seen.values())

    def bit_marks(self) -> tuple[tuple[BitMark | None, ...], ...]:
        """``marks[row][column]``: which columns gave the row's entry the same mode-on bits."""
        keys = [inputs_key(c.report, c.device) for c in self.columns]
        return tuple(mark_row(keys, cells) for cells in self.cells)

    def bit_verdicts(self) -> tuple[Verdict, ...]:
        """Per row, what the marks say about bit identity across the columns."""
        return tuple(verdict(marks) for marks in self.bit_marks())

    def bit_counts(self) -> dict[Verdict, int]:
        """How many rows have each bit-identity verdict (zeros included)."""
        verdicts = self.bit_verdicts()
        return {v: verdicts.count(v) for v in Verdict}

    def has_bits(self) -> bool:
        """Whether bit identity is worth a word: two columns share a device type and digests exist.

        Reports made before the digest was recorded have none: nothing to say.
        """
        devices = [str(c.device) for c in self.columns]
        digests = any(cell is not None and cell.digest for row in self.cells for cell in row)
        return digests and len(set(devices)) < len(devices)

    def notes(self) -> list[tuple[str, str]]:
        """(source, sentence) for each report whose torch is newer than its catalogue's docs."""
        return [(source, r.newer_than_docs) for source, r in self.reports if r.newer_than_docs]

    def warnings(self) -> list[tuple[str, str]]:
        """(source, sentence) for each report most of whose results are errors."""
        return [(source, r.mostly_failed) for source, r in self.reports if r.mostly_failed]


def _sort_key(column: Column) -> tuple:
    env = column.report.environment
    return (version_key(env.torch), column.device, env.gpu or "", env.hostname, env.time)


def _unique_labels(columns: list[Column]) -> list[Column]:
    """Tell equal labels apart by the host, else the file name, else a number."""
    extras = (lambda c: c.report.environment.hostname, lambda c: PurePath(c.source).name)
    labels = [c.label for c in columns]
    for label in dict.fromkeys(labels):
        members = [i for i, other in enumerate(labels) if other == label]
        if len(members) < 2:
            continue
        for extra in extras:
            values = [extra(columns[i]) for i in members]
            if all(values) and len(set(values)) == len(values):
                break
        else:
            values = [f"#{n}" for n in range(1, len(members) + 1)]
        for i, value in zip(members, values):
            columns[i] = replace(columns[i], label=f"{label} · {value}")
    return columns


def build_table(reports: Sequence[Report], sources: Sequence[str] | None = None) -> Table:
    """The matrix of ``reports``: one column per (report, device), sorted by torch then device.

    Rows are the entries of every report, grouped as the seed groups them
    (converted, raises), in the order of the report with the most results,
    then of the others.
    """
    if not reports:
        raise UsageError("a table needs at least one report")
    sources = (
        list(sources) if sources is not None else [f"report {i + 1}" for i in range(len(reports))]
    )
    if len(sources) != len(reports):
        raise ValueError("one source per report")
    columns = [
        Column(column_label(report, device), device, report, source)
        for report, source in zip(reports, sources)
        for device in report.devices
    ]
    columns = _unique_labels(sorted(columns, key=_sort_key))
    keyed = {id(r): results_by_key(r, s) for r, s in zip(reports, sources)}
    rows: dict[str, Row] = {}
    # Entries in the order of the fullest report (the catalogue's, for a full audit),
    # then whatever only the others have.
    for report in sorted(reports, key=lambda r: -len(r.results)):
        for r in report.results:
            rows.setdefault(r.id, Row(r.id, r.api, r.group, r.condition, r.pass_))
    rank = {group: i for i, group in enumerate(GROUPS)}
    # A stable sort: the seed's groups first, in report order within a group.
    ordered = sorted(rows.values(), key=lambda r: (rank.get(r.group, len(rank)), r.group))
    cells = tuple(
        tuple(keyed[id(c.report)].get((row.id, c.device)) for c in columns) for row in ordered
    )
    return Table(tuple(columns), tuple(ordered), cells)
