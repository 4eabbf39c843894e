"""Probe resolution without importing: does ``module:function`` exist, read with ``ast``?"""

from __future__ import annotations

import ast
from pathlib import Path

from ..probepath import ProbeNotFound, locate


class _UnreadableProbeModule(Exception):
    """A probe module that cannot be read or parsed: one problem for the file, not per entry."""


def _probe_unresolved(
    probe: str, folder: str | None, args: tuple[tuple[str, object], ...] = ()
) -> str | None:
    """Why ``module:function`` cannot be found, without importing (and so running) it.

    Importing a probe module imports torch; the parent process stays light and
    leaves that to the workers. The module's file is the one the worker loads
    (:func:`detaudit.probepath.locate`); the function is looked up in its
    source with ``ast``, and the entry's ``args`` (keyword arguments after the
    device) checked against its parameters when it is a plain ``def``.
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
        lineno = getattr(exc, "lineno", None)
        line = f":{lineno}" if lineno else ""
        raise _UnreadableProbeModule(
            f"{origin}{line}: probe module cannot be parsed: {msg}"
        ) from None
    if where.function not in _top_level_names(tree):
        return f"{origin} defines no {where.function!r}"
    return _args_mismatch(tree, where.function, args)


def _args_mismatch(
    tree: ast.Module, function: str, args: tuple[tuple[str, object], ...]
) -> str | None:
    """Why ``function(device, **args)`` would fail to bind, read from its ``def``; None if it binds.

    A name bound otherwise (an assignment, an import) is not checked: the worker says.
    """
    defs = [
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function
    ]
    if not defs:
        return None
    spec = defs[-1].args  # the last definition is the one the module ends with
    positional = [*spec.posonlyargs, *spec.args]
    if not positional and spec.vararg is None:
        return f"{function}() takes no device argument"
    by_keyword = spec.args[1:] if not spec.posonlyargs else spec.args
    names = [a.arg for a in (*by_keyword, *spec.kwonlyargs)]
    given = {name for name, _ in args}
    unknown = sorted(given - set(names))
    if unknown and spec.kwarg is None:
        return f"{function}() has no parameter {', '.join(map(repr, unknown))} (args: {names})"
    # Parameters after the device with no default must be given.
    first = len(positional) - len(spec.defaults)
    required = [a.arg for a in positional[1:first] if a in by_keyword]
    required += [a.arg for a, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is None]
    missing = [name for name in required if name not in given]
    if missing:
        return f"{function}() needs args {', '.join(map(repr, missing))}"
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
