"""The one probe resolver: which file a probe's ``module:function`` names, for validation, worker and scanner.

``catalog validate`` (which reads the file with ``ast``, never importing it),
the worker (which loads it) and the scanner (which hashes it for its trace
cache) all ask :func:`locate`, so they cannot disagree about a probe. The
rule: a user catalogue's own folder first (``a.b`` is ``a/b.py`` or
``a/b/__init__.py`` there, loaded from its file), else the module of that
name on the import path (a built-in probe such as
``detaudit.probes.indexing`` named from a user catalogue), found by
importlib's finder; only a Python source file counts.

Imported by the worker, which may run under another interpreter than
detaudit's: standard library only, syntax that Python 3.9 runs, no other
detaudit import.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass

__all__ = ["PROBE_RE", "Located", "ProbeNotFound", "locate", "split"]

#: ``module:function``: a dotted module path, a colon, an identifier.
PROBE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_]\w*$")


class ProbeNotFound(ImportError):
    """The module a probe names is in neither the user folder nor on the import path."""


@dataclass(frozen=True)
class Located:
    """Where a probe's module lives.

    ``file``: its source file. ``folder``: the user catalogue folder it was
    found in (the worker loads it from its file, with that folder's imports),
    or None for a module found on the import path (imported by name).
    """

    module: str
    function: str
    file: str
    folder: str | None


def split(probe: str) -> tuple[str, str]:
    """``module:function`` as (module, function); ValueError if it has not that shape."""
    if not PROBE_RE.match(probe):
        raise ValueError(f"probe must look like 'module:function', got {probe!r}")
    module, _, function = probe.partition(":")
    return module, function


def user_module_file(folder: str, module: str) -> str | None:
    """The file of ``module`` in a user catalogue's ``folder`` (``a.b``: ``a/b.py`` or
    ``a/b/__init__.py``); None if there is none."""
    base = os.path.join(folder, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def locate(probe: str, folder: str | None = None) -> Located:
    """Where ``probe`` (``module:function``) lives, for a user catalogue in ``folder`` or none.

    The folder's own file first, as a user's ``json.py`` must not resolve to
    the ``json`` this process imported; then the import path. Raises
    :class:`ProbeNotFound` (or ValueError for a malformed probe). Finding a
    dotted module on the import path imports its parent packages, as Python's
    import would; the module itself is not run.
    """
    module, function = split(probe)
    if folder is not None:
        real = os.path.realpath(folder)
        own = user_module_file(real, module)
        if own is not None:
            return Located(module, function, os.path.realpath(own), real)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise ProbeNotFound(f"cannot find module {module!r} ({exc})") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        where = f" in {folder} or on the import path" if folder else ""
        raise ProbeNotFound(f"no module {module!r}{where}")
    return Located(module, function, os.path.realpath(spec.origin), None)
