"""The ``env`` document: text and JSON views of ``detaudit env``'s :class:`EnvReport`."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..repro.envreport import EnvReport

__all__ = ["render_json", "render_text"]

#: The text view's width: what rich gives a console that is not a terminal.
WIDTH = 80
_VALUE = {True: "on", False: "off", None: "unset"}
_STATUS = {True: "[green]ok[/]", False: "[bold red]fix[/]", None: "[dim]n/a[/]"}


def render_text(report: EnvReport) -> str:
    """Versions, a table of the settings with their status, then one line of advice per fix."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=WIDTH, force_terminal=False, color_system=None, highlight=False
    )
    env = report.environment
    gpu = f"{env['gpu']} ({env['gpu_capability']}, driver {env['gpu_driver']})"
    versions = (
        f"torch {env['torch']} · CUDA {env['cuda'] or 'none'} · "
        f"cuDNN {env['cudnn'] or 'none'} · GPU {gpu if env['gpu'] else 'none'}\n"
        f"Python {env['python']} · numpy {env['numpy']} · {env['os']}"
    )
    console.print(f"[bold]detaudit env[/bold]: {escape(versions)}")
    table = Table(title="reproducibility settings", title_justify="left")
    for column in ("setting", "value", "status"):
        table.add_column(column)
    for s in report.settings:
        value = s.value if isinstance(s.value, str) else _VALUE[s.value]
        table.add_row(Text(s.name), Text(value), _STATUS[s.ok])
    console.print(table)
    for s in report.settings:
        if s.advice:
            console.print(f"- [bold]{escape(s.name)}[/bold]: {escape(s.advice)}", soft_wrap=True)
    if report.ok:
        console.print("every setting is as reproducibility wants it")
    return buffer.getvalue()


def render_json(report: EnvReport) -> str:
    """The report as indented JSON (:meth:`EnvReport.to_dict`)."""
    return json.dumps(report.to_dict(), indent=2) + "\n"
