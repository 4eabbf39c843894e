"""The census an audit report carries: the audited torch's alert names no result probed.

Taken in the parent from the candidate torch's files (located with
``importlib.util.find_spec`` in that interpreter, never by importing torch
here), so the parent process never initialises CUDA.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from ..catalog.records import Catalog
from ..errors import DetauditError, EnvironmentUnsupported
from ..model.report import AlertCensus, ProbeResult
from .census import Census

__all__ = ["NOT_INSTALLED", "summarize", "take_for_audit"]

NOT_INSTALLED = "install detaudit[sites]"


def take_for_audit(python: str | None) -> Census | str:
    """The census of the torch that ``python`` (default: this interpreter) imports, or why not."""
    try:
        from .binary import require

        require()
    except EnvironmentUnsupported:
        return NOT_INSTALLED
    from .census import take_census
    from .fetch import Source, open_build

    try:
        with open_build(Source("python", python or sys.executable)) as build:
            return take_census(build)
    except (DetauditError, OSError) as exc:
        return f"census failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - a library LIEF chokes on must not cost the audit
        return f"census failed: {type(exc).__name__}: {exc}"


def summarize(
    census: Census | str, catalog: Catalog, results: Iterable[ProbeResult]
) -> AlertCensus:
    """Which alert names of ``census`` no result probed on the device their sites are for."""
    if isinstance(census, str):
        return AlertCensus(taken=False, why=census)
    from .coverage import CUBLAS

    kernels = {entry.id: set(entry.kernels) for entry in catalog}
    probed = {(k, r.device) for r in results for k in kernels.get(r.id, ())}
    devices: dict[str, set[str]] = {}
    for site in census.sites:
        devices.setdefault(site.alert, set()).add(site.device.value)
    if census.cublas_check:
        devices.setdefault(CUBLAS, set()).add("cuda")
    unprobed = tuple(
        sorted(name for name, on in devices.items() if not any((name, d) in probed for d in on))
    )
    return AlertCensus(taken=True, names=tuple(sorted(devices)), unprobed=unprobed)
