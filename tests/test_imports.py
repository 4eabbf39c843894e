"""The package's import graph: no cycle, and the worker side stays free of the parent's modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "detaudit"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                child = f"{module}.{alias.name}"
                targets.add(child if child in modules else module)
    return {t for t in targets if t in modules and t != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def _worker_side(graph: dict[str, set[str]]) -> set[str]:
    """The worker, its handlers (by the registry) and everything they import, transitively."""
    from detaudit.handlers import HANDLERS

    todo = ["detaudit.runner.worker", *(h.partition(":")[0] for h in HANDLERS.values())]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_worker_side_modules_import_no_parent_side_module():
    """Workers may run under another interpreter: only worker-side helpers, never the CLI side."""
    reached = _worker_side(_graph())
    parent_side = {"detaudit.cli", "detaudit.api", "detaudit.runner.pool", "detaudit.catalog"}
    assert not reached & parent_side, reached & parent_side
    assert {"detaudit.runner.observe", "detaudit.runner.lifeline"} <= reached


def test_worker_side_modules_parse_as_python_3_9():
    """``--python`` may name an older interpreter: no syntax newer than 3.9 on the worker side."""
    modules = _modules()
    probes = {name for name in modules if name.startswith("detaudit.probes")}
    for name in sorted(_worker_side(_graph()) | probes):
        ast.parse(modules[name].read_text(encoding="utf-8"), feature_version=(3, 9))


def test_the_cli_loads_neither_torch_nor_numpy():
    """Every command imports the CLI: numpy's threads (and its second) only where a census is taken."""
    import subprocess
    import sys

    code = "import sys, detaudit.cli.app; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- layers

#: Room -> the rooms it may import (its own always). A room is a subpackage
#: (``runner``) or a top-level module (``errors``). Data flows one way: YAML ->
#: catalogue -> plan -> workers -> classify -> report -> renderers -> the CLI,
#: which nothing imports. Leaves (``errors``, ``_version``, ``atomic``,
#: ``signalhold``, ``torchstate``, ``handlers``, ``probepath``, ``frames``) import no
#: other room; ``frames``, the walker that names an op's source line, serves the scanner,
#: the recorder (``trace``) and the pytest plugin (``repro``).
#: ``devices``, the device registry, sits just above them (its errors are UsageErrors):
#: every layer that asks about a device (catalogue names, plan, workers, fingerprint,
#: report title, bit comparison, CLI choices) asks it, so it must be below them all.
LEAVES = (
    "errors",
    "_version",
    "atomic",
    "signalhold",
    "torchstate",
    "handlers",
    "probepath",
    "frames",
)
ALLOWED: dict[str, set[str]] = {
    **{leaf: set() for leaf in LEAVES},
    "devices": {"errors"},
    "model": {"devices", "errors"},
    "catalog": {"model", "devices", "errors", "probepath"},
    "probes": {"torchstate"},
    "runner": {
        "model",
        "devices",
        "catalog",
        "probes",
        "torchstate",
        "errors",
        "signalhold",
        "handlers",
        "probepath",
    },
    "repro": {"runner", "devices", "torchstate", "model", "errors", "frames"},
    "options": {"runner", "errors"},
    "api": {"options", "runner", "catalog", "model", "sites", "errors", "_version"},
    "compare": {"model", "devices", "errors"},
    "docs": {"options", "runner", "catalog", "model", "devices", "probes", "torchstate", "errors"},
    "scanner": {
        "sites",  # the cached census: whether this build has an entry's alert site
        "compare",  # the one title of a report it reads (compare.naming), not the model's
        "probepath",
        "frames",
        "runner",
        "catalog",
        "model",
        "devices",
        "probes",
        "torchstate",
        "errors",
        "atomic",
        "_version",
    },
    "sites": {"catalog", "model", "devices", "errors", "atomic"},
    "fleet": {"compare", "model", "errors", "atomic", "signalhold"},
    # record/compare/twice: the recorder is the scanner's dispatch mode writing every op
    # (model, scanner <- trace); traces are read by render and cli.
    "trace": {
        "compare",  # the one title of a report it names (compare.naming), not the model's
        "model",
        "devices",
        "runner",
        "probes",
        "repro",
        "scanner",
        "frames",
        "torchstate",
        "errors",
        "atomic",
        "_version",
    },
    "render": {
        "model",
        "compare",
        "catalog",
        "docs",
        "fleet",
        "repro",
        "scanner",
        "sites",
        "trace",
        "errors",
        "_version",
    },
    "cli": {
        "api",
        "options",
        "catalog",
        "compare",
        "devices",
        "docs",
        "fleet",
        "model",
        "render",
        "repro",
        "runner",
        "scanner",
        "sites",
        "trace",
        "errors",
        "atomic",
        "signalhold",
        "_version",
        "__init__",
    },
    "__init__": {"_version"},  # the public names load lazily (importlib, by name)
    "__main__": {"cli"},
}

#: Module edges that cross ``ALLOWED`` and are not removed yet, each with why and
#: what removes it. The test fails on a new crossing edge, and on an entry here
#: that no longer crosses (remove it when its edge goes).
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _crossing(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every module edge whose rooms' edge ``ALLOWED`` does not list."""
    return {
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if _room(a) != _room(b) and _room(b) not in ALLOWED.get(_room(a), set())
    }


def test_every_room_is_in_the_table():
    rooms = {_room(name) for name in _modules()}
    assert rooms - set(ALLOWED) == set(), "add the new room to ALLOWED"
    assert all(targets <= set(ALLOWED) for targets in ALLOWED.values())


def test_the_checker_finds_a_crossing_edge():
    graph = {"detaudit.model.report": {"detaudit.cli.app"}, "detaudit.cli.app": set()}
    assert _crossing(graph) == {("detaudit.model.report", "detaudit.cli.app")}


def test_imports_point_one_way():
    """No import crosses the allowed edges but the listed exceptions; nothing imports cli."""
    crossing = _crossing(_graph())
    new = sorted(crossing - set(EXCEPTIONS))
    assert new == [], "imports against the layers (fix them, or list them in EXCEPTIONS): " + (
        ", ".join(f"{a} -> {b}" for a, b in new)
    )
    stale = sorted(set(EXCEPTIONS) - crossing)
    assert stale == [], f"exceptions no longer needed (remove them): {stale}"
    assert not {
        a for a, b in _graph_edges() if _room(b) == "cli" and _room(a) not in ("cli", "__main__")
    }


def _graph_edges() -> set[tuple[str, str]]:
    return {(a, b) for a, targets in _graph().items() for b in targets}


def test_the_worker_names_no_handler_of_another_room():
    """The worker finds its handlers in ``detaudit.handlers``, where each room registers its own."""
    from detaudit.handlers import HANDLERS

    text = _modules()["detaudit.runner.worker"].read_text(encoding="utf-8")
    assert "detaudit.scanner" not in text and "detaudit.docs" not in text
    modules = _modules()
    for kind, where in HANDLERS.items():
        module, _, function = where.partition(":")
        assert module in modules, kind
        assert f"def {function}(" in modules[module].read_text(encoding="utf-8"), kind
