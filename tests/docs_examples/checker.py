"""Run a Markdown file's ```console and ```python blocks and say where one does not print what it shows.

Sybil (https://sybil.readthedocs.io) finds the fenced blocks and gives each its
file and line; the two evaluators here run them. The conventions (HELPERS.md,
docs/contributing-to-the-docs.md): a ```console block holds ``$ command`` lines,
run by bash from the repository root, each followed by what it printed (stdout
and stderr together, trailing blanks dropped). ``...`` alone on a line stands
for any lines (none included), and inside a line for any text. A command that
exits non-zero shows ``[exit N]`` as the last line of its output. A ```python
block runs as printed, in a fresh interpreter, from the repository root, and
must exit 0. Both run in a copy of the repository, so what they write never
lands in the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser

__all__ = [
    "Command",
    "Workspace",
    "examples",
    "match",
    "parse_console",
]

ROOT = Path(__file__).resolve().parents[2]
#: What a copy of the repository leaves out: VCS data, caches, build outputs.
_IGNORE = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "site",
    "build",
    "dist",
    "*.egg-info",
    ".venv",
    "venv",
)
_EXIT = re.compile(r"^\[exit (\d+)\]$")
#: One command may take this long (an audit of a few entries takes seconds).
TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Command:
    """One ``$`` line of a console block, what it should print and its exit code."""

    line: int  # in the Markdown file, 1-based
    command: str
    expected: tuple[str, ...]
    exit_code: int


def parse_console(source: str, first_line: int = 1) -> list[Command]:
    """The commands of a console block's text; ``first_line`` is its first line in the file."""
    commands: list[Command] = []
    current: list[str] | None = None
    start = first_line
    output: list[str] = []

    def close() -> None:
        if current is None:
            return
        lines = list(output)
        while lines and not lines[-1].strip():
            lines.pop()
        code = 0
        if lines and (found := _EXIT.match(lines[-1].strip())):
            code = int(found.group(1))
            lines.pop()
        commands.append(Command(start, "\n".join(current), tuple(lines), code))

    continued = False
    for number, text in enumerate(source.splitlines(), start=first_line):
        if continued:
            assert current is not None
            current.append(text)
            continued = text.endswith("\\")
            continue
        if text.startswith("$ "):
            close()
            current, start, output = [text[2:]], number, []
            continued = text.endswith("\\")
        elif current is None:
            if text.strip():
                raise ValueError(f"line {number}: a console block starts with '$ command'")
        else:
            output.append(text)
    close()
    return commands


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")) + r"\Z")


def match(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``actual`` lines fit ``expected``, with ``...`` wildcards (see the module)."""
    want = [line.rstrip() for line in expected]
    got = [line.rstrip() for line in actual]
    while got and not got[-1]:
        got.pop()
    patterns = [None if line == "..." else _pattern(line) for line in want]
    # fits[i][j]: want[i:] fits got[j:]; filled from the end
    fits = [[False] * (len(got) + 1) for _ in range(len(want) + 1)]
    fits[len(want)][len(got)] = True
    for i in range(len(want) - 1, -1, -1):
        for j in range(len(got), -1, -1):
            pattern = patterns[i]
            if pattern is None:
                fits[i][j] = fits[i + 1][j] or (j < len(got) and fits[i][j + 1])
            else:
                fits[i][j] = j < len(got) and bool(pattern.match(got[j])) and fits[i + 1][j + 1]
    return fits[0][0]


class Workspace:
    """A copy of the repository to run examples in, with ``detaudit`` and ``python`` on PATH.

    ``detaudit``, ``python`` and ``python3`` are this interpreter (the one under
    test), whatever else the machine has installed.
    """

    def __init__(self, root: Path = ROOT) -> None:
        self._root = root
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def path(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="detaudit-docs-")
            base = Path(self._tmp.name)
            shutil.copytree(self._root, base / "repo", ignore=_IGNORE, symlinks=True)
            bin_dir = base / "bin"
            bin_dir.mkdir()
            shims = {
                "detaudit": f'exec "{sys.executable}" -m detaudit "$@"',
                "python": f'exec "{sys.executable}" "$@"',
                "python3": f'exec "{sys.executable}" "$@"',
            }
            for name, body in shims.items():
                shim = bin_dir / name
                shim.write_text(f"#!/bin/sh\n{body}\n")
                shim.chmod(0o755)
        return Path(self._tmp.name) / "repo"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.path.parent / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(self.path)  # the copy's detaudit, not an installed one
        env.update(NO_COLOR="1", TERM="dumb", COLUMNS="80")
        env.pop("FORCE_COLOR", None)
        return env

    def run(self, command: str, *, python: bool = False) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", command] if python else ["bash", "-c", command]
        return subprocess.run(
            argv,
            cwd=self.path,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _report(command: Command, code: int, output: str) -> str:
    shown = "\n".join(f"    {line}" for line in command.expected) or "    (nothing)"
    printed = "\n".join(f"    {line}" for line in output.rstrip().splitlines()) or "    (nothing)"
    return (
        f"line {command.line}: $ {command.command}\n"
        f"  the page shows (exit {command.exit_code}):\n{shown}\n"
        f"  it printed (exit {code}):\n{printed}"
    )


def _console(example: Example) -> str | None:
    workspace: Workspace = example.namespace["workspace"]
    first = example.line + 1  # the fence is the example's first line
    for command in parse_console(example.parsed, first):
        result = workspace.run(command.command)
        fits = match(command.expected, result.stdout.splitlines())
        if not fits or result.returncode != command.exit_code:
            return _report(command, result.returncode, result.stdout)
    return None


def _python(example: Example) -> str | None:
    workspace: Workspace = example.namespace["workspace"]
    result = workspace.run(example.parsed, python=True)
    if result.returncode != 0:
        return f"the python block exited {result.returncode}:\n{result.stdout.rstrip()}"
    return None


SYBIL = Sybil(
    parsers=[CodeBlockParser("console", _console), CodeBlockParser("python", _python)],
)


def examples(path: Path, workspace: Workspace) -> Iterator[Example]:
    """Every console and python example of one Markdown file, ready to ``evaluate()``."""
    document = SYBIL.parse(path)
    document.namespace["workspace"] = workspace
    yield from document
