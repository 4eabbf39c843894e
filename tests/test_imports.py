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
    from detaudit.runner.worker import HANDLERS

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
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
