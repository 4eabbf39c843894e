"""``detaudit fleet`` against a real Slurm: a one-node cluster started by the test.

munged, slurmctld and slurmd run on localhost with a config the test writes
(:mod:`tests.fleet.cluster`); the partitions ``typea`` and ``typeb`` stand for
two node types. The audits are real CPU audits of two entries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from .cluster import SlurmCluster, missing_binaries

RUNNING = ("index-copy", "index-add")  # both run with no alert on CPU

pytestmark = [
    # A one-node Slurm cluster started on localhost, and audits submitted to it.
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing_binaries()),
        reason=f"Slurm not installed ({', '.join(missing_binaries())} missing): "
        "install slurm-wlm and munge (apt-get install slurm-wlm munge), as .ci/run does",
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The running one-node cluster; SLURM_CONF points every Slurm client at it."""
    running = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    saved = os.environ.get("SLURM_CONF")
    try:
        running.start()
        os.environ["SLURM_CONF"] = str(running.conf)
        yield running
    finally:
        running.stop()
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
    assert not running.procs  # every daemon it started is stopped


def _fleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detaudit", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _audit_options() -> list[str]:
    only = [word for entry in RUNNING for word in ("--only", entry)]
    return ["--device", "cpu", *only, "--repeat", "2", "--poll", "1", "--wait-timeout", "500"]


def test_fleet_audits_two_node_types_and_reports_a_failed_one(cluster, tmp_path):
    shared = tmp_path / "shared run"  # a blank: quoted for sbatch and for bash
    shared.mkdir()
    done = _fleet(
        "--node-type",
        "typea:--partition=typea",
        "--node-type",
        "typeb:--partition=typeb --constraint=typeb",
        # a node type whose job fails: its Python cannot start
        "--node-type",
        "broken:--partition=typea --export=ALL,PYTHONHOME=/nonexistent",
        "--shared",
        str(shared),
        *_audit_options(),
    )
    assert done.returncode == 1, done.stderr  # a failed node type is a finding
    assert "broken: failed: job" in done.stderr
    md = (shared / "fleet.md").read_text()
    html = (shared / "fleet.html").read_text()
    assert md.startswith("# detaudit fleet: 3 node types, 1 failed")
    lines = md.splitlines()
    assert any(line.startswith("| typea | `--partition=typea` |") and "COMPLETED" in line
               for line in lines)  # fmt: skip
    assert any(line.startswith("| broken |") and "FAILED" in line and "**broken · failed**" in line
               for line in lines)  # fmt: skip
    # The failed node type is a column of the table: every cell not observed, never a status.
    assert "entries × 2 columns (+ 1 failed)" in md
    rows = [line for line in lines if line.startswith(("| index-copy |", "| index-add |"))]
    assert len(rows) == len(RUNNING)
    assert all(line.endswith("| *not observed* | identical |") for line in rows)
    failed = md.split("### Failed columns (1)")[1]
    assert "#### broken · failed" in failed and "(state FAILED, exit code " in failed
    assert "No module named 'encodings'" in failed  # the job's stderr tail
    # Two real audits of the same torch on the same inputs: every row bit-identical,
    # the failed column left out of the comparison.
    bits = md.split("### Bit identity")[1].split("###")[0]
    assert f"| {len(RUNNING)} | identical | every column" in bits
    assert "Failed column `broken · failed`" in bits and "nothing compared" in bits
    assert (
        "| index-copy | `torch.Tensor.index_copy` | forward | converts · `A` | converts · `A` |"
        in md
    )
    assert "typea · torch" in html and "bit-identical" in html
    assert '<span class="torch">broken</span><span class="dev">failed</span>' in html
    assert html.count('<td class="c none failed"') == len(RUNNING)
    foot = html.split("<tr><th>failed: why</th>")[1].split("</tr>")[0]
    assert "<b>FAILED</b> exit code " in foot and "No module named &#x27;encodings&#x27;" in foot
    for name in ("typea", "typeb"):
        assert len(list((shared / name).glob("job-*/detaudit-*.json"))) == 1


def test_dry_run_script_is_accepted_by_sbatch_test_only(cluster, tmp_path):
    shared = tmp_path / "shared run"
    printed = _fleet(
        "--node-type", "typeb:--partition=typeb --constraint=typeb",
        "--shared", str(shared), *_audit_options(), "--dry-run",
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert "#SBATCH --constraint=typeb" in printed.stdout
    assert not shared.exists()  # a dry run writes nothing
    shared.mkdir()  # sbatch --test-only checks the output folder's path, not its files
    tested = subprocess.run(
        ["sbatch", "--test-only"],
        input=printed.stdout,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tested.returncode == 0, tested.stderr
    assert "to start at" in tested.stderr


def test_sigterm_while_waiting_cancels_the_jobs(cluster, tmp_path):
    shared = tmp_path / "shared run"
    shared.mkdir()
    python = tmp_path / "hanging python"  # the jobs run until cancelled
    python.write_text("#!/bin/sh\nexec sleep 600\n")
    python.chmod(0o755)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "detaudit", "fleet", "--shared", str(shared),
            "--node-type", "typea:--partition=typea", "--node-type", "typeb:--partition=typeb",
            "--python", str(python), "--poll", "0.2", "--wait-timeout", "300",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines = []
        # both jobs submitted and seen by a poll (RUNNING, or PENDING on a one-core machine)
        while sum(": job " in line for line in lines) < 2:
            line = proc.stderr.readline()
            assert line, f"exited {proc.wait()} before both jobs were polled: {''.join(lines)}"
            lines.append(line)
        ids = [line.split()[-1] for line in lines if "submitted job" in line]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert f"detaudit: fleet: cancelled jobs {ids[0]} (typea), {ids[1]} (typeb)" in err
    for job in ids:
        shown = subprocess.run(
            ["scontrol", "show", "job", "-o", job],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert "JobState=CANCELLED" in shown.stdout, shown.stdout
