"""``--repeat N`` is N mode-on samples in all, the strict run's counted: one says nothing of repetition."""

from __future__ import annotations

import pytest

from detaudit import audit
from detaudit.model.report import Status

IDS = ["index-copy", "put-accumulate-false"]  # on CPU: converts, raises


@pytest.fixture(scope="module")
def by_repeat():
    return {
        n: {r.id: r for r in audit(device="cpu", only=IDS, repeat=n).results} for n in (1, 2)
    }


def test_repeat_1_is_one_mode_on_run_and_no_repeatability(by_repeat):
    """It made a strict and a warn-only run, and so reported ``repeatable: true``."""
    converts = by_repeat[1]["index-copy"]
    assert converts.status is Status.CONVERTS
    assert (converts.runs_mode_on, converts.runs_mode_off) == (1, 1)
    assert converts.warn_only is None  # the strict run was the one mode-on run
    assert converts.bits_repeat is None and converts.distinct_on == converts.distinct_off == 1
    assert "repeatable" not in converts.to_dict()  # legacy: the counts say it


def test_repeat_1_of_a_raising_entry_is_one_warn_only_run(by_repeat):
    raises = by_repeat[1]["put-accumulate-false"]
    assert raises.status is Status.RAISES
    assert raises.warn_only is not None and raises.warn_only.outcome == "ran"
    assert (raises.runs_mode_on, raises.bits_repeat) == (1, None)


def test_repeat_2_is_two_mode_on_runs(by_repeat):
    for entry_id in IDS:
        r = by_repeat[2][entry_id]
        assert (r.runs_mode_on, r.runs_mode_off) == (2, 2), entry_id
        assert r.bits_repeat is not None, entry_id
        later_warn_only = [o for o in r.later if (o.run or "").startswith("warn-only")]
        assert r.warn_only.run == "warn-only 1" and not later_warn_only, entry_id
    assert by_repeat[2]["index-copy"].bits_repeat is True
