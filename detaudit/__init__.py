"""detaudit: find out which PyTorch ops convert, raise or warn under deterministic mode.

The public API. Names are imported lazily so that a probe worker, which
imports ``detaudit.runner.worker`` under any interpreter, pays for nothing
it does not use.
"""

from __future__ import annotations

import importlib
import sys
import types
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
    "Report": "model.report",
    "ProbeResult": "model.report",
    "Environment": "model.report",
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
    "scan": "scan.dynamic",
    "scan_static": "scan.static",
}


def _load(name: str) -> Any:
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = _load(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'detaudit' has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package's module type: it keeps ``detaudit.scan`` the public function.

    ``detaudit/scan/`` is also a subpackage, and importing any of its modules
    (the catalogue loader and the worker do) binds the package attribute
    ``scan`` to that subpackage. This property wins over that binding, so
    ``detaudit.scan(...)`` works whatever was imported first; reach the
    subpackage's modules by importing them (``from detaudit.scan.static import ...``).
    """

    @property
    def scan(self) -> Any:
        return self.__dict__.get("_scan_override") or _load("scan")

    @scan.setter
    def scan(self, value: Any) -> None:
        if value is not sys.modules.get(f"{__name__}.scan"):  # a user's patch, not the import
            self.__dict__["_scan_override"] = value

    @scan.deleter
    def scan(self) -> None:
        self.__dict__.pop("_scan_override", None)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(__all__)
