"""The batch script one node type's job runs. Pure: returns the text."""

from __future__ import annotations

import re
import shlex

from ..errors import UsageError
from .plan import Audit, NodeType

__all__ = ["batch_script"]

# sbatch reads an #SBATCH line its own way, not the shell's: words split on blanks,
# "..." and '...' group, \ escapes even inside quotes, an unquoted # starts a comment
# (_get_argument in src/sbatch/opt.c; older releases honour "..." only). So a
# word goes bare, or in "..." when it holds a blank, ' or #; one holding ", \ or a
# control character cannot be written there and is refused before anything is submitted.
_BARE = re.compile(r"[^\s'\"#\\]*")
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


def _sbatch_word(word: str, option: str, given: str) -> str:
    """``word`` as one word of an ``#SBATCH`` line, or a UsageError naming ``option``."""
    bad = _UNQUOTABLE.search(word)
    if bad:
        raise UsageError(
            f"{given!r}: holds {bad.group()!r}, which an #SBATCH line cannot carry; "
            "give one without it",
            option=option,
        )
    return word if _BARE.fullmatch(word) else f'"{word}"'


def batch_script(audit: Audit, node: NodeType) -> str:
    """``#!/bin/bash`` with ``#SBATCH`` lines (the job's name, output files, the user's options).

    The job runs the same detaudit as the submitter (its folder first on
    ``PYTHONPATH``) under ``audit.runner``, its workers under ``audit.python``
    (which import only detaudit's package from that folder), and writes its
    JSON report to the node type's folder under the shared one. Paths with
    blanks or quotes are quoted, for sbatch in the ``#SBATCH`` lines and for bash
    in the commands; a shared folder sbatch cannot be given (``"``, ``\\``, a
    control character, or ``%``, which Slurm reads as a filename pattern) is a
    UsageError.
    """
    folder = audit.folder(node)
    shared = str(audit.shared)
    if "%" in shared:
        raise UsageError(
            f"{shared!r}: holds '%', which Slurm reads as a filename pattern "
            "(%j, %u, ...); use a folder without it",
            option="shared",
        )

    def sbatch(word: str, option: str = "shared", given: str = shared) -> str:
        return "#SBATCH " + _sbatch_word(word, option, given)

    lines = [
        "#!/bin/bash",
        sbatch(f"--job-name={audit.job_name}-{node.name}", "job_name", audit.job_name),
        sbatch(f"--output={folder}/slurm-%j.out"),
        sbatch(f"--error={folder}/slurm-%j.err"),
        *(sbatch(option, "node_type", f"{node.name}: {option}") for option in node.sbatch),
        f"# detaudit fleet: node type {node.name}",
        "set -euo pipefail",
        f"export PYTHONPATH={shlex.quote(audit.pythonpath)}${{PYTHONPATH:+:$PYTHONPATH}}",
        'echo "detaudit fleet: $(hostname) job ${SLURM_JOB_ID:-?}" >&2',
        # One folder per job: a report left by an earlier run is never taken for this one's.
        f'out={shlex.quote(str(folder))}/job-"$SLURM_JOB_ID"',
        " ".join(shlex.quote(word) for word in audit.command("__DETAUDIT_OUT__")).replace(
            "__DETAUDIT_OUT__", '"$out"'
        ),
    ]
    return "\n".join(lines) + "\n"
