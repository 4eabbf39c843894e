"""An entry's ``env``: set or unset for each run of its probe, recorded, then put back."""

from __future__ import annotations

import os

import pytest
import torch

from detaudit import audit
from detaudit.runner.observe import run_once

NAME = "CUBLAS_WORKSPACE_CONFIG"


def _seen(device):
    # the probe's bits are the variable it saw: "<unset>" or its value
    value = os.environ.get(NAME, "<unset>")
    return torch.tensor([ord(c) for c in value], dtype=torch.int64)


def _decode(tensor: torch.Tensor) -> str:
    return "".join(chr(int(c)) for c in tensor)


@pytest.mark.parametrize("value", [None, ":4096:8"])
def test_run_once_sets_the_env_for_the_run_and_restores_it(monkeypatch, value):
    monkeypatch.setenv(NAME, ":16:8")
    seen = []
    obs, sample, retire = run_once(
        lambda d: seen.append(_decode(_seen(d))) or _seen(d),
        torch.device("cpu"),
        0,
        True,
        False,
        "strict",
        {NAME: value},
    )
    assert obs["outcome"] == "ran" and retire is None and sample
    assert seen == ["<unset>" if value is None else value]
    assert obs["env"] == {NAME: value}
    assert "restored" not in obs  # the runner's own change is not the probe's
    assert os.environ[NAME] == ":16:8"


def test_run_once_without_env_records_none(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    obs, _, _ = run_once(_seen, torch.device("cpu"), 0, True, False, "strict")
    assert "env" not in obs
    assert NAME not in os.environ


CUBLAS = (
    "cublas-mm-workspace-unset",
    "cublas-mm-workspace-4096-8",
    "cublas-linear-workspace-unset",
    "cublas-linear-workspace-4096-8",
)


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
