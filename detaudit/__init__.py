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
    "AuditOptions",
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
    "TorchUnsupported",
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
    "record",
    "scan",
    "scan_static",
    "seed_everything",
    "seed_worker",
    "step",
]

_WHERE = {
    "audit": "api",
    "AuditOptions": "options",
    "load_catalog": "catalog",
    "Catalog": "catalog",
    "Entry": "catalog",
    "Report": "model.report",
    "ProbeResult": "model.report",
    "Environment": "model.environment",
    "Observation": "model.report",
    "Status": "model.report",
    "SCHEMA_VERSION": "model.report",
    "Cost": "model.report",
    "Discovery": "docs.discover",
    "check_docs": "docs.check",
    "parse_docstring": "docs.docstring",
    "DetauditError": "errors",
    "CatalogError": "errors",
    "UsageError": "errors",
    "EnvironmentUnsupported": "errors",
    "ReportError": "errors",
    "WorkerError": "errors",
    "TorchUnsupported": "errors",
    "seed_everything": "repro.helpers",
    "deterministic": "repro.helpers",
    "seed_worker": "repro.helpers",
    "dataloader_generator": "repro.helpers",
    "assert_reproducible": "repro.helpers",
    "SavedState": "repro.helpers",
    "ReproducibilityWarning": "repro.helpers",
    "first_difference": "repro.bitwise",
    "env_report": "repro.envreport",
    "EnvReport": "repro.envreport",
    "load_report": "model.reportfile",
    "diff_reports": "compare.diff",
    "Diff": "compare.diff",
    "build_table": "compare.table",
    "Table": "compare.table",
    "scan": "scanner.dynamic",
    "scan_static": "scanner.static",
    "record": "trace.recorder",
    "step": "trace.recorder",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'detaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
