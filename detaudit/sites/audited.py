"""The census an audit report carries: the audited torch's alert names no result probed.

Taken in the parent from the candidate torch's files (located with
``importlib.util.find_spec`` in that interpreter, never by importing torch
here), so the parent process never initialises CUDA. A census is kept in
``$XDG_CACHE_HOME/detaudit/census/`` keyed by the libraries' paths, sizes and
mtimes, so the next audit of the same torch does not read them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from ..catalog.records import Catalog
from ..errors import DetauditError, EnvironmentUnsupported
from ..model.report import AlertCensus, ProbeResult
from .census import Census

__all__ = ["NOT_INSTALLED", "cached_census", "summarize", "take_for_audit"]

NOT_INSTALLED = "install detaudit[sites]"

#: Bump when the census of the same files would come out differently (cached censuses).
CENSUS_FORMAT = 1


def take_for_audit(python: str | None) -> Census | str:
    """The census of the torch that ``python`` (default: this interpreter) imports, or why not.

    LIEF and capstone are imported only to take a census the cache lacks (LIEF's import
    alone is 0.3 s of CPU, taken from the workers beside it); a cached census is one file.
    """
    if not all(importlib.util.find_spec(name) for name in ("lief", "capstone")):
        return NOT_INSTALLED
    from .census import take_census
    from .fetch import Source, open_build

    try:
        with open_build(Source("python", python or sys.executable)) as build:
            key = _key(build)
            cached = _load(key)
            if cached is not None:
                return cached
            from .binary import require

            try:
                require()
            except EnvironmentUnsupported:  # installed, but does not import
                return NOT_INSTALLED
            census = take_census(build)
            _store(key, census)
            return census
    except (DetauditError, OSError) as exc:
        return f"census failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - a library LIEF chokes on must not cost the audit
        return f"census failed: {type(exc).__name__}: {exc}"


def cached_census(python: str | None = None) -> Census | None:
    """The census an earlier audit of this torch took (cached), or None.

    Never takes one: reading a build's libraries costs seconds, which a scan does not spend.
    """
    from .fetch import Source, open_build

    try:
        with open_build(Source("python", python or sys.executable)) as build:
            return _load(_key(build))
    except Exception:  # noqa: BLE001 - no census is an answer: the scan then says nothing of sites
        return None


def _key(build) -> str:
    """The build's identity: where it is, its version, and each library's size and mtime."""
    stats = [
        (name, path.stat().st_size, path.stat().st_mtime_ns) for name, path in build.libraries()
    ]
    text = json.dumps([build.describe, build.version, CENSUS_FORMAT, stats])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cache_file(key: str) -> Path:
    from .fetch import cache_dir

    return cache_dir().parent / "census" / f"{key}.json"


def _load(key: str) -> Census | None:
    """The census cached for ``key`` by an earlier audit of the same files, or None."""
    try:
        return Census.from_dict(json.loads(_cache_file(key).read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(key: str, census: Census) -> None:
    """Keep the census for the next audit of these files (an unwritable cache is no error)."""
    from ..atomic import write_text_atomic

    with contextlib.suppress(OSError):
        write_text_atomic(_cache_file(key), json.dumps(census.to_dict()))


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
        devices.setdefault(site.alert, set()).add(str(site.device))
    if census.cublas_check:
        devices.setdefault(CUBLAS, set()).add("cuda")
    unprobed = tuple(
        sorted(name for name, on in devices.items() if not any((name, d) in probed for d in on))
    )
    return AlertCensus(taken=True, names=tuple(sorted(devices)), unprobed=unprobed)
