"""Probe resolution without importing: does ``module:function`` exist, read with ``ast``?"""

from __future__ import annotations

import ast
import importlib.util
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
    # The file in the folder first, as the worker loads it: by name, a user json.py or
    # yaml.py would resolve to the module of that name this process imported.
    origin = user_module_file(folder, module) if folder is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            return f"cannot find module {module!r} ({exc})"
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            where = f" in {folder} or on the import path" if folder else ""
            return f"no module {module!r}{where}"
        origin = spec.origin
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
    if function not in _top_level_names(tree):
        return f"{origin} defines no {function!r}"
    return None


def user_module_file(folder: str, module: str) -> str | None:
    """The file of ``module`` in a user catalogue's ``folder`` (``a.b``: ``a/b.py`` or
    ``a/b/__init__.py``), as the worker finds it; None if there is none."""
    base = Path(folder, *module.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return str(candidate)
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
