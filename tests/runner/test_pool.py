"""The worker pool: hello, answers, crashes, timeouts, several jobs, workers that cannot start.

Timeouts here are generous next to what the requests take (milliseconds), and
deadlines count from a worker's hello, so a loaded machine cannot fail them.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import detaudit
from detaudit.errors import WorkerError
from detaudit.runner.pool import WorkerPool
from detaudit.runner.protocol import Hello

from ..conftest import USER_CATALOG
from ..processes import LIFELINE, alive, group, wait_gone


def run(probe: str, request_id: str, folder: Path = LIFELINE) -> dict:
    return {
        "type": "run", "id": request_id, "probe": probe, "probe_path": str(folder),
        "device": "cpu", "repeat": 1, "seed": 0,
    }  # fmt: skip


@pytest.fixture
def markers(tmp_path, monkeypatch) -> Path:
    """The folder the hanging probes write their pids into (the workers inherit the variable)."""
    monkeypatch.setenv("DETAUDIT_TEST_MARKERS", str(tmp_path))
    return tmp_path


def test_a_worker_says_hello_and_answers():
    with WorkerPool(1) as pool:
        hello = pool.wait_ready()
        assert isinstance(hello, Hello) and hello.torch == torch.__version__
        assert alive(hello.pid)
        env = pool.request({"type": "environment", "cuda": False})
        assert env["type"] == "environment" and env["environment"]["torch"] == torch.__version__
        answer = pool.request(run("lifeprobes:hello", "h"))
    assert answer["type"] == "result" and answer["id"] == "h" and answer["device"] == "cpu"
    assert answer["strict"]["outcome"] == "ran" and answer["digests_on"]
    assert wait_gone({hello.pid}) == set()  # closed


@pytest.mark.slow  # waits for a hang, a crash or a slow start
def test_a_crash_is_an_answer_and_a_new_worker_serves_the_next():
    with WorkerPool(1, timeout=600) as pool:
        first = pool.wait_ready().pid
        answers = {
            a["id"]: a
            for a in pool.run(
                [
                    run("lifeprobes:crash", "exit"),
                    run("userprobes:abort", "abort", USER_CATALOG.parent),
                    run("lifeprobes:hello", "after"),
                ]
            )
        }
    assert answers["exit"]["crashed"] == "worker exited with code 3"
    assert answers["exit"]["device"] == "cpu" and answers["exit"]["request"] == "run"
    assert "about to exit with code 3" in answers["exit"]["stderr"]
    assert answers["abort"]["crashed"] == "worker killed by SIGABRT"
    assert "about to exit" not in answers["abort"]["stderr"]  # the tail of its own worker only
    assert answers["after"]["strict"]["outcome"] == "ran"
    assert not alive(first)


@pytest.mark.slow  # waits for a hang, a crash or a slow start
def test_a_hang_is_a_timeout_and_its_worker_group_is_killed(markers):
    timeout = 4.0
    with WorkerPool(1, timeout=timeout) as pool:
        pool.wait_ready()
        answers = list(
            pool.run(
                [
                    run("lifeprobes:hello", "warm"),  # the hang is not the worker's first request
                    run("lifeprobes:hang_with_child", "hang"),
                    run("lifeprobes:hello", "after"),
                ]
            )
        )
        assert [a["id"] for a in answers] == ["warm", "hang", "after"]
        hang = answers[1]
        assert hang["timeout"] == timeout and hang["seconds"] >= timeout
        assert answers[2]["strict"]["outcome"] == "ran"
        (marker,) = markers.glob("*.json")
        record = json.loads(marker.read_text())
        assert record["children"]
        assert wait_gone({record["worker"], *record["children"]}) == set()


def test_several_requests_on_two_jobs():
    requests = [run("lifeprobes:hello", f"r{i}") for i in range(8)]
    with WorkerPool(2) as pool:
        pool.wait_ready()
        answers = list(pool.run(requests))
    assert sorted(a["id"] for a in answers) == sorted(r["id"] for r in requests)
    assert {a["strict"]["outcome"] for a in answers} == {"ran"}


def test_a_missing_interpreter_is_a_worker_error(tmp_path):
    missing = str(tmp_path / "no" / "python")
    with (
        pytest.raises(WorkerError, match=r"cannot start a worker with .*no/python"),
        WorkerPool(1, python=missing),
    ):
        pass


def _fake_python(folder: Path, body: str) -> str:
    """An executable that runs ``body`` (Python) in place of ``python -m detaudit.runner.worker``."""
    script = folder / "fake_worker.py"
    script.write_text(textwrap.dedent(body))
    python = folder / "python"
    python.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{script}'\n")
    python.chmod(0o755)
    return str(python)


def test_an_interpreter_that_exits_at_start_is_a_worker_error(tmp_path):
    python = _fake_python(
        tmp_path, "import sys\nprint('no torch here', file=sys.stderr)\nsys.exit(5)\n"
    )
    with WorkerPool(1, python=python) as pool, pytest.raises(WorkerError) as info:
        pool.wait_ready()
    assert "exited with code 5 at start: no torch here" in str(info.value)


def test_a_worker_whose_hello_has_a_field_of_the_wrong_type_cannot_start(tmp_path):
    python = _fake_python(
        tmp_path,
        """
        import json, os, sys, time
        print("not this detaudit's worker", file=sys.stderr, flush=True)
        print(json.dumps({"type": "hello", "pid": str(os.getpid()), "torch": "2.13.0"}), flush=True)
        time.sleep(60)
        """,
    )
    with WorkerPool(1, python=python) as pool, pytest.raises(WorkerError) as info:
        pool.wait_ready()
    assert "greeted with malformed 'hello' record: pid: expected a whole number" in str(info.value)
    assert pool.hello is None


def test_the_worker_gets_only_this_detaudit_package_and_the_folder_goes_with_the_pool(
    tmp_path, monkeypatch
):
    # Not the folder the package lies in (a non-editable install's site-packages,
    # with its torch), nor that folder where the caller's PYTHONPATH names it.
    package = Path(detaudit.__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(package.parent), str(tmp_path)]))
    seen = tmp_path / "seen.json"
    python = _fake_python(
        tmp_path,
        f"""
        import json, os, sys
        path = os.environ["PYTHONPATH"].split(os.pathsep)
        json.dump([path, os.listdir(path[0]), os.path.realpath(os.path.join(path[0], "detaudit"))],
                  open({str(seen)!r}, "w"))
        sys.exit(5)
        """,
    )
    with WorkerPool(1, python=python) as pool, pytest.raises(WorkerError):
        pool.wait_ready()
    path, listed, target = json.loads(seen.read_text())
    assert path[1:] == [str(tmp_path)]
    assert listed == ["detaudit"] and target == str(package)
    assert not Path(path[0]).exists()  # removed at close, the package itself untouched
    assert package.is_dir()


def test_a_failed_start_leaves_no_worker_behind(tmp_path, monkeypatch):
    started = []
    spawn = WorkerPool._spawn

    def spawn_once(self):
        if started:
            raise WorkerError("the second one fails")
        started.append(spawn(self))
        return started[-1]

    monkeypatch.setattr(WorkerPool, "_spawn", spawn_once)
    with pytest.raises(WorkerError), WorkerPool(2):
        pass
    assert started and started[0].proc.returncode is not None


SLOW = 3.0
SLOW_WORKER = f"""
import json, sys, time

