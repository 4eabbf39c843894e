"""Talk to Slurm: submit one job per node type with ``sbatch``, wait with ``scontrol``/``sacct``.

Slurm distributes the jobs; this module only submits, polls and reads what the
jobs left in the shared folder. A job that fails is an outcome (its Slurm state
and its stderr tail), never the end of the run.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import EnvironmentUnsupported, UsageError
from ..signalhold import signals_held
from .plan import Audit, NodeType
from .result import Outcome
from .script import batch_script

__all__ = ["Job", "cancel", "collect", "job_state", "submit", "wait"]

#: States a job leaves; every other state (PENDING, RUNNING, COMPLETING...) is still going.
_ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
    }
)
_TAIL_LINES = 15
_SLURM_TIMEOUT = 60  # seconds one sbatch/scontrol/sacct call may take


@dataclass(frozen=True, slots=True)
class Job:
    """One submitted job: its node type, Slurm job id and folder."""

    node: NodeType
    job_id: str
    folder: Path


def _slurm(args: Sequence[str]) -> subprocess.CompletedProcess:
    """Run one Slurm client command; a missing one is EnvironmentUnsupported."""
    if shutil.which(args[0]) is None:
        raise EnvironmentUnsupported(
            f"{args[0]} not found: detaudit fleet submits through Slurm; run it on a login "
            "node of the cluster, or use --dry-run to print the batch scripts"
        )
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=_SLURM_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def submit(audit: Audit, nodes: Sequence[NodeType], jobs: list[Job]) -> None:
    """Write each node type's batch script into its folder and ``sbatch`` it, appending to ``jobs``.

    Every script is made before the first ``sbatch``, so that one this detaudit
    cannot write (a path it cannot quote) is a UsageError with nothing
    submitted. ``jobs`` is the caller's, so that the jobs submitted before a
    refusal or an interrupt are known and can be cancelled (:func:`cancel`).
    """
    scripts = [(node, batch_script(audit, node)) for node in nodes]
    for node, text in scripts:
        folder = audit.folder(node)
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "detaudit-job.sbatch"
        write_text_atomic(script, text)
        with signals_held():
            done = _slurm(["sbatch", "--parsable", str(script)])
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines()
                raise UsageError(
                    f"{node.name}: sbatch refused the job: "
                    f"{lines[-1] if lines else f'exit {done.returncode}'}",
                    option="node_type",
                )
            job_id = done.stdout.strip().split(";")[0]  # --parsable: "ID" or "ID;CLUSTER"
            jobs.append(Job(node, job_id, folder))


def cancel(jobs: Sequence[Job]) -> str:
    """``scancel`` every job in one call; one line saying what was cancelled, or what to do.

    Never raises: it runs while another error or a signal is ending the command.
    """
    named = ", ".join(f"{job.job_id} ({job.node.name})" for job in jobs)
    noun = "job" if len(jobs) == 1 else "jobs"
    try:
        done = _slurm(["scancel", *(job.job_id for job in jobs)])
    except (EnvironmentUnsupported, OSError, subprocess.SubprocessError) as exc:
        return f"could not cancel {noun} {named} ({exc}): scancel them by hand"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit {done.returncode}"
        return f"scancel of {noun} {named} failed ({why}): scancel them by hand"
    return f"cancelled {noun} {named}"


def _fields(text: str) -> dict[str, str]:
    """``scontrol show job -o``'s ``Key=Value`` words as a dict."""
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def job_state(job_id: str) -> tuple[str, str | None]:
    """(JobState, ExitCode) from ``scontrol``, else from ``sacct``; ``UNKNOWN`` when neither knows."""
    shown = _slurm(["scontrol", "show", "job", "-o", job_id])
    if shown.returncode == 0 and "JobState=" in shown.stdout:
        fields = _fields(shown.stdout)
        return fields["JobState"], fields.get("ExitCode")
    if shutil.which("sacct"):
        # scontrol forgets a job MinJobAge seconds after it ends; accounting remembers
        acct = _slurm(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode"])
        line = acct.stdout.strip().splitlines()[0] if acct.stdout.strip() else ""
        if acct.returncode == 0 and "|" in line:
            state, code = line.split("|", 1)
            return state.split()[0], code
    return "UNKNOWN", None


def wait(
    jobs: Sequence[Job],
    *,
    poll: float = 10.0,
    timeout: float = 3600.0,
    progress: Callable[[Job, str], None] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """Poll until every job has left the active states, or ``timeout`` seconds pass.

    Returns job id -> (state, exit code). Jobs still active at the timeout are
    cancelled (``scancel``) and get the state ``TIMEOUT (detaudit stopped waiting)``.
    """
    deadline = time.monotonic() + timeout
    states: dict[str, tuple[str, str | None]] = {}
    seen: dict[str, str] = {}
    while True:
        for job in jobs:
            if job.job_id in states:
                continue
            state, code = job_state(job.job_id)
            if progress is not None and seen.get(job.job_id) != state:
                progress(job, state)
            seen[job.job_id] = state
            if state not in _ACTIVE and state != "UNKNOWN":
                states[job.job_id] = (state, code)
        if len(states) == len(jobs):
            return states
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    for job in jobs:
        if job.job_id not in states:
            _slurm(["scancel", job.job_id])
            last = seen.get(job.job_id, "UNKNOWN")
            states[job.job_id] = (f"TIMEOUT (detaudit stopped waiting; was {last})", None)
    return states


def _tail(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return "\n".join(lines[-_TAIL_LINES:]) or None


def collect(jobs: Sequence[Job], states: dict[str, tuple[str, str | None]]) -> list[Outcome]:
    """Each job's report (``FOLDER/job-ID/*.json``), or why there is none."""
    outcomes = []
    for job in jobs:
        state, code = states[job.job_id]
        stderr = _tail(job.folder / f"slurm-{job.job_id}.err")
        reports = sorted((job.folder / f"job-{job.job_id}").glob("detaudit-*.json"))
        if state == "COMPLETED" and len(reports) == 1:
            outcomes.append(Outcome(job.node, job.job_id, state, code, reports[0]))
            continue
        why = (
            f"job {job.job_id} ended {state} (exit code {code or '?'})"
            if state != "COMPLETED"
            else f"job {job.job_id} completed but left {len(reports)} reports in "
            f"{job.folder / f'job-{job.job_id}'} (expected 1)"
        )
        outcomes.append(Outcome(job.node, job.job_id, state, code, None, why, stderr))
    return outcomes
