"""detaudit: find out which PyTorch ops convert, raise or warn under deterministic mode.

The public API. Names are imported lazily so that a probe worker, which
imports ``detaudit.runner.worker`` under any interpreter, pays for nothing
it does not use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "Catalog",
    "CatalogError",
    "DetauditError",
    "Entry",
    "Environment",
    "EnvironmentUnsupported",
    "Observation",
    "ProbeResult",
    "Report",
    "ReportError",
    "Status",
    "UsageError",
    "WorkerError",
    "__version__",
    "audit",
    "load_catalog",
    "scan",
    "scan_static",
]

_WHERE = {
    "audit": "api",
    "load_catalog": "catalog",
    "Catalog": "catalog",
    "Entry": "catalog",
    "Report": "results",
    "ProbeResult": "results",
    "Environment": "results",
    "Observation": "results",
    "Status": "results",
    "SCHEMA_VERSION": "results",
    "DetauditError": "errors",
    "CatalogError": "errors",
    "UsageError": "errors",
    "EnvironmentUnsupported": "errors",
    "ReportError": "errors",
    "WorkerError": "errors",
    "scan": "scanner.dynamic",
    "scan_static": "scanner.static",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'detaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
