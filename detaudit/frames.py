"""Which source line an op belongs to: the innermost frame outside torch, and the user's own call.

The scanner, the recorder and the pytest plugin all name lines with it, so it sits below them.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = ["Frames", "Line", "Location"]

#: (file, line, function) of one frame.
Line = tuple[str, int, str]
#: (file, line, function, via): the innermost frame outside torch, detaudit and the
#: standard library; ``via`` is the innermost frame of the program's own files when
#: that frame is in an installed library (site-packages), else None.
Location = tuple[str, int, str, Line | None]

_SKIP, _LIBRARY, _OWN, _UNSEEN = 0, 1, 2, 3
#: Methods of a dispatch or function mode: the user's own mode is not the line that ran the op.
_MODE_METHODS = frozenset(("__torch_dispatch__", "__torch_function__"))


class Frames:
    """Find the innermost frame outside torch, detaudit and the standard library, and the user's.

    Installed libraries (``site-packages``, ``dist-packages``: every path of
    ``sysconfig.get_paths()`` and ``site.getsitepackages()``, plus ``library``)
    count as code outside torch, so they give the line; the program's own
    files are the rest, and give the ``via`` line.
    """

    def __init__(self, library: Iterable[str | os.PathLike[str]] = ()) -> None:
        skip = [Path(torch.__file__).parent, Path(__file__).resolve().parent]  # detaudit/
        paths = sysconfig.get_paths()
        stdlib = {paths["stdlib"], paths["platstdlib"]}
        sites = {paths["purelib"], paths["platlib"], *site.getsitepackages(), *library}
        if site.ENABLE_USER_SITE:
            sites.add(site.getusersitepackages())
        self._skip = tuple(f"{os.path.realpath(p)}{os.sep}" for p in skip)
        self._stdlib = tuple(f"{os.path.realpath(p)}{os.sep}" for p in stdlib)
        self._sites = tuple(f"{os.path.realpath(p)}{os.sep}" for p in sites)
        self._kinds: dict[str, int] = {}

    def _kind(self, filename: str, module: str | None = None) -> int:
        """What a frame of ``filename`` (of module ``module``, when known) is to the scan.

        Code not on disk (``<string>``, a deleted file) is ``_UNSEEN``: the line only when
        nothing better is on the stack. A file of the program's that a library generated
        (PyG writes its ``propagate`` into a temporary file and imports it under its own
        package) counts as that library.
        """
        if filename.startswith("<"):
            return _SKIP if filename.startswith(("<frozen", "<built-in")) else _UNSEEN
        path = os.path.realpath(filename)
        if path.startswith(self._skip):
            return _SKIP
        if path.startswith(self._sites):
            return _LIBRARY  # an installed library: outside torch, not the user's own code
        if path.startswith(self._stdlib):
            return _SKIP
        if not os.path.exists(path):
            return _UNSEEN
        if module and self._library_module(module):
            return _LIBRARY
        return _OWN

    def _library_module(self, module: str) -> bool:
        """Is ``module`` inside a package installed as a library (``torch_geometric.x``)?"""
        top = module.partition(".")[0]
        if top == module:
            return False
        package = sys.modules.get(top)
        where = getattr(package, "__file__", None) or ""
        if not where:
            return False
        real = os.path.realpath(where)
        return real.startswith(self._sites + self._skip)

    def skipped(self, frame: Any) -> bool:
        """Is ``frame`` in code the scan looks through (torch, detaudit, the standard library)?"""
        name = frame.f_code.co_filename
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = self._kind(name, frame.f_globals.get("__name__"))
        return kind == _SKIP

    def find(self, frame: Any) -> Location | None:
        """The :data:`Location` of the innermost frame outside torch, from ``frame`` outwards.

        Skipped on the way: a dispatch or function mode's own method (the user's mode
        is not where the op was called), and code not on disk unless nothing else is found.
        """
        kinds = self._kinds
        found: tuple[str, int, str] | None = None
        unseen: tuple[str, int, str] | None = None
        while frame is not None:
            code = frame.f_code
            name = code.co_filename
            kind = kinds.get(name)
            if kind is None:
                kind = kinds[name] = self._kind(name, frame.f_globals.get("__name__"))
            if code.co_name in _MODE_METHODS and kind != _SKIP:
                kind = _SKIP
            if kind == _OWN:
                line = (name, frame.f_lineno, code.co_name)
                return (*found, line) if found else (*line, None)
            if kind == _LIBRARY and found is None:
                found = (name, frame.f_lineno, code.co_name)
            if kind == _UNSEEN and unseen is None:
                unseen = (name, frame.f_lineno, code.co_name)
            frame = frame.f_back
        if found:
            return (*found, None)
        return (*unseen, None) if unseen else None

    def place(self, stack: Iterable[Line]) -> Location | None:
        """:meth:`find` over a traceback's (file, line, function) entries, innermost last."""
        found: Line | None = None
        unseen: Line | None = None
        for name, lineno, function in reversed(list(stack)):
            kind = _SKIP if function in _MODE_METHODS else self._kind(name)
            if kind == _OWN:
                line = (name, lineno, function)
                return (*found, line) if found else (*line, None)
            if kind == _LIBRARY and found is None:
                found = (name, lineno, function)
            if kind == _UNSEEN and unseen is None:
                unseen = (name, lineno, function)
        if found:
            return (*found, None)
        return (*unseen, None) if unseen else None
