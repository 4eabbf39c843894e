"""``detaudit env``: this process's reproducibility settings, with advice."""

from __future__ import annotations

import argparse
import sys

from ..render import RENDERERS
from .exits import EXIT_OK

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``env`` to the command parser."""
    env = commands.add_parser(
        "env",
        help="show this process's reproducibility settings, with advice",
        description="Show torch, CUDA, cuDNN and GPU versions and every setting that "
        "reproducibility depends on (deterministic mode, cuDNN, CUBLAS_WORKSPACE_CONFIG, "
        "PYTHONHASHSEED, ...), with one line of advice for each that is not as it should be.",
    )
    env.add_argument("--format", choices=tuple(RENDERERS["env"]), default="text")
    env.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..repro.envreport import env_report

    report = env_report(with_cuda=True)
    sys.stdout.write(RENDERERS["env"][args.format].render(report))
    return EXIT_OK
