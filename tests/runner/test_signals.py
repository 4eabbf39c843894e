"""SIGINT, SIGTERM and SIGHUP end a command cleanly; a dead parent takes its workers with it.

Each test waits for a hanging probe (tests/data/lifeline) to say it runs, with
its pids, then signals and checks the process table: the worker, the probe's
own subprocess and the worker's warden must all be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..processes import LIFELINE, LIFELINE_CATALOG, group, wait_for_marker, wait_gone

# Signals sent to whole audits running in their own processes.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _start(args: list[str], markers: Path, **env: str) -> subprocess.Popen:
    markers.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,  # this checkout's detaudit, whatever is installed
        env={**os.environ, "DETAUDIT_TEST_MARKERS": str(markers), **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_and_check(proc: subprocess.Popen, markers: Path, sig: signal.Signals) -> str:
    """Wait for the probe, send ``sig``, check the exit and the process table; return stderr."""
    try:
        record = wait_for_marker(markers, proc)
        members = group(record["worker"])
        # the worker, the probe's children and the worker's warden
        assert {record["worker"], *record["children"]} <= members
        assert len(members) == len(record["children"]) + 2
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, err
    assert wait_gone(members) == set()
    return err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_a_signal_ends_the_audit_with_its_workers_and_no_report(sig, tmp_path):
    out = tmp_path / "out"
    proc = _start(
        [
            "-m", "detaudit", "audit", "--no-builtin", "--catalog", str(LIFELINE_CATALOG),
            "--only", "life-hang-with-child", "--device", "cpu", "--timeout", "600",
            "--out", str(out), "--format", "json",
        ],
        tmp_path / "markers",
    )  # fmt: skip
    err = _signal_and_check(proc, tmp_path / "markers", sig)
    assert err == f"detaudit: interrupted by {sig.name}; no report written\n"
    assert not out.exists() or list(out.iterdir()) == []


def test_sigterm_ends_a_scan_tracing_its_probes(tmp_path):
    proc = _start(
        [
            "-m", "detaudit", "scan", "--signatures", "--no-builtin",
            "--catalog", str(LIFELINE_CATALOG),
        ],
        tmp_path / "markers",
        DETAUDIT_CACHE_DIR=str(tmp_path / "cache"),
    )  # fmt: skip
    err = _signal_and_check(proc, tmp_path / "markers", signal.SIGTERM)
    assert err == "detaudit: interrupted by SIGTERM; no report written\n"


NOHUP = """
import signal, subprocess, sys
signal.signal(signal.SIGHUP, signal.SIG_IGN)
sys.exit(subprocess.call(sys.argv[1:]))
"""


def test_an_ignored_sighup_stays_ignored(tmp_path):
    # As under nohup: the audit goes on (and SIGTERM ends it).
    proc = _start(
        [
            "-c", NOHUP, sys.executable, "-m", "detaudit", "audit", "--no-builtin",
            "--catalog", str(LIFELINE_CATALOG), "--only", "life-hang", "--device", "cpu",
            "--timeout", "600", "--out", str(tmp_path / "out"),
        ],
        tmp_path / "markers",
    )  # fmt: skip
    try:
        wait_for_marker(tmp_path / "markers", proc)
        (cli,) = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        os.kill(int(cli), signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # a handled SIGHUP ends it in well under a second
        os.kill(int(cli), signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143
    assert err == "detaudit: interrupted by SIGTERM; no report written\n"


POOL_SCRIPT = """
import sys
from detaudit.runner.pool import WorkerPool

with WorkerPool(1, timeout=3600) as pool:
    pool.request({"type": "run", "id": "hang", "probe": "lifeprobes:hang_with_child",
                  "probe_path": sys.argv[1], "device": "cpu", "repeat": 1, "seed": 0})
"""


def test_workers_die_with_a_sigkilled_parent(tmp_path):
    proc = _start(["-c", POOL_SCRIPT, str(LIFELINE)], tmp_path / "markers")
    try:
        record = wait_for_marker(tmp_path / "markers", proc)
        members = group(record["worker"])
        assert {record["worker"], *record["children"]} <= members
        proc.kill()
        proc.communicate()
        # the kernel kills the worker (PR_SET_PDEATHSIG), its warden the rest of its group
        assert wait_gone(members) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


FALLBACK_WORKER = """
import subprocess, sys, time
from detaudit.runner import lifeline

lifeline._kill_me_with_parent = lambda: False  # as where prctl is not available
lifeline.hold()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
print(child.pid, flush=True)
time.sleep(3600)
"""
LAUNCHER = """
import os, subprocess, sys
env = {**os.environ, "DETAUDIT_PARENT_PID": str(os.getpid())}
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env, start_new_session=True)
print(worker.pid, flush=True)
worker.wait()
"""


def test_without_prctl_a_thread_watches_the_parent(tmp_path):
    proc = _start(["-c", LAUNCHER, textwrap.dedent(FALLBACK_WORKER)], tmp_path / "markers")
    try:
        worker = int(proc.stdout.readline())
        child = int(proc.stdout.readline())
        assert {worker, child} <= group(worker)
        proc.kill()
        proc.communicate()
        assert wait_gone({worker, child}) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_worker_whose_parent_is_already_gone_ends_itself():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", "from detaudit.runner import lifeline; lifeline.hold(); print('on')"],
        cwd=ROOT, env={**os.environ, "DETAUDIT_PARENT_PID": gone.strip()},
        capture_output=True, text=True, timeout=120, start_new_session=True, check=False,
    )  # fmt: skip
    assert result.returncode == -signal.SIGKILL and result.stdout == ""


def test_a_worker_started_by_hand_is_left_alone():
    env = {k: v for k, v in os.environ.items() if k != "DETAUDIT_PARENT_PID"}
    result = subprocess.run(
        [sys.executable, "-c", "from detaudit.runner import lifeline; lifeline.hold(); print('on')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "on\n"
