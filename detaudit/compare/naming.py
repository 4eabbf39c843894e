"""How a report is named to whoever reads it beside others: its one-line title. Pure; no torch.

Presentation, so not the model's: the diff, the fleet table, the renderers, the
scanner's and the trace comparison's notes all name a report this one way.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model.report import Report

__all__ = ["report_title"]


def report_title(report: Report, devices: Sequence[str] | None = None) -> str:
    """``torch 2.13.0+cpu · cpu`` or ``torch 2.11.0+cu130 · cuda · NVIDIA H100 (sm_90)``.

    ``devices``: the devices to name (default: every device the report audited);
    the GPU is named when cuda is among them.
    """
    env = report.environment
    named = tuple(report.devices if devices is None else devices)
    parts = [f"torch {env.torch}", " + ".join(named)]
    if env.gpu and "cuda" in named:
        parts.append(f"{env.gpu} ({env.gpu_capability})" if env.gpu_capability else env.gpu)
    return " · ".join(parts)