time.sleep({SLOW})  # a slow start: torch's import on a loaded machine
print(json.dumps({{"type": "hello", "pid": 1, "torch": "fake"}}), flush=True)
for line in sys.stdin:
    time.sleep({SLOW})  # every request as slow as the start, the first one included
    print(json.dumps({{"type": "result", "id": json.loads(line)["id"]}}), flush=True)
"""


@pytest.mark.slow  # waits for a hang, a crash or a slow start
def test_the_first_request_of_a_worker_gets_its_start_up_time_on_top(tmp_path):
    # A worker's first request pays for lazy imports and first calls, which a
    # loaded machine slows as much as the start; later requests get the timeout alone.
    # Budget of the first: 2.5 s + min(start-up >= 3 s, 2.5 s) = 5 s for 3 s of work.
    timeout = SLOW - 0.5
    with WorkerPool(1, python=_fake_python(tmp_path, SLOW_WORKER), timeout=timeout) as pool:
        # A result names its device: the pool checks every answer against its record.
        requests = [{"id": "first", "device": "cpu"}, {"id": "second", "device": "cpu"}]
        first, second = list(pool.run(requests))
    assert first == {"id": "first", "device": "cpu", "request": None, "type": "result"}
    assert second["id"] == "second" and second["timeout"] == timeout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_leads_its_own_group_with_a_warden():
    with WorkerPool(1) as pool:
        pid = pool.wait_ready().pid
        members = group(pid)
        (warden,) = members - {pid}
        assert Path(f"/proc/{warden}/comm").read_text().strip() == "detaudit-warden"
        assert os.getpgid(pid) == pid
    assert wait_gone(members) == set()


def test_a_torch_in_the_callers_folder_does_not_shadow_the_interpreters(tmp_path, monkeypatch):
    # ``python -m`` puts its start folder first on sys.path: run from a PyTorch checkout (or
    # any folder holding torch/ or detaudit/), a worker started there imported those.
    for name in ("torch", "detaudit"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the caller folder')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DETAUDIT_TEST_EXPECT_CWD", str(tmp_path))
    with WorkerPool(1) as pool:
        hello = pool.wait_ready()
        env = pool.request({"type": "environment", "cuda": False})
        answer = pool.request(run("lifeprobes:working_folder", "cwd"))
    assert hello.torch == torch.__version__
    assert env["environment"]["torch_path"] == str(Path(torch.__file__).parent)
    # ...and the probes still run in the caller's folder (their relative paths mean it).
    assert answer["strict"]["outcome"] == "ran", answer["strict"]


# ------------------------------------------------------------------ no more workers than tasks


@pytest.mark.parametrize(
    "only,device,tasks",
    [
        (("index-copy", "put-accumulate-false"), "cpu", 2),  # 2 entries x cpu
        (("index-copy",), "all", 3),  # 1 entry x cpu, cuda, mps (absent ones skipped)
    ],
)
def test_an_audit_starts_no_more_workers_than_tasks(monkeypatch, only, device, tasks):
    """``--jobs 8`` started 8 workers (8 torch imports) for fewer (entry, device) tasks."""
    from detaudit import audit

    started = []
    spawn = WorkerPool._spawn

    def counted(self):
        worker = spawn(self)
        started.append(worker)
        return worker

    monkeypatch.setattr(WorkerPool, "_spawn", counted)
    report = audit(only=only, device=device, repeat=1, jobs=8)
    assert len(report.results) == tasks
    assert len(started) == tasks
    assert report.settings["jobs"] == 8


def test_grow_starts_workers_up_to_the_number_asked_for():
    with WorkerPool(1) as pool:
        pool.grow(3)
        pool.grow(2)  # never fewer
        assert len(pool._workers) == 3
        answers = list(pool.run([run("lifeprobes:hello", f"r{i}") for i in range(3)]))
    assert {a["strict"]["outcome"] for a in answers} == {"ran"}
