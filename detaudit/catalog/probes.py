"""Probe resolution without importing: does ``module:function`` exist, read with ``ast``?"""

from __future__ import annotations

import ast
from pathlib import Path

from ..probepath import ProbeNotFound, locate


class _UnreadableProbeModule(Exception):
    """A probe module that cannot be read or parsed: one problem for the file, not per entry."""


def _probe_unresolved(probe: str, folder: str | None) -> str | None:
    """Why ``module:function`` cannot be found, without importing (and so running) it.

    Importing a probe module imports torch; the parent process stays light and
    leaves that to the workers. The module's file is the one the worker loads
    (:func:`detaudit.probepath.locate`); the function is looked up in its
    source with ``ast``.
    """
    try:
        where = locate(probe, folder)
    except (ProbeNotFound, ValueError) as exc:
        return str(exc)
    origin = where.file
    try:
        # Bytes, so that ast honours a coding declaration as Python's import would.
        tree = ast.parse(Path(origin).read_bytes(), origin)
    except OSError as exc:
        raise _UnreadableProbeModule(f"{origin}: cannot read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes, before Python 3.12
        msg = getattr(exc, "msg", None) or str(exc)
        if "(unicode error)" in msg:
            msg = "not UTF-8 text (and no coding declaration); save it as UTF-8"
        line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise _UnreadableProbeModule(
            f"{origin}{line}: probe module cannot be parsed: {msg}"
        ) from None
    if where.function not in _top_level_names(tree):
        return f"{origin} defines no {where.function!r}"
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign,)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names
