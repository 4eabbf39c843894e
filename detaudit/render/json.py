"""The JSON report: the machine-readable record every other view is built from."""

from __future__ import annotations

import json

from ..model.report import Report

__all__ = ["render"]


def render(report: Report) -> str:
    """``report`` as indented JSON (round-trips through :meth:`Report.from_dict`)."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
