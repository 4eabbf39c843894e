"""``detaudit fleet`` leaves no job behind: a refusal or a signal cancels what it submitted.

Slurm's clients are fakes written into the test's folder (first on ``PATH``):
each logs its argv to one file; ``sbatch`` prints job ids 101, 102, ... and
refuses any script under a folder named ``refused`` and, for one under ``slow``,
waits for the test's go-ahead; ``scontrol`` says every job is RUNNING, so that
the command waits until it is signalled.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..processes import DEADLINE

# Fleet runs cancelled mid-way on a one-node Slurm cluster.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

_FAKES = {
    "sbatch": """
        case "$*" in
          */refused/*) echo "sbatch: error: invalid partition name specified" >&2; exit 1 ;;
          */slow/*) touch {counter}.slow; while [ ! -e {counter}.go ]; do sleep 0.05; done ;;
        esac
        n=$(( $(cat {counter} 2>/dev/null || echo 100) + 1 ))
        echo "$n" > {counter}
        echo "$n"
    """,
    "scontrol": 'echo "JobId=$4 JobName=x JobState=RUNNING ExitCode=0:0"',
    "scancel": "",
    "squeue": "",
    "sacct": "",
}


@pytest.fixture
def slurm(tmp_path):
    """A folder of fake Slurm clients; returns (env with it first on PATH, the argv log)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "slurm.log"
    counter = shlex.quote(str(tmp_path / "counter"))
    for name, body in _FAKES.items():
        script = bin_ / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*" >> {shlex.quote(str(log))}\n'
            + body.replace("{counter}", counter).replace("\n        ", "\n")
            + "\n"
        )
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}
    return env, log


def _calls(log: Path, command: str) -> list[list[str]]:
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [line.split()[1:] for line in lines if line.split()[0] == command]


def _fleet(shared: Path, *nodes: str) -> list[str]:
    args = [sys.executable, "-m", "detaudit", "fleet", "--shared", str(shared), "--poll", "0.05"]
    for node in nodes:
        args += ["--node-type", node]
    return args


def _default_sigint() -> None:
    """In the child: SIGINT as a terminal gives it, even if this test runs where it is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_refused_later_node_type_cancels_the_jobs_submitted_before_it(slurm, tmp_path):
    env, log = slurm
    done = subprocess.run(
        _fleet(tmp_path, "first:--partition=a", "second:--partition=b", "refused:--partition=c"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith("detaudit: error: --node-type refused: sbatch refused the job: ")
    assert "invalid partition name specified" in lines[0]
    assert lines[0].endswith("; cancelled jobs 101 (first), 102 (second)")
    assert len(_calls(log, "sbatch")) == 3
    assert _calls(log, "scancel") == [["101", "102"]]
    assert _calls(log, "scontrol") == []  # it never started waiting


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_while_waiting_cancels_every_submitted_job(sig, slurm, tmp_path):
    env, log = slurm
    proc = subprocess.Popen(
        _fleet(tmp_path, "a:--partition=a", "b:--partition=b"),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - one signal() call, nothing else
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        # both jobs submitted and polled once: the command is waiting
        while not {"101", "102"} <= {c[-1] for c in _calls(log, "scontrol")}:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the fleet never polled both jobs"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, err
    assert _calls(log, "scancel") == [["101", "102"]], err
    assert err.splitlines()[-2:] == [
        "detaudit: fleet: cancelled jobs 101 (a), 102 (b)",
        f"detaudit: interrupted by {sig.name}; no report written",
    ]
    assert not (tmp_path / "fleet.md").exists()


def test_a_signal_during_sbatch_waits_for_its_job_id_and_cancels_that_job_too(slurm, tmp_path):
    env, log = slurm
    proc = subprocess.Popen(
        _fleet(tmp_path, "a:--partition=a", "slow:--partition=b", "c:--partition=c"),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while not (tmp_path / "counter.slow").exists():  # the second sbatch is running
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the fleet never ran the second sbatch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        (tmp_path / "counter.go").touch()  # sbatch prints job 102 only now
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert len(_calls(log, "sbatch")) == 2  # the third node type is never submitted
    assert _calls(log, "scancel") == [["101", "102"]], err


def test_a_failed_scancel_says_which_jobs_to_cancel_by_hand(slurm, tmp_path, monkeypatch):
    from detaudit.fleet.plan import NodeType
    from detaudit.fleet.slurm import Job, cancel

    env, _ = slurm
    scancel = Path(env["PATH"].split(os.pathsep)[0]) / "scancel"
    scancel.write_text("#!/bin/sh\necho 'scancel: error: Invalid job id specified' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", env["PATH"])
    jobs = [Job(NodeType("a", ()), "7", tmp_path)]
    assert cancel(jobs) == (
        "scancel of job 7 (a) failed (scancel: error: Invalid job id specified): "
        "scancel them by hand"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert cancel(jobs).startswith("could not cancel job 7 (a) (scancel not found")
