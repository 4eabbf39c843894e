"""How a report is named to whoever reads it beside others: its one-line title. Pure; no torch.

Presentation, so not the model's: the diff, the fleet table, the renderers, the
scanner's and the trace comparison's notes all name a report this one way.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import devices as registry
from ..model.report import Report

__all__ = ["report_title"]


def report_title(report: Report, devices: Sequence[str] | None = None) -> str:
    """``torch 2.13.0+cpu · cpu`` or ``torch 2.11.0+cu130 · cuda · NVIDIA H100 (sm_90)``.

    ``devices``: the devices to name (default: every device the report audited);
    each device adds the words its registry entry gives (the GPU for cuda).
    """
    env = report.environment
    named = tuple(report.devices if devices is None else devices)
    parts = [f"torch {env.torch}", " + ".join(named)]
    for name in named:  # each device's words (the GPU), as its registry entry says
        info = registry.find(name)
        words = info.headline(env) if info is not None else None
        if words:
            parts.append(words)
    return " · ".join(parts)
