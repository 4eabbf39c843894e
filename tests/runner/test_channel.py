"""The protocol channel is the runner's alone: a probe that hits it loses its own entry, not the audit."""

from __future__ import annotations

import json

import pytest

from detaudit.runner.pool import CHANNEL_HIT
from detaudit.runner.worker import CHANNEL_FLOOR

from ..conftest import DATA, run_cli

# Audits of probes that attack the worker's channel, each with its own workers.
pytestmark = pytest.mark.slow

CHANNEL = DATA / "user" / "channel.yaml"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("channel")
    done = run_cli(
        "audit", "--catalog", str(CHANNEL), "--no-builtin", "--device", "cpu",
        "--repeat", "2", "--format", "json", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (report,) = out.glob("*.json")
    return {r["id"]: r for r in json.loads(report.read_text())["results"]}


def test_the_old_channel_number_is_no_longer_the_channel(results):
    """fd 3 is free in a worker: writing to or closing it is the probe's own error."""
    assert CHANNEL_FLOOR > 3
    for entry_id in ("write-fd3", "close-fd3"):
        r = results[entry_id]
        assert r["status"] == "error", r
        assert "Bad file descriptor" in r["message"]
    assert results["dup2-fd3"]["status"] == results["after-dup2-fd3"]["status"]


@pytest.mark.parametrize(
    ("entry_id", "why"),
    [
        ("write-channel", "not a protocol answer: 'garbage'"),
        ("close-channel", "closed"),
        ("dup2-channel", "replaced"),
        ("forge-answer", "an answer for id 'someone-else' while the worker ran 'forge-answer'"),
    ],
)
def test_a_probe_that_hits_the_channel_crashes_its_entry_only(results, entry_id, why):
    r = results[entry_id]
    assert r["status"] == "crashed", r
    assert r["message"].startswith(CHANNEL_HIT) and why in r["message"], r["message"]


def test_every_entry_after_an_attack_gets_its_normal_status(results):
    after = [r for entry_id, r in results.items() if entry_id.startswith("after-")]
    assert len(after) == 7
    assert {r["status"] for r in after} == {"converts"}, after
