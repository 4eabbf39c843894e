"""Backward entries observed two ways: the mode on throughout, and on for the backward only."""

from __future__ import annotations

import json

import pytest

from detaudit import audit
from detaudit.model.report import Report, Status
from detaudit.runner.observe import UNMARKED
from detaudit.runner.protocol import PHASE_MISUSE

from ..conftest import DATA

# Two audits (built-in backward entries, and a user catalogue) observed two ways.
pytestmark = pytest.mark.slow

TWOWAY = DATA / "user" / "twoway.yaml"


@pytest.fixture(scope="module")
def builtin_cpu():
    report = audit(
        device="cpu",
        only=["getitem-index-list-backward", "interpolate-bilinear-backward", "index-copy"],
        repeat=2,
    )
    return report


@pytest.fixture(scope="module")
def user():
    report = audit(catalogs=[TWOWAY], builtin=False, device="cpu", repeat=2)
    return {r.id: r for r in report.results}


def test_builtin_backward_entries_on_cpu_are_the_same_both_ways(builtin_cpu):
    results = {r.id: r for r in builtin_cpu.results}
    for entry_id, status in [
        ("getitem-index-list-backward", Status.CONVERTS),
        ("interpolate-bilinear-backward", Status.OK),
    ]:
        r = results[entry_id]
        assert r.status is status, r
        assert r.backward_only is not None and r.backward_only.run == "backward-only"
        assert r.backward_only.outcome == "ran", r.backward_only
        assert r.backward_only_status is status
        assert r.two_ways_differ is False


def test_a_forward_entry_has_no_backward_only_run(builtin_cpu):
    r = next(r for r in builtin_cpu.results if r.id == "index-copy")
    assert r.backward_only is None and r.backward_only_status is None
    assert r.two_ways_differ is None
    assert "backward_only" not in r.to_dict()


def test_both_observations_are_in_the_json_and_read_back(builtin_cpu):
    data = json.loads(json.dumps(builtin_cpu.to_dict()))
    row = next(r for r in data["results"] if r["id"] == "getitem-index-list-backward")
    assert row["strict"]["run"] == "strict"
    assert row["backward_only"]["run"] == "backward-only"
    assert row["backward_only_status"] == "converts"
    assert Report.from_dict(data) == builtin_cpu


def test_an_alert_in_the_marked_backward_raises_both_ways(user):
    for entry_id in ("user-marked-backward-alerts", "user-phase-backward"):
        r = user[entry_id]
        assert r.status is Status.RAISES and r.kernel == "put_"
        assert r.backward_only.outcome == "alert" and r.backward_only.kernel == "put_"
        assert r.backward_only_status is Status.RAISES
        assert r.two_ways_differ is False


def test_the_backward_only_run_builds_the_graph_with_the_mode_off(user):
    """An alert in the forward stops the strict run, but not the backward-only one."""
    r = user["user-forward-alerts"]
    assert r.status is Status.RAISES and r.kernel == "put_"
    assert r.backward_only.outcome == "ran"
    assert r.backward_only_status is Status.CONVERTS
    assert r.two_ways_differ is True


def test_a_probe_that_does_not_mark_its_backward_is_not_observed_backward_only(user):
    r = user["user-unmarked-backward"]
    assert r.status is Status.RAISES and r.kernel == "put_"  # the strict run still observes it
    assert r.backward_only.outcome == "unobserved"
    assert r.backward_only.message == UNMARKED
    assert "use detaudit.probes.backward" in UNMARKED
    assert r.backward_only_status is None and r.two_ways_differ is None


def test_a_forward_entry_gets_no_backward_only_run_whatever_its_probe(user):
    r = user["user-forward-entry"]
    assert r.status is Status.RAISES
    assert r.backward_only is None


@pytest.mark.parametrize(
    ("entry_id", "named"),
    [
        ("user-empty-phase", "1 marked phase ran no backward"),
        ("user-backward-outside-phase", "ran outside every marked phase"),
        ("user-marked-twice", "marked inside another"),
    ],
)
def test_a_probe_that_misuses_the_phase_is_an_error_naming_it(user, entry_id, named):
    """Not a false "two ways differ": the backward-only run did not observe what it is for."""
    r = user[entry_id]
    assert r.status is Status.ERROR, r
    assert r.message.startswith(f"{PHASE_MISUSE}: the probe misuses detaudit.probes.backward_phase()")
    assert named in r.message
    assert r.kernel is None and r.drift is None
    assert r.backward_only.outcome == "error" and r.backward_only.exc_type == PHASE_MISUSE
    assert r.backward_only.run == "backward-only"
    assert r.two_ways_differ is False


@pytest.mark.cuda
def test_on_cuda_interpolate_backward_converts_only_with_the_forward_under_the_mode():
    """PyTorch picks interpolate's deterministic path in the forward, when the mode is on there.

    With the mode on throughout the backward converts; with the graph built with
    the mode off (PyTorch's tests), the backward raises in the native CUDA kernel.
    """
    import torch.nn.functional as F

    from ..test_cuda_reach import decomposes

    report = audit(device="cuda", only=["interpolate-bilinear-backward"], repeat=2)
    (r,) = report.results
    if not decomposes(F.interpolate):  # this torch's functional.py has no such branch
        assert r.status is Status.RAISES and r.two_ways_differ is False, r
        return
    assert r.status is Status.CONVERTS and r.decomposed, r
    assert r.backward_only_status is Status.RAISES, r.backward_only
    assert "upsample_bilinear2d_backward" in (r.backward_only.kernel or ""), r.backward_only
    assert r.two_ways_differ is True
