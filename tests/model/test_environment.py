"""The environment's ``torch_path``: where the workers' torch came from; older reports lack it."""

from __future__ import annotations

import pytest

from detaudit.errors import ReportError
from detaudit.model.report import Environment, Report
from detaudit.render.prose import environment_rows

PATH = "/tmp/candidate/lib/python3.11/site-packages/torch"


def test_an_older_environment_without_torch_path_loads_and_keeps_its_shape():
    env = Environment.from_dict({"torch": "2.13.0", "python_executable": "/usr/bin/python3"})
    assert env.torch_path is None
    assert "torch_path" not in env.to_dict()


def test_torch_path_round_trips():
    env = Environment.from_dict({"torch": "2.13.0", "torch_path": PATH})
    assert env.torch_path == PATH
    assert Environment.from_dict(env.to_dict()) == env


def test_a_torch_path_of_the_wrong_type_names_the_field():
    with pytest.raises(ReportError, match=r"environment\.torch_path: expected a string"):
        Environment.from_dict({"torch": "2.13.0", "torch_path": 3})


def test_the_environment_table_says_where_torch_was_imported_from():
    rows = environment_rows(_report(Environment(torch="2.13.0", torch_path=PATH)))
    assert rows[:2] == [("torch", "2.13.0"), ("torch imported from", PATH)]
    older = environment_rows(_report(Environment(torch="2.13.0")))
    assert [label for label, _ in older if label == "torch imported from"] == []


def _report(env: Environment) -> Report:
    return Report(environment=env, results=(), devices=("cpu",))
