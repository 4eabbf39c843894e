"""The findings a page leads with: one per kind, grouped by entry, "none" said for the first three."""

from __future__ import annotations

from detaudit.compare.table import build_table
from detaudit.model.reportfile import load_report, load_reports
from detaudit.render.findings import FINDERS, Tone, bits_summary, findings

from ..conftest import NEW_GPU, OLD_GPU, REPORTS

CPU_AUDIT = REPORTS / "cpu-torch2.13.0.json"


def _by_key(table):
    return {f.key: f for f in findings(table)}


def test_a_cpu_audit_leads_with_raises_drift_and_not_observed_then_the_census():
    found = findings(build_table([load_report(CPU_AUDIT)]))
    assert [f.key for f in found] == ["raises", "drift", "not-observed", "census"]
    raises, drift, missing, census = found
    assert (raises.count, raises.tone) == (5, Tone.RAISES)
    assert [(i.entry, i.detail) for i in raises.items][:2] == [
        ("put-accumulate-false", "put_"),
        ("max-unpool1d", "max_unpooling2d_forward_out"),
    ]
    assert all(i.where == "" for i in raises.items)  # one column: no "where"
    assert (drift.count, drift.tone, drift.items) == (0, Tone.QUIET, ())
    assert (missing.count, missing.tone, missing.items) == (12, Tone.QUIET, ())
    assert missing.lines[0].startswith("12 skipped: not run")
    assert census.count == 3 and census.items[0].entry == ""  # a name, not an entry


def test_many_columns_group_a_finding_by_entry():
    table = build_table(load_reports([OLD_GPU, NEW_GPU]), ["old", "new"])
    found = _by_key(table)
    drift = found["drift"]
    assert drift.count == 2 and drift.tone is Tone.DRIFT
    assert [i.entry for i in drift.items] == ["scatter-reduce-sum", "max-pool3d-backward"]
    put = next(i for i in found["raises"].items if i.entry == "put-accumulate-false")
    assert put.where.endswith(f"of {len(table.columns)} columns")
    assert found["not-observed"].tone is Tone.FAILED
    assert found["not-observed"].section == "s-not-observed"
    assert bits_summary(table) is None  # hand-made reports without digests: no bits card


def test_the_bit_identity_card_counts_what_was_compared():
    twice = build_table(load_reports([CPU_AUDIT, CPU_AUDIT]), ["a", "b"])
    figure, label, why = bits_summary(twice)
    assert (figure, label) == ("89 of 89", "compared entries bit-identical")
    assert why.startswith("89 in every column, 0 where compared; 0 differ; 17 entries not")


def test_finders_have_unique_keys_and_none_is_left_out():
    table = build_table([load_report(CPU_AUDIT)])
    keys = [f.key for f in findings(table)]
    assert len(keys) == len(set(keys))
    answers = [finder(table) for finder in FINDERS]
    assert len(keys) == sum(a is not None for a in answers) < len(FINDERS)
