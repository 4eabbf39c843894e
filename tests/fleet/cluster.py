"""A one-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd.

Its own config, key, socket, state and logs live in one temporary folder; two
partitions (``typea``, ``typeb``) and two node features stand for two node types.
Every daemon started is stopped again (:meth:`SlurmCluster.stop`), also on failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["BINARIES", "SlurmCluster", "missing_binaries"]

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol", "scancel")
_START_TIMEOUT = 60.0


def missing_binaries() -> list[str]:
    """The daemons and clients this machine lacks (install slurm-wlm and munge)."""
    return [b for b in BINARIES if shutil.which(b) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class SlurmCluster:
    """Start with :meth:`start`; ``env`` points Slurm clients at it (``SLURM_CONF``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.socket = root / "munge" / "munge.socket"
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _config(self) -> str:
        probe = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        cpus = re.search(r"CPUs=(\d+)", probe.stdout)
        memory = re.search(r"RealMemory=(\d+)", probe.stdout)
        r = self.root
        return "\n".join(
            [
                "ClusterName=detaudit-test",
                "SlurmctldHost=localhost",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.socket}",
                f"StateSaveLocation={r}/state",
                f"SlurmdSpoolDir={r}/spool",
                f"SlurmctldPidFile={r}/slurmctld.pid",
                f"SlurmdPidFile={r}/slurmd.pid",
                f"SlurmctldLogFile={r}/slurmctld.log",
                f"SlurmdLogFile={r}/slurmd.log",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "MpiDefault=none",
                "ReturnToService=2",
                "SlurmdTimeout=60",
                "MinJobAge=600",
                (
                    f"NodeName=localhost CPUs={cpus.group(1) if cpus else 1} "
                    f"RealMemory={memory.group(1) if memory else 1000} "
                    "Features=typea,typeb State=UNKNOWN"
                ),
                "PartitionName=typea Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "PartitionName=typeb Nodes=localhost MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def _spawn(self, name: str, args: list[str], log: Path) -> None:
        handle = open(log, "ab")  # noqa: SIM115 - the daemon writes it until stopped
        self.procs[name] = subprocess.Popen(
            args, stdout=handle, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        handle.close()

    def _logs(self) -> str:
        return "\n".join(
            f"--- {name} (last lines):\n{_tail(self.root / f'{name}.log')}\n"
            f"--- {name} output:\n{_tail(self.root / f'{name}.out')}"
            for name in ("munged", "slurmctld", "slurmd")
        )

    def _wait(self, what: str, check) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited {proc.returncode}\n{self._logs()}")
            if check():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what}: not within {_START_TIMEOUT:.0f} s\n{self._logs()}")

    def start(self) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; return when the node is idle."""
        r = self.root
        for folder in ("munge", "state", "spool"):
            (r / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text(self._config())
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.socket}",
                f"--key-file={key}",
                f"--pid-file={r}/munge/munged.pid",
                f"--seed-file={r}/munge/munged.seed",
                f"--log-file={r}/munged.log",
            ],
            r / "munged.out",
        )
        self._wait("munged socket", self.socket.exists)
        self._spawn(
            "slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)], r / "slurmctld.out"
        )
        self._wait("slurmctld answers", lambda: self._run("scontrol", "ping").returncode == 0)
        self._spawn(
            "slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(self.conf)], r / "slurmd.out"
        )
        self._wait("node localhost idle", self._idle)
        return self

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), capture_output=True, text=True, env=self.env, timeout=30, check=False
        )

    def _idle(self) -> bool:
        out = self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()
        return bool(out) and all(state.rstrip("*") == "idle" for state in out)

    def stop(self) -> None:
        """Stop every daemon this cluster started (slurmd first, munged last)."""
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
