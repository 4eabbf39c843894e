"""``detaudit fleet``: audit every node type of a Slurm cluster and build the fleet table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .audit import add_audit_options, audit_arguments, options_from_args
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import positive_float

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``fleet`` to the command parser."""
    fleet = commands.add_parser(
        "fleet",
        help="audit every node type of a Slurm cluster; one table (exit 1 if a job failed)",
        description="Submit one audit job per node type through sbatch, wait for them, collect "
        "the reports from the shared folder and write the fleet table (SHARED/fleet.md and "
        "SHARED/fleet.html), with which node types give the same bits.",
    )
    fleet.add_argument(
        "--node-type",
        action="append",
        required=True,
        metavar="NAME:SBATCH-OPTIONS",
        help="a node type and the sbatch options that reach it, e.g. "
        "'h100:--partition=gpu --gres=gpu:h100:1' (repeatable)",
    )
    fleet.add_argument(
        "--shared",
        required=True,
        metavar="DIR",
        help="a folder every node sees at the same path: jobs write their reports there",
    )
    # Every audit option, as ``audit`` takes them: each job runs ``audit`` with them.
    add_audit_options(fleet.add_argument_group("the audit each job runs (as detaudit audit)"))
    fleet.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="the interpreter whose torch the jobs audit, as audit --python (default: this one; "
        "the jobs run this detaudit under this interpreter, as clusters share filesystems)",
    )
    fleet.add_argument(
        "--job-name", default="detaudit", metavar="PREFIX", help="jobs are named PREFIX-NAME"
    )
    fleet.add_argument(
        "--poll", type=positive_float, default=10.0, metavar="S", help="seconds between polls"
    )
    fleet.add_argument(
        "--wait-timeout",
        type=positive_float,
        default=3600.0,
        metavar="S",
        help="stop waiting (and scancel what is left) after S seconds (default 3600)",
    )
    fleet.add_argument(
        "--dry-run",
        action="store_true",
        help="print the batch scripts instead of submitting them",
    )
    fleet.set_defaults(run=run)


def _audit(args: argparse.Namespace):
    """The audit each job runs: this detaudit under this interpreter, the workers under --python.

    When ``--python`` names another interpreter, the job runs ``audit --python PYTHON``,
    so the workers import that interpreter's torch and it needs no detaudit dependencies.
    Catalogue paths are made absolute: the job runs in another folder.
    """
    import detaudit

    from ..fleet.plan import Audit, check_job_name

    python = args.python if args.python != sys.executable else None
    options = options_from_args(args, python).absolute()
    return Audit(
        shared=Path(args.shared).expanduser().absolute(),
        runner=sys.executable,
        pythonpath=str(Path(detaudit.__file__).resolve().parent.parent),
        arguments=(*audit_arguments(options), "--format", "json", "--out"),
        job_name=check_job_name(args.job_name),
    )


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_texts_atomic
    from ..fleet.plan import parse_node_type
    from ..fleet.result import build_fleet
    from ..fleet.script import batch_script
    from ..fleet.slurm import Job, cancel, collect, submit, wait
    from ..model.reportfile import load_report
    from ..render import RENDERERS

    nodes = [parse_node_type(text) for text in args.node_type]
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"--node-type {twice}: named twice; give each node type its own name")
    audit = _audit(args)
    if args.dry_run:
        print("\n".join(batch_script(audit, node) for node in nodes), end="")
        return EXIT_OK
    if not audit.shared.is_dir():
        raise UsageError(
            f"--shared {args.shared}: no such folder; create it on a filesystem every node mounts"
        )
    jobs: list[Job] = []
    try:
        submit(audit, nodes, jobs)
        for job in jobs:
            print(f"detaudit: fleet: {job.node.name}: submitted job {job.job_id}", file=sys.stderr)
        states = wait(
            jobs,
            poll=args.poll,
            timeout=args.wait_timeout,
            progress=lambda job, state: print(
                f"detaudit: fleet: {job.node.name}: job {job.job_id} {state}", file=sys.stderr
            ),
        )
    except BaseException as exc:
        # A refusal, a signal or an error: no job outlives the command that would read it.
        if not jobs:
            raise
        cancelled = cancel(jobs)
        if isinstance(exc, UsageError):
            from .wording import worded

            raise UsageError(f"{worded(exc)}; {cancelled}") from None
        print(f"detaudit: fleet: {cancelled}", file=sys.stderr)
        raise
    outcomes = collect(jobs, states)
    reports = [load_report(o.report) for o in outcomes if not o.failed]
    fleet = build_fleet(outcomes, reports)
    written = write_texts_atomic(
        {
            audit.shared / "fleet.md": RENDERERS["fleet"]["md"].render(fleet),
            audit.shared / "fleet.html": RENDERERS["fleet"]["html"].render(fleet),
        }
    )
    for path in written:
        print(path)
    for outcome in fleet.failed:
        print(f"detaudit: fleet: {outcome.node.name}: failed: {outcome.why}", file=sys.stderr)
    return EXIT_FINDINGS if fleet.failed else EXIT_OK
