"""Bit identity across reports: two real CPU audits, and hand-made variations of them.

The "real" reports come from two audits run here (``two_cpu_audits``). The others
are **hand-made**: a real report with one field changed by the test (a digest, the
repeatability, the rng canary), to show what the table and diff say; they are
not measurements.
"""

from __future__ import annotations

import dataclasses

import pytest

from detaudit.compare.bits import BitMark, NotCompared, Verdict, mark_row, verdict
from detaudit.compare.diff import ChangeKind, diff_reports
from detaudit.compare.table import build_table
from detaudit.model.report import Report
from detaudit.render import RENDERERS

from ..conftest import run_cli_here

#: Entries that run with no alert on CPU (index-copy converts, index-add is ok).
RUNNING = ("index-copy", "index-add")


@pytest.fixture(scope="module")
def two_cpu_audits() -> tuple[Report, Report]:
    """Two real audits of the same entries on this CPU, two mode-on runs each."""
    from detaudit import audit

    return tuple(audit(device="cpu", only=list(RUNNING), repeat=2) for _ in range(2))


def _hand_made(report: Report, entry: str, **changes) -> Report:
    """A hand-made copy of ``report`` whose ``entry`` result has ``changes``."""
    results = tuple(
        dataclasses.replace(r, **changes) if r.id == entry else r for r in report.results
    )
    return dataclasses.replace(report, results=results)


def test_two_real_cpu_audits_are_bit_identical(two_cpu_audits):
    first, second = two_cpu_audits
    assert first.environment.rng_cpu and first.environment.rng_cpu == second.environment.rng_cpu
    table = build_table([first, second])
    assert all(m is not None and m.group == "A" for row in table.bit_marks() for m in row)
    assert table.bit_verdicts() == (Verdict.IDENTICAL,) * len(RUNNING)
    assert table.bit_counts()[Verdict.IDENTICAL] == len(RUNNING)
    md = RENDERERS["table"]["md"].render(table)
    assert "## Bit identity" in md
    assert f"| {len(RUNNING)} | identical |" in md
    assert "| index-copy | `torch.Tensor.index_copy` | forward | converts · `A` |" in md


def test_hand_made_changed_digest_is_marked_in_table_and_diff(two_cpu_audits, tmp_path):
    first, second = two_cpu_audits
    changed = _hand_made(second, "index-copy", digest="0" * 32)  # hand-made: one digest changed
    table = build_table([first, changed], ["real.json", "hand-made.json"])
    row = [r.id for r in table.rows].index("index-copy")
    assert [m.group for m in table.bit_marks()[row]] == ["A", "B"]
    assert table.bit_verdicts()[row] is Verdict.DIFFER
    other = 1 - row
    assert table.bit_verdicts()[other] is Verdict.IDENTICAL
    assert table.bit_counts()[Verdict.DIFFER] == 1
    assert "converts · `B`" in RENDERERS["table"]["md"].render(table)
    assert '<i class="m bits other">B</i>' in RENDERERS["table"]["html"].render(table)

    diff = diff_reports(first, changed)
    assert [(c.kind, c.result.id) for c in diff.changes] == [(ChangeKind.BITS_DIFFER, "index-copy")]
    assert not diff.fails("newly-raises")  # informational by default
    assert diff.fails("bits-differ") and diff.fails("any-change")
    assert "bits differ from old (1)" in RENDERERS["diff"]["text"].render(diff)

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(RENDERERS["report"]["json"].render(first))
    new.write_text(RENDERERS["report"]["json"].render(changed))
    assert run_cli_here("diff", str(old), str(new)).returncode == 0
    failed = run_cli_here("diff", str(old), str(new), "--fail-on", "bits-differ")
    assert failed.returncode == 1, failed.stderr
    assert "1 with bits that differ from old (--fail-on bits-differ)" in failed.stderr
    same = run_cli_here("diff", str(old), str(old), "--fail-on", "bits-differ")
    assert same.returncode == 0, same.stderr


