"""CLI wording only in cli/: no library module raises a message that starts with a flag."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "detaudit"

#: The pytest plugin is its own command line (pytest's options, worded by pytest's rules).
OWN_COMMAND_LINE = {"repro/pytest_plugin.py"}

_FLAG = re.compile(r"^\s*(detaudit )?(scan )?--[a-z]")


def _first_text(node: ast.expr) -> str | None:
    """The leading literal text of a message argument (a string or an f-string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _first_text(node.values[0])
    if isinstance(node, ast.BinOp):
        return _first_text(node.left)
    return None


def _flagged_raises() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("cli/") or where in OWN_COMMAND_LINE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                text = _first_text(node.exc.args[0])
                if text is not None and _FLAG.match(text):
                    found.append(f"{where}:{node.lineno}: {text[:40]!r}")
    return found


def test_the_checker_sees_a_flag_in_an_f_string():
    tree = ast.parse('raise UsageError(f"--timeout must be {x}")')
    assert _FLAG.match(_first_text(tree.body[0].exc.args[0]))


def test_library_errors_name_options_not_flags():
    """Raise ``UsageError(detail, option="timeout")``: cli/wording.py writes the flag."""
    assert _flagged_raises() == []
