"""``scan run``, ``scan static`` and ``scan signatures``: one option set, today's spellings as aliases."""

from __future__ import annotations

import argparse
import json

import pytest

from detaudit.cli.app import build_parser
from detaudit.cli.scan import SUBCOMMANDS, _arguments

from ..conftest import DATA, run_cli
from ..scanner.test_scan_dynamic import FIVE, MODEL, SCAN_GPU


def _parsed(*words: str) -> tuple[str, str, argparse.Namespace]:
    return _arguments(build_parser().parse_args(["scan", *words]))


@pytest.mark.parametrize(
    ("words", "name", "spelled"),
    [
        (("run", str(MODEL), "a1"), "run", "scan run"),
        ((str(MODEL), "a1"), "run", "scan"),
        (("--", "python", str(MODEL)), "run", "scan"),
        (("static", str(MODEL)), "static", "scan static"),
        (("--static", str(MODEL)), "static", "scan --static"),
        (("signatures",), "signatures", "scan signatures"),
        (("--signatures",), "signatures", "scan --signatures"),
    ],
)
def test_each_spelling_names_its_subcommand(words, name, spelled):
    assert _parsed(*words)[:2] == (name, spelled)


def test_options_before_and_after_the_subcommand_add_up():
    name, _, args = _parsed(
        "--report", "a.json", "run", "--report", "b.json", "-o", "x", "t.py", "-o"
    )
    assert name == "run" and args.report == ["a.json", "b.json"] and args.output == "x"
    assert args.target == ["t.py", "-o"]  # the script keeps its own options
    _, _, static = _parsed("--fail-on", "none", "static", "p.py", "--format", "json", "q.py")
    assert static.paths == ["p.py", "q.py"] and static.format == "json"
    assert static.fail_on == "none"


def test_every_subcommand_takes_the_one_option_set():
    from detaudit.cli.scan import _subcommand

    def options(parser: argparse.ArgumentParser) -> set[str]:
        return {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}

    shared = {options(_subcommand(name)) == options(_subcommand("run")) for name in SUBCOMMANDS}
    assert shared == {True}


def test_scan_static_is_scan_dash_dash_static():
    new = run_cli("scan", "static", str(MODEL), "--format", "json")
    old = run_cli("scan", "--static", str(MODEL), "--format", "json")
    assert new.returncode == old.returncode == 1, new.stderr
    assert new.stdout == old.stdout
    assert {f["entry"] for f in json.loads(new.stdout)["findings"]} == FIVE
    missing = run_cli("scan", "static", str(DATA / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("detaudit: error: scan static: ")


def test_scan_run_is_scan(scan_cache):
    new = run_cli("scan", "run", "--report", str(SCAN_GPU), "--fail-on", "raises", str(MODEL), "a1")
    assert new.returncode == 1, new.stderr
    assert "1 op raises here: put-accumulate-false" in new.stdout


def test_a_format_of_the_other_document_is_refused():
    result = run_cli("scan", "run", "--format", "sarif", str(MODEL))
    assert result.returncode == 2 and "invalid choice: 'sarif'" in result.stderr
