"""Entries marked ``slow_start`` run on a worker of their own, beside the shared one."""

from __future__ import annotations

from pathlib import Path

import pytest

from detaudit import Status, audit
from detaudit.catalog import load_catalog
from detaudit.runner.pool import WorkerPool
from detaudit.runner.protocol import RunAnswer, RunRequest

PROBES = '''\
import os
from pathlib import Path

import pytest

import torch


def _mark(name, device):
    Path(__file__).with_name(name + ".pid").write_text(str(os.getpid()))
    return torch.ones(3, device=device)


def slow(device):
    return _mark("slow", device)


def quick(device):
    return _mark("quick", device)
'''


def _catalog(folder: Path) -> Path:
    (folder / "laneprobes.py").write_text(PROBES)
    path = folder / "lanes.yaml"
    entry = (
        "  - id: {id}\n"
        "    api: torch.ones\n"
        "    condition: always\n"
        "    devices: [cpu]\n"
        "    pass: forward\n"
        "    probe: laneprobes:{id}\n"
        "    source: test fixture\n"
    )
    path.write_text(
        "observed:\n"
        + entry.format(id="slow")
        + "    slow_start: true\n"
        + entry.format(id="quick")
    )
    return path


def test_a_slow_start_entry_runs_on_its_own_worker(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    assert load_catalog([catalog], builtin=False).get("slow").slow_start
    report = audit(catalogs=[catalog], builtin=False, device="cpu", repeat=1)
    assert {r.id: r.status for r in report.results} == {"slow": Status.OK, "quick": Status.OK}
    slow, quick = ((tmp_path / f"{n}.pid").read_text() for n in ("slow", "quick"))
    assert slow != quick


def test_a_lane_worker_leaves_once_its_lane_is_done() -> None:
    def request(i: int) -> RunRequest:
        return RunRequest(
            id=f"r{i}", probe="detaudit.probes.indexing:index_add", device="cpu", repeat=1, seed=0
        )

    with WorkerPool(1, timeout=120) as pool:
        pool.start_lane("own")
        assert len(pool._workers) == 2
        answers = list(pool.ask_all([request(0), request(1)], lanes={"own": [request(2)]}))
        assert sorted(a.id for a in answers) == ["r0", "r1", "r2"]
        assert all(isinstance(a, RunAnswer) for a in answers)
        assert [w.lane for w in pool._workers] == [""]


STEAL_PROBES = '''\
import os
import time
from pathlib import Path

import torch


def _mark(name, device):
    Path(__file__).with_name(name + ".pid").write_text(str(os.getpid()))
    return torch.ones(3, device=device)


def busy(device):
    # holds the shared worker until the lane's worker has run out of work, and a second more
    own = Path(__file__).with_name("own.pid")
    deadline = time.monotonic() + 60
    while not own.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    return _mark("busy", device)


def own(device):
    return _mark("own", device)


def shared(device):
    return _mark("shared", device)
'''


@pytest.mark.parametrize("env", [None, {"DETAUDIT_TEST_LANE_VAR": "lane"}])
def test_a_lane_worker_never_takes_the_shared_workers_requests(tmp_path: Path, env) -> None:
    """Not even an idle one whose environment is theirs (the slow lane's): two probes at once
    on the CPU hide the races of parallel kernels (measured: a lane worker helping with the
    last entries made ``index-put-accumulate-true-mps``'s mode-off runs give 5 distinct bit
    patterns in 2 of 4 audits instead of 4 of 4)."""
    (tmp_path / "stealprobes.py").write_text(STEAL_PROBES)

    def request(probe: str) -> RunRequest:
        return RunRequest(
            id=probe, probe=f"stealprobes:{probe}", probe_path=str(tmp_path), device="cpu",
            repeat=1, seed=0,
        )  # fmt: skip

    with WorkerPool(1, timeout=120) as pool:
        pool.start_lane("lane", env)
        pool.wait_ready()
        answers = list(
            pool.ask_all([request("busy"), request("shared")], lanes={"lane": [request("own")]})
        )
        assert sorted(a.id for a in answers) == ["busy", "own", "shared"]
        assert all(isinstance(a, RunAnswer) and a.strict.outcome == "ran" for a in answers)
    pids = {n: (tmp_path / f"{n}.pid").read_text() for n in ("busy", "own", "shared")}
    assert pids["own"] != pids["busy"]
    assert pids["shared"] == pids["busy"]  # it waited for the shared worker


def test_a_lane_starts_with_its_env_and_the_shared_workers_with_the_callers(monkeypatch) -> None:
    monkeypatch.setenv("DETAUDIT_TEST_LANE_VAR", "caller")
    monkeypatch.delenv("DETAUDIT_TEST_LANE_UNSET", raising=False)
    with WorkerPool(1, timeout=120) as pool:
        assert pool.starts_with({"DETAUDIT_TEST_LANE_VAR": "caller"})
        assert pool.starts_with({"DETAUDIT_TEST_LANE_UNSET": None})
        assert not pool.starts_with({"DETAUDIT_TEST_LANE_VAR": "entry"})
        pool.start_lane("entry", {"DETAUDIT_TEST_LANE_VAR": "entry"})
        assert pool.starts_with({"DETAUDIT_TEST_LANE_VAR": "entry"}, "entry")
        (lane,) = [w for w in pool._workers if w.lane == "entry"]
        pool.wait_ready()
        environ = Path(f"/proc/{lane.proc.pid}/environ").read_bytes().split(b"\0")
        assert b"DETAUDIT_TEST_LANE_VAR=entry" in environ


def test_an_entry_whose_env_the_shared_workers_start_with_runs_on_them(tmp_path: Path) -> None:
    """No worker of its own for an env the shared workers already have (nor for a skipped one)."""
    catalog = _catalog(tmp_path)
    text = catalog.read_text()
    catalog.write_text(
        text.replace("    slow_start: true\n", "    env: {DETAUDIT_TEST_NEVER_SET: null}\n")
    )
    spawned: list[str] = []
    real = WorkerPool._spawn

    def spawn(self: WorkerPool, lane: str = ""):
        spawned.append(lane)
        return real(self, lane)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkerPool, "_spawn", spawn)
        report = audit(catalogs=[catalog], builtin=False, device="cpu", repeat=1, census=False)
    assert {r.id: r.status for r in report.results} == {"slow": Status.OK, "quick": Status.OK}
    (slow_result,) = [r for r in report.results if r.id == "slow"]
    assert slow_result.strict.env == {"DETAUDIT_TEST_NEVER_SET": None}
    assert spawned == [""]
    slow, quick = ((tmp_path / f"{n}.pid").read_text() for n in ("slow", "quick"))
    assert slow == quick