def test_bits_that_vary_are_never_same_or_different(two_cpu_audits):
    first, second = two_cpu_audits
    varies = _hand_made(second, "index-copy", distinct_on=2)  # hand-made
    table = build_table([first, varies])
    row = [r.id for r in table.rows].index("index-copy")
    marks = table.bit_marks()[row]
    assert {m.reason for m in marks} == {NotCompared.VARIES, NotCompared.ALONE}
    assert all(m.group is None for m in marks)
    assert table.bit_verdicts()[row] is Verdict.NOT_COMPARED
    one_sample = _hand_made(second, "index-copy", runs_mode_on=1, digest="f" * 32)  # hand-made
    assert not diff_reports(first, one_sample).changes  # one sample: no bits compared


def test_other_inputs_are_not_compared(two_cpu_audits):
    first, second = two_cpu_audits
    # hand-made: another CPU generator path (ATen's default vs AVX2 randn) and another digest
    env = dataclasses.replace(second.environment, rng_cpu="1" * 32)
    other = dataclasses.replace(_hand_made(second, "index-copy", digest="0" * 32), environment=env)
    table = build_table([first, other])
    assert set(table.bit_verdicts()) == {Verdict.NOT_COMPARED}
    assert {m.reason for row in table.bit_marks() for m in row} == {NotCompared.ALONE}
    assert not diff_reports(first, other).of_kind(ChangeKind.BITS_DIFFER)
    # hand-made: a report from before the canary was recorded
    unknown = dataclasses.replace(second, environment=dataclasses.replace(env, rng_cpu=None))
    marks = build_table([first, unknown]).bit_marks()
    assert NotCompared.INPUTS_UNKNOWN in {m.reason for row in marks for m in row}


def test_mark_row_never_compares_devices_or_seeds():
    cells = [_result("cpu"), _result("cuda"), _result("cuda"), _result("cuda")]
    keys = [("cpu", 0, "c"), ("cuda", 0, "g"), ("cuda", 0, "g"), ("cuda", 1, "g")]
    marks = mark_row(keys, cells)
    assert [m.group for m in marks] == [None, "A", "A", None]
    assert marks[0].reason is NotCompared.ALONE and marks[3].reason is NotCompared.ALONE
    assert verdict(marks) is Verdict.PARTIAL
    assert verdict([BitMark("A", same=True), None]) is Verdict.PARTIAL  # an absent cell


def _result(device: str):
    from detaudit.model.report import ProbeResult
    from detaudit.model.vocabulary import Pass, Status

    return ProbeResult(
        "x", "torch.x", "converted", "", device, Pass.FORWARD, Status.CONVERTS,
        runs_mode_on=2, distinct_on=1, digest="d" * 32,
    )  # fmt: skip


def test_failed_fleet_column_is_left_out_of_the_bits(two_cpu_audits):
    from pathlib import Path

    from detaudit.fleet.plan import NodeType
    from detaudit.fleet.result import Outcome, build_fleet

    outcomes = [
        Outcome(NodeType("a", ()), "1", "COMPLETED", "0:0", Path("a.json")),
        Outcome(NodeType("b", ()), "2", "COMPLETED", "0:0", Path("b.json")),
        Outcome(NodeType("gone", ()), "3", "FAILED", "1:0", None, "job 3 ended FAILED", "boom"),
    ]
    table = build_fleet(outcomes, list(two_cpu_audits)).table
    assert [f.label for f in table.failed] == ["gone · failed"]
    assert all(len(marks) == 2 for marks in table.bit_marks())  # no mark for the failed column
    assert table.bit_verdicts() == (Verdict.IDENTICAL,) * len(RUNNING)
    assert sum(table.counts().values()) == 2 * len(RUNNING)
    md = RENDERERS["fleet"]["md"].render(build_fleet(outcomes, list(two_cpu_audits)))
    bits = md.split("### Bit identity")[1].split("###")[0]
    assert "Failed column `gone · failed`: the audit gave no report" in bits
    assert "bit identity leave it out (nothing compared)" in bits
    assert f"| {len(RUNNING)} | identical |" in bits
    assert "| converts · `A` | converts · `A` | *not observed* | identical |" in md
