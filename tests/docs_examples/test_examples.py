"""Every ```console and ```python block of README.md and docs/ runs and prints what it shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .checker import ROOT, SYBIL, Workspace, examples

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _cases() -> list[tuple[Path, int]]:
    cases = []
    for page in PAGES:
        for example in SYBIL.parse(page):
            cases.append((page, example.line))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def workspaces() -> Iterator[dict[Path, Workspace]]:
    """One copy of the repository per page: a page's examples run in order, as a reader would."""
    made: dict[Path, Workspace] = {}
    yield made
    for workspace in made.values():
        workspace.close()


def test_the_pages_have_examples():
    assert len(CASES) >= 20, CASES  # the collection itself works: README and docs hold many


@pytest.mark.docs
@pytest.mark.slow  # seconds each, tens of examples: .ci/run runs them with -m slow
@pytest.mark.parametrize(
    "page,line", CASES, ids=[f"{p.relative_to(ROOT)}:{line}" for p, line in CASES]
)
def test_example(page: Path, line: int, workspaces: dict[Path, Workspace]):
    workspace = workspaces.setdefault(page, Workspace())
    (example,) = [e for e in examples(page, workspace) if e.line == line]
    example.evaluate()
