"""``detaudit env``: this process's reproducibility settings, with advice."""

from __future__ import annotations

import argparse
import json

from .console import terminal
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
    env.add_argument("--format", choices=("text", "json"), default="text")
    env.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..repro.envreport import env_report

    report = env_report(with_cuda=True)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    from rich.table import Table

    env = report.environment
    console = terminal()
    gpu = f"{env['gpu']} ({env['gpu_capability']}, driver {env['gpu_driver']})"
    console.print(
        f"[bold]detaudit env[/bold]: torch {env['torch']} · CUDA {env['cuda'] or 'none'} · "
        f"cuDNN {env['cudnn'] or 'none'} · GPU {gpu if env['gpu'] else 'none'}\n"
        f"Python {env['python']} · numpy {env['numpy']} · {env['os']}"
    )
    table = Table(title="reproducibility settings", title_justify="left")
    for column in ("setting", "value", "status"):
        table.add_column(column)
    for s in report.settings:
        value = (
            s.value
            if isinstance(s.value, str)
            else {True: "on", False: "off", None: "unset"}[s.value]
        )
        status = {True: "[green]ok[/]", False: "[bold red]fix[/]", None: "[dim]n/a[/]"}[s.ok]
        table.add_row(s.name, value, status)
    console.print(table)
    for s in report.settings:
        if s.advice:
            console.print(f"- [bold]{s.name}[/bold]: {s.advice}", soft_wrap=True)
    if report.ok:
        console.print("every setting is as reproducibility wants it")
    return EXIT_OK
