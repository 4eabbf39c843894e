"""What ``detaudit fleet`` runs: the node types the user names and the audit each one makes."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["Audit", "NodeType", "check_job_name", "parse_node_type"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class NodeType:
    """One node type: a name for its column and the sbatch options that land a job on it."""

    name: str
    sbatch: tuple[str, ...]


def parse_node_type(text: str) -> NodeType:
    """``h100:--partition=gpu --gres=gpu:h100:1`` -> NodeType; a bad one is a UsageError."""
    name, sep, options = text.partition(":")
    if not sep or not _NAME.match(name):
        raise UsageError(
            f"--node-type {text!r}: expected NAME:SBATCH-OPTIONS, e.g. "
            "'h100:--partition=gpu --gres=gpu:h100:1' (NAME: letters, digits, . _ -)"
        )
    try:
        words = tuple(shlex.split(options))
    except ValueError as exc:
        raise UsageError(f"--node-type {text!r}: cannot split the sbatch options: {exc}") from None
    bad = [w for w in words if not w.startswith("-")]
    if bad:
        raise UsageError(
            f"--node-type {name}: {bad[0]!r} is not an sbatch option; write options with their "
            "values attached (--partition=gpu, --constraint=h100)"
        )
    return NodeType(name, words)


def check_job_name(text: str) -> str:
    """``--job-name``'s prefix, if it is a name like a node type's; else a UsageError.

    A blank or an ``=`` in a job name would also break reading ``scontrol``'s
    ``Key=Value`` words, so such a name is refused rather than quoted.
    """
    if not _NAME.match(text):
        raise UsageError(
            f"--job-name {text!r}: give a name of letters, digits, . _ - "
            "(starting with a letter or digit)"
        )
    return text


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit every node type runs, and where its report goes."""

    shared: Path  # a folder every node sees at the same path
    python: str  # the interpreter whose torch the job audits (clusters share filesystems)
    pythonpath: str  # the folder holding this detaudit, so the job audits with the same code
    device: str = "auto"
    only: tuple[str, ...] = ()
    repeat: int | None = None
    seed: int = 0
    timeout: float | None = None
    job_name: str = "detaudit"
    #: The interpreter that runs detaudit in the job (the one running ``fleet``); None: ``python``.
    #: When it is another, the job runs ``audit --python PYTHON``, so the workers import
    #: that interpreter's torch and the job needs no detaudit dependencies there.
    runner: str | None = None

    def folder(self, node: NodeType) -> Path:
        """Where ``node``'s job writes its report and its Slurm output."""
        return self.shared / node.name

    def command(self, out: str) -> list[str]:
        """The audit command line the job runs, writing its report into the folder ``out``."""
        runner = self.runner or self.python
        words = [runner, "-m", "detaudit", "audit", "--device", self.device]
        if runner != self.python:
            words += ["--python", self.python]
        for entry in self.only:
            words += ["--only", entry]
        if self.repeat is not None:
            words += ["--repeat", str(self.repeat)]
        if self.timeout is not None:
            words += ["--timeout", str(self.timeout)]
        words += ["--seed", str(self.seed), "--format", "json", "--out", out]
        return words
