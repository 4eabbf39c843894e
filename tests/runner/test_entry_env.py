"""An entry's ``env``: the environment a worker of its own starts with, recorded in each run."""

from __future__ import annotations

import os

import pytest
import torch

from detaudit import audit
from detaudit.runner.observe import handle, run_once, started_with
from detaudit.runner.probing import digest
from detaudit.runner.protocol import RunRequest

from ..conftest import DATA

NAME = "CUBLAS_WORKSPACE_CONFIG"
STARTENV = DATA / "user" / "startenv.yaml"


def _seen(device):
    # the probe's bits are the variable it saw: "<unset>" or its value
    value = os.environ.get(NAME, "<unset>")
    return torch.tensor([ord(c) for c in value], dtype=torch.int64)


def _decode(tensor: torch.Tensor) -> str:
    return "".join(chr(int(c)) for c in tensor)


def test_run_once_records_the_env_it_is_given_and_sets_nothing(monkeypatch):
    """Setting a variable in a running worker would lie: torch read some at start-up."""
    monkeypatch.setenv(NAME, ":16:8")
    seen = []
    obs, sample, retire = run_once(
        lambda d: seen.append(_decode(_seen(d))) or _seen(d),
        torch.device("cpu"),
        0,
        True,
        False,
        "strict",
        {NAME: ":16:8"},
    )
    assert obs.outcome == "ran" and retire is None and sample
    assert seen == [":16:8"]
    assert obs.env == {NAME: ":16:8"}
    assert obs.restored == ()
    assert os.environ[NAME] == ":16:8"


def test_run_once_without_env_records_none(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    obs, _, _ = run_once(_seen, torch.device("cpu"), 0, True, False, "strict")
    assert obs.env is None and "env" not in obs.to_dict()
    assert NAME not in os.environ


def test_started_with_reads_the_start_environment_not_the_current_one(monkeypatch):
    monkeypatch.setenv("DETAUDIT_TEST_LATE", "set after start")
    assert started_with({"DETAUDIT_TEST_LATE": "set after start"}) == {"DETAUDIT_TEST_LATE": None}


def test_a_worker_not_started_with_the_entrys_env_runs_nothing(monkeypatch):
    monkeypatch.setenv("DETAUDIT_TEST_LATE", "1")
    request = RunRequest(
        id="e", probe="detaudit.probes.blas:mm", device="cpu", repeat=1, seed=0,
        env={"DETAUDIT_TEST_LATE": "1"},
    )  # fmt: skip
    answer = handle(request)
    assert answer.strict.outcome == "error" and answer.strict.exc_type == "EnvNotAtStart"
    assert "DETAUDIT_TEST_LATE='1'" in answer.strict.message
    assert answer.strict.env == {"DETAUDIT_TEST_LATE": None}
    assert not answer.digests_on and answer.warn_only is None


@pytest.mark.slow  # audits whose workers start with their own env
def test_an_entrys_env_is_the_environment_its_worker_started_with(monkeypatch):
    """ATEN_CPU_CAPABILITY is read once, at the first kernel: only a worker started with it obeys."""
    monkeypatch.setenv("DETAUDIT_TEST_START_VAR", "caller")
    report = audit(catalogs=[STARTENV], builtin=False, device="cpu", repeat=2)
    by_id = {r.id: r for r in report.results}
    wanted = {
        "capability-default": "DEFAULT",
        "capability-as-started": torch.backends.cpu.get_cpu_capability(),
        "variable-unset": "<unset>",
        "variable-set": "entry",
        "variable-as-started": "caller",
    }
    for entry_id, seen in wanted.items():
        r = by_id[entry_id]
        assert r.status.value == "converts", r
        assert r.digest == digest(_encode_text(seen)), (entry_id, seen)
    assert by_id["capability-default"].strict.env == {"ATEN_CPU_CAPABILITY": "default"}
    assert by_id["variable-unset"].strict.env == {"DETAUDIT_TEST_START_VAR": None}
    assert by_id["variable-set"].warn_only.env == {"DETAUDIT_TEST_START_VAR": "entry"}
    assert by_id["variable-as-started"].strict.env is None


def _encode_text(text: str) -> torch.Tensor:
    return torch.tensor([ord(c) for c in text], dtype=torch.int64)


CUBLAS = (
    "cublas-mm-workspace-unset",
    "cublas-mm-workspace-4096-8",
    "cublas-linear-workspace-unset",
    "cublas-linear-workspace-4096-8",
)


@pytest.mark.slow  # audits whose workers start with their own env
def test_each_observation_states_its_env_and_the_report_keeps_the_callers(monkeypatch):
    monkeypatch.setenv(NAME, ":16:8")  # workers inherit the caller's environment
    report = audit(device="cpu", only=list(CUBLAS), repeat=2)
    env = report.environment.cublas_workspace_config
    assert env == ":16:8"
    by_id = {r.id: r for r in report.results}
    for entry_id, wanted in (
        ("cublas-mm-workspace-unset", None),
        ("cublas-mm-workspace-4096-8", ":4096:8"),
        ("cublas-linear-workspace-unset", None),
    ):
        r = by_id[entry_id]
        observations = [r.strict, r.warn_only, *r.later]
        assert all(o.env == {NAME: wanted} for o in observations), entry_id
        assert r.to_dict()["strict"]["env"] == {NAME: wanted}
    # the CPU runs no cuBLAS: each runs cleanly, and the docs claim nothing for it
    assert {r.status.value for r in report.results} == {"ok"}
    assert all(r.expected is None and r.drift is None for r in report.results)
