"""Which source line an op belongs to: the innermost frame of the user's code on the stack."""

from __future__ import annotations

import os
import site
import sysconfig
from pathlib import Path
from typing import Any

import torch

__all__ = ["Frames", "Location"]

#: (file, line, function) of a frame of user code.
Location = tuple[str, int, str]


class Frames:
    """Find the innermost frame of user code: not torch, not detaudit, not the standard library."""

    def __init__(self) -> None:
        skip = [Path(torch.__file__).parent, Path(__file__).resolve().parents[1]]
        paths = sysconfig.get_paths()
        stdlib = {paths["stdlib"], paths["platstdlib"]}
        sites = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
        if site.ENABLE_USER_SITE:
            sites.add(site.getusersitepackages())
        self._skip = tuple(f"{os.path.realpath(p)}{os.sep}" for p in skip)
        self._stdlib = tuple(f"{os.path.realpath(p)}{os.sep}" for p in stdlib)
        self._sites = tuple(f"{os.path.realpath(p)}{os.sep}" for p in sites)
        self._user: dict[str, bool] = {}

    def _is_user(self, filename: str) -> bool:
        if filename.startswith("<"):
            return not filename.startswith(("<frozen", "<built-in"))
        path = os.path.realpath(filename)
        if path.startswith(self._skip):
            return False
        if path.startswith(self._sites):
            return True  # third-party libraries count as the user's code
        return not path.startswith(self._stdlib)

    def find(self, frame: Any) -> Location | None:
        """(file, line, function) of the innermost user frame from ``frame`` outwards."""
        user = self._user
        while frame is not None:
            code = frame.f_code
            name = code.co_filename
            known = user.get(name)
            if known is None:
                known = user[name] = self._is_user(name)
            if known:
                return name, frame.f_lineno, code.co_name
            frame = frame.f_back
        return None
