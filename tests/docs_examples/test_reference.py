"""The reference pages say what the code says: generated pages are fresh, hand-written ones complete."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from detaudit.catalog import load
from detaudit.cli import exits
from detaudit.cli.app import build_parser

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "scripts/gen_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@pytest.mark.parametrize("path,text", sorted(GEN.generate().items()))
def test_the_generated_page_is_committed_and_fresh(path, text):
    page = ROOT / path
    assert page.exists(), f"{path} is missing: run python scripts/gen_reference.py"
    assert page.read_text(encoding="utf-8") == text, (
        f"{path} is stale: run python scripts/gen_reference.py"
    )


def test_every_page_marked_generated_is_generated():
    generated = set(GEN.generate())
    marked = {
        str(p.relative_to(ROOT))
        for p in REFERENCE.glob("*.md")
        if p.read_text(encoding="utf-8").startswith(GEN.HEADER)
    }
    assert marked <= generated, marked - generated


def test_an_option_added_without_regenerating_makes_the_page_stale():
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands.choices["audit"].add_argument("--brand-new", help="an option nobody documented")
    page = GEN.commands_page(parser)
    assert "`--brand-new BRAND_NEW` | an option nobody documented" in page
    committed = (REFERENCE / "commands.md").read_text(encoding="utf-8")
    assert GEN.HEADER + page != committed


def test_every_command_and_option_is_on_the_commands_page():
    page = (REFERENCE / "commands.md").read_text(encoding="utf-8")

    def walk(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)

    for parser in walk(build_parser()):
        if parser.prog != "detaudit":  # the page's top is the root's
            assert f"## `{parser.prog}`" in page or f"### `{parser.prog}`" in page, parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # -h is in every usage line
            for option in action.option_strings:
                assert re.search(rf"`[^`]*{re.escape(option)}\b", page), (parser.prog, option)


def test_the_exit_codes_page_lists_every_code():
    page = (REFERENCE / "exit-codes.md").read_text(encoding="utf-8")
    codes = [getattr(exits, name) for name in exits.__all__]
    for code in [*codes, 129, 130, 143]:
        assert re.search(rf"^\| {code} \|", page, re.MULTILINE), code


def test_the_catalogue_schema_page_names_every_key():
    page = (REFERENCE / "catalog-schema.md").read_text(encoding="utf-8")
    keys = (
        load.REQUIRED_KEYS
        + load.OPTIONAL_KEYS
        + load.MATCH_KEYS
        + load.STATIC_KEYS
        + load.FORM_KEYS
    )
    for key in keys:
        assert f"`{key}`" in page, key


def test_the_environment_page_names_every_variable_detaudit_reads():
    page = (REFERENCE / "environment-variables.md").read_text(encoding="utf-8")
    sources = [*(ROOT / "detaudit").rglob("*.py"), *(ROOT / "scripts").iterdir()]
    names = set()
    for source in sources:
        if source.is_file():
            names |= set(re.findall(r"\bDETAUDIT_[A-Z_]*[A-Z]\b", source.read_text()))
    assert names, "the search found nothing: the pattern is wrong"
    for name in [*sorted(names), "CUBLAS_WORKSPACE_CONFIG", "XDG_CACHE_HOME", "PYTHONHASHSEED"]:
        assert f"`{name}`" in page, name
