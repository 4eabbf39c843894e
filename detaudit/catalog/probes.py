"""Probe resolution without importing: does ``module:function`` exist, read with ``ast``?"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path


class _UnreadableProbeModule(Exception):
    """A probe module that cannot be read or parsed: one problem for the file, not per entry."""


def _probe_unresolved(probe: str, folder: str | None) -> str | None:
    """Why ``module:function`` cannot be found, without importing (and so running) it.

    Importing a probe module imports torch; the parent process stays light and
    leaves that to the workers. The module is found with importlib's finder and
    the function looked up in its source with ``ast``.
    """
    module, function = probe.split(":")
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return f"cannot find module {module!r} ({exc})"
    finally:
        if added:
            sys.path.remove(folder)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        where = f" in {folder} or on the import path" if folder else ""
        return f"no module {module!r}{where}"
    try:
        # Bytes, so that ast honours a coding declaration as Python's import would.
        tree = ast.parse(Path(spec.origin).read_bytes(), spec.origin)
    except OSError as exc:
        raise _UnreadableProbeModule(f"{spec.origin}: cannot read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes, before Python 3.12
        msg = getattr(exc, "msg", None) or str(exc)
        if "(unicode error)" in msg:
            msg = "not UTF-8 text (and no coding declaration); save it as UTF-8"
        line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise _UnreadableProbeModule(
            f"{spec.origin}{line}: probe module cannot be parsed: {msg}"
        ) from None
    if function not in _top_level_names(tree):
        return f"{spec.origin} defines no {function!r}"
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
