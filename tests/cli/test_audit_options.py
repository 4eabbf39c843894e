"""One set of audit options: the CLI builds them, fleet passes every one on, errors carry data."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

import detaudit
from detaudit.cli.app import build_parser
from detaudit.cli.audit import audit_arguments, options_from_args
from detaudit.cli.wording import flag, worded
from detaudit.errors import UsageError
from detaudit.options import AuditOptions

from ..conftest import run_cli

#: Every field away from its default, so a field the CLI forgets fails the round trip.
EVERY = AuditOptions(
    device="cpu",
    catalogs=("/abs/user.yaml",),
    builtin=False,
    only=("index-add", "index-copy"),
    repeat=3,
    timeout=12.5,
    jobs=2,
    python="/opt/other/bin/python",
    seed=7,
    cost=4,
    compile="eager",
    compile_deterministic=True,
    compile_timeout=33.0,
    census=False,
)


def test_the_round_trip_sets_every_field_away_from_its_default():
    default = AuditOptions()
    same = [
        f.name
        for f in dataclasses.fields(AuditOptions)
        if getattr(EVERY, f.name) == getattr(default, f.name)
    ]
    assert same == []  # a new field: give it a value here


def test_audit_flags_give_the_options_back():
    words = audit_arguments(EVERY)
    args = build_parser().parse_args(["audit", *words])
    assert options_from_args(args, args.python) == EVERY


def test_the_default_options_are_two_words_and_the_seed():
    assert audit_arguments(AuditOptions()) == ["--device", "auto", "--seed", "0"]


def test_fleet_passes_every_audit_option_to_its_jobs(tmp_path):
    catalog = tmp_path / "user.yaml"
    done = run_cli(
        "fleet", "--node-type", "a:--partition=a", "--shared", str(tmp_path), "--dry-run",
        "--device", "cpu", "--catalog", str(catalog), "--no-builtin", "--only", "index-add", "--only", "index-copy",
        "--repeat", "3", "--timeout", "12.5", "--jobs", "2", "--seed", "7", "--cost", "4",
        "--compile", "eager", "--compile-deterministic", "--compile-timeout", "33",
        "--no-census", "--python", "/opt/other/bin/python",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    command = shlex.split(done.stdout.splitlines()[-1].replace('"$out"', "OUT"))
    assert command[1:4] == ["-m", "detaudit", "audit"]
    assert command[-4:] == ["--format", "json", "--out", "OUT"]
    args = build_parser().parse_args(command[3:-4])
    assert options_from_args(args, args.python) == dataclasses.replace(
        EVERY, catalogs=(str(catalog),)
    )


@pytest.mark.parametrize(
    ("given", "option", "library", "cli"),
    [
        ({"timeout": 0.0}, "timeout", "timeout must be a positive", "--timeout must be a positive"),
        (
            {"repeat": 0},
            "repeat",
            "repeat must be at least 1, got 0",
            "--repeat must be at least 1",
        ),
        ({"jobs": 0}, "jobs", "jobs must be at least 1", "--jobs must be at least 1"),
        ({"cost": 0}, "cost", "cost must be at least 1 run", "--cost must be at least 1 run"),
        ({"compile": " "}, "compile", "e.g. compile=inductor", "e.g. --compile=inductor"),
        (
            {"compile_deterministic": True},
            "compile_deterministic",
            "compile_deterministic needs compile",
            "--compile-deterministic needs --compile",
        ),
        ({"device": "tpu"}, "device", "device must be one of", "--device must be one of"),
    ],
)
def test_a_bad_option_names_its_field_and_the_cli_words_its_flag(given, option, library, cli):
    with pytest.raises(UsageError) as bad:
        detaudit.audit(**given)
    assert bad.value.option == option
    assert str(bad.value).startswith(f"{option} ") and library in str(bad.value)
    assert "--" not in str(bad.value)  # no flag in the library's wording
    assert worded(bad.value).startswith(flag(option)) and cli in worded(bad.value)


def test_an_unknown_option_is_a_type_error():
    with pytest.raises(TypeError):
        AuditOptions(bogus=1)


def test_flags_of_irregular_options():
    assert flag("catalogs") == "--catalog" and flag("compile_timeout") == "--compile-timeout"
    assert flag("builtin") == "--no-builtin" and flag("census") == "--no-census"


def test_one_id_or_path_given_alone_is_one():
    options = AuditOptions(only="index-add", catalogs="user.yaml")
    assert options.only == ("index-add",) and options.catalogs == ("user.yaml",)
