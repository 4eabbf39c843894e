"""The package's import graph: no cycle, and the worker side stays free of the parent's modules."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def test_worker_side_modules_import_no_parent_side_module():
    """Workers may run under another interpreter: only the protocol and worker-side helpers."""
    graph = _graph()
    worker_side = {
        "detaudit.runner.worker",
        "detaudit.runner.protocol",
        "detaudit.runner.probing",
        "detaudit.runner.observe",
        "detaudit.runner.isolation",
        "detaudit.runner.cost",
    }
    allowed = worker_side | {
        "detaudit.torchstate",
        "detaudit.probes",
        "detaudit.runner.fingerprint",
    }
    for name in worker_side:
        assert graph[name] <= allowed, (name, graph[name] - allowed)


def test_public_scan_stays_the_function_after_the_scan_subpackage_is_imported():
    """``detaudit.scan`` is the public function though ``detaudit/scan/`` is a subpackage.

    Importing a module of the subpackage binds the attribute to it; a fresh
    interpreter imports one first (as the catalogue loader and the worker do).
    """
    code = (
        "import detaudit, detaudit.scan.static\n"
        "from detaudit.scan.dynamic import scan\n"
        "assert detaudit.scan is scan, detaudit.scan\n"
        "from detaudit import scan as public\n"
        "assert public is scan\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
