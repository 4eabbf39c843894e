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
    "Cost",
    "DetauditError",
    "Diff",
    "Discovery",
    "Entry",
    "EnvReport",
    "Environment",
    "EnvironmentUnsupported",
    "Observation",
    "ProbeResult",
    "Report",
    "ReportError",
    "ReproducibilityWarning",
    "SavedState",
    "Status",
    "Table",
    "UsageError",
    "WorkerError",
    "__version__",
    "assert_reproducible",
    "audit",
    "build_table",
    "check_docs",
    "dataloader_generator",
    "deterministic",
    "diff_reports",
    "env_report",
    "first_difference",
    "load_catalog",
    "load_report",
    "parse_docstring",
    "scan",
    "scan_static",
    "seed_everything",
    "seed_worker",
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
    "Cost": "results",
    "Discovery": "discover",
    "check_docs": "docscheck",
    "parse_docstring": "docstring",
    "DetauditError": "errors",
    "CatalogError": "errors",
    "UsageError": "errors",
    "EnvironmentUnsupported": "errors",
    "ReportError": "errors",
    "WorkerError": "errors",
    "seed_everything": "helpers",
    "deterministic": "helpers",
    "seed_worker": "helpers",
    "dataloader_generator": "helpers",
    "assert_reproducible": "helpers",
    "SavedState": "helpers",
    "ReproducibilityWarning": "helpers",
    "first_difference": "compare",
    "env_report": "envreport",
    "EnvReport": "envreport",
    "load_report": "reportfile",
    "diff_reports": "diff",
    "Diff": "diff",
    "build_table": "table",
    "Table": "table",
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
