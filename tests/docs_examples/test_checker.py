"""The docs checker fails a wrong example: a broken page makes the suite fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from sybil.example import SybilFailure

from .checker import Workspace, examples, match, parse_console

FENCE = "```"


def _page(tmp_path: Path, body: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(f"# A page\n\nSome words.\n\n{body}\n", encoding="utf-8")
    return page


@pytest.fixture
def workspace(tmp_path):
    made = Workspace(root=tmp_path / "repo")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "hello.txt").write_text("hello\nworld\n")
    yield made
    made.close()


def _evaluate(page: Path, workspace: Workspace) -> list[str]:
    failures = []
    for example in examples(page, workspace):
        try:
            example.evaluate()
        except SybilFailure as exc:
            failures.append(str(exc))
    return failures


def test_a_right_example_passes(tmp_path, workspace):
    page = _page(
        tmp_path,
        f"{FENCE}console\n$ cat hello.txt\nhello\nworld\n$ cat missing.txt\n...\n[exit 1]\n{FENCE}\n"
        f"{FENCE}python\nimport pathlib\nassert pathlib.Path('hello.txt').exists()\n{FENCE}",
    )
    assert _evaluate(page, workspace) == []


def test_a_wrong_output_fails_naming_the_line(tmp_path, workspace):
    page = _page(tmp_path, f"{FENCE}console\n$ cat hello.txt\nhello\nmoon\n{FENCE}")
    (failure,) = _evaluate(page, workspace)
    assert "line 6: $ cat hello.txt" in failure
    assert "moon" in failure and "world" in failure


def test_a_wrong_exit_code_fails(tmp_path, workspace):
    page = _page(tmp_path, f"{FENCE}console\n$ cat missing.txt\n...\n{FENCE}")
    (failure,) = _evaluate(page, workspace)
    assert "(exit 0)" in failure and "(exit 1)" in failure


def test_a_failing_python_block_fails(tmp_path, workspace):
    page = _page(tmp_path, f"{FENCE}python\nimport no_such_module_here\n{FENCE}")
    (failure,) = _evaluate(page, workspace)
    assert "ModuleNotFoundError" in failure


def test_illustrations_are_not_run(tmp_path, workspace):
    page = _page(tmp_path, f"{FENCE}text\n$ false\n{FENCE}\n{FENCE}yaml\nnot: [run\n{FENCE}")
    assert list(examples(page, workspace)) == []


def test_the_examples_run_in_a_copy(tmp_path, workspace):
    page = _page(tmp_path, f"{FENCE}console\n$ rm hello.txt && ls\n{FENCE}")
    assert _evaluate(page, workspace) == []
    assert (tmp_path / "repo" / "hello.txt").exists()


@pytest.mark.parametrize(
    "expected,actual,fits",
    [
        (["a", "...", "c"], ["a", "c"], True),
        (["a", "...", "c"], ["a", "x", "y", "c"], True),
        (["took ... s"], ["took 1.23 s"], True),
        (["took ... s"], ["took 1.23 ms!"], False),
        (["a"], ["a", "b"], False),
        (["a", "b"], ["a"], False),
        (["a.b"], ["axb"], False),  # only "..." is a wildcard
        (["trailing  "], ["trailing"], True),
    ],
)
def test_match(expected, actual, fits):
    assert match(expected, actual) is fits


def test_parse_console_reads_continuations_and_exit_codes():
    (first, second) = parse_console("$ echo a \\\n  b\na b\n$ false\n[exit 1]\n", 10)
    assert first.command == "echo a \\\n  b" and first.expected == ("a b",)
    assert (first.line, second.line, second.exit_code) == (10, 13, 1)


def test_a_console_block_starts_with_a_command():
    with pytest.raises(ValueError, match="starts with"):
        parse_console("output first\n$ echo\n")
