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
            f"{text!r}: expected NAME:SBATCH-OPTIONS, e.g. "
            "'h100:--partition=gpu --gres=gpu:h100:1' (NAME: letters, digits, . _ -)",
            option="node_type",
        )
    try:
        words = tuple(shlex.split(options))
    except ValueError as exc:
        raise UsageError(
            f"{text!r}: cannot split the sbatch options: {exc}", option="node_type"
        ) from None
    bad = [w for w in words if not w.startswith("-")]
    if bad:
        raise UsageError(
            f"{name}: {bad[0]!r} is not an sbatch option; write options with their "
            "values attached (--partition=gpu, --constraint=h100)",
            option="node_type",
        )
    return NodeType(name, words)


def check_job_name(text: str) -> str:
    """``--job-name``'s prefix, if it is a name like a node type's; else a UsageError.

    A blank or an ``=`` in a job name would also break reading ``scontrol``'s
    ``Key=Value`` words, so such a name is refused rather than quoted.
    """
    if not _NAME.match(text):
        raise UsageError(
            f"{text!r}: give a name of letters, digits, . _ - (starting with a letter or digit)",
            option="job_name",
        )
    return text


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit every node type runs, and where its report goes.

    ``arguments`` are the words of the audit command after ``audit``, ending in
    the option that takes the report folder: the CLI writes them from the
    audit's options (fleet knows no flag), and :meth:`command` adds the folder.
    """

    shared: Path  # a folder every node sees at the same path
    runner: str  # the interpreter that runs detaudit in the job (clusters share filesystems)
    pythonpath: str  # the folder holding this detaudit, so the job audits with the same code
    arguments: tuple[str, ...]
    job_name: str = "detaudit"

    def folder(self, node: NodeType) -> Path:
        """Where ``node``'s job writes its report and its Slurm output."""
        return self.shared / node.name

    def command(self, out: str) -> list[str]:
        """The audit command line the job runs, writing its report into the folder ``out``."""
        return [self.runner, "-m", "detaudit", "audit", *self.arguments, out]
