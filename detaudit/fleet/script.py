"""The batch script one node type's job runs. Pure: returns the text."""

from __future__ import annotations

import shlex

from .plan import Audit, NodeType

__all__ = ["batch_script"]


def batch_script(audit: Audit, node: NodeType) -> str:
    """``#!/bin/bash`` with ``#SBATCH`` lines (the job's name, output files, the user's options).

    The job runs the same detaudit as the submitter (its folder first on
    ``PYTHONPATH``) under ``audit.runner``, its workers under ``audit.python``
    (which import only detaudit's package from that folder), and writes its
    JSON report to the node type's folder under the shared one.
    """
    folder = audit.folder(node)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={audit.job_name}-{node.name}",
        f"#SBATCH --output={folder}/slurm-%j.out",
        f"#SBATCH --error={folder}/slurm-%j.err",
        *(f"#SBATCH {shlex.quote(option)}" for option in node.sbatch),
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
