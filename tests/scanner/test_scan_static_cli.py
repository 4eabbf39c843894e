"""``detaudit scan --static`` as a linter's command line: options anywhere, several paths."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from ..conftest import DATA, run_cli
from .test_scan_dynamic import FIVE, MODEL

ROOT = DATA.parent.parent
SCAN = DATA / "scan"


def _entries(stdout: str) -> set[str]:
    return {f["entry"] for f in json.loads(stdout)["findings"]}


@pytest.mark.slow  # several scans in processes of their own
def test_options_before_after_and_between_the_paths(tmp_path):
    clean = tmp_path / "clean.py"
    clean.write_text("import torch\nprint(torch.ones(2))\n")
    for args in (
        ("--static", str(SCAN), "--format", "json"),
        ("--static", "--format", "json", str(SCAN)),
        ("--static", str(clean), "--format", "json", str(MODEL)),
        ("--format", "json", "--static", "--", str(MODEL), str(clean)),
    ):
        result = run_cli("scan", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert _entries(result.stdout) == FIVE, args
    both = run_cli("scan", "--static", str(clean), str(MODEL), "--format", "json")
    assert json.loads(both.stdout)["files"] == 2
    # an option after the paths wins over the same option before them
    last = run_cli("scan", "--static", "--fail-on", "any", str(MODEL), "--fail-on", "none")
    assert last.returncode == 0, last.stderr


def test_a_missing_path_is_named_and_the_others_are_scanned(tmp_path):
    missing = tmp_path / "nope"
    result = run_cli("scan", "--static", str(missing), str(MODEL), "--format", "json")
    assert result.returncode == 2  # a missing path outranks findings (1)
    assert result.stderr.splitlines() == [
        f"detaudit: error: scan --static: {missing}: no such file or folder"
    ]
    assert _entries(result.stdout) == FIVE
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    assert run_cli("scan", "--static", str(clean), str(missing)).returncode == 2
    only_missing = run_cli("scan", "--static", str(missing), str(tmp_path / "nope2"))
    assert only_missing.returncode == 2 and only_missing.stdout == ""
    assert only_missing.stderr.count("\n") == 2


def test_a_bad_option_after_the_paths_is_exit_2():
    result = run_cli("scan", "--static", str(MODEL), "--format", "xml")
    assert result.returncode == 2 and "invalid choice: 'xml'" in result.stderr
    result = run_cli("scan", "--static", str(MODEL), "--report", str(MODEL))
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_the_dynamic_scan_keeps_the_scripts_options(scan_cache, tmp_path):
    """After the script, ``--format json`` is the script's own argument, not detaudit's."""
    script = tmp_path / "args.py"
    script.write_text("import sys\nprint('argv:', sys.argv[1:])\n")
    result = run_cli("scan", str(script), "--format", "json", "--static")
    assert result.returncode == 0, result.stderr
    assert "argv: ['--format', 'json', '--static']" in result.stdout
    assert not result.stdout.lstrip().startswith("{")  # detaudit's own output stays text


def test_the_readme_example_runs_as_printed():
    """``detaudit scan --static src/ tests/``, run from a checkout (which has no src/)."""
    result = run_cli("scan", "--static", "src/", "tests/", cwd=ROOT)
    assert result.stderr.splitlines() == [
        "detaudit: error: scan --static: src/: no such file or folder"
    ]
    assert result.returncode == 2 and "tests/data/scan/model.py:31:9: put-accumulate-false" in (
        result.stdout
    )


# --------------------------------------------------------------------------- sarif and pre-commit


def _check_sarif(log: dict) -> None:
    """The properties SARIF 2.1.0 requires (sarifLog, run, tool, toolComponent, result, ...)."""
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(log["runs"], list) and log["runs"]
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        ids = [rule["id"] for rule in driver["rules"]]
        assert len(ids) == len(set(ids))
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"]
        for invocation in run.get("invocations", []):
            assert isinstance(invocation["executionSuccessful"], bool)
            for note in invocation.get("toolExecutionNotifications", []):
                assert note["message"]["text"]
        for result in run["results"]:
            assert result["message"]["text"]  # a message is required of every result
            assert result["level"] in ("none", "note", "warning", "error")
            assert ids[result["ruleIndex"]] == result["ruleId"]
            for location in result["locations"]:
                physical = location["physicalLocation"]
                assert physical["artifactLocation"]["uri"]
                region = physical["region"]
                assert region["startLine"] >= 1 and region["startColumn"] >= 1


def test_sarif_output_has_the_required_fields_and_relative_paths():
    result = run_cli("scan", "--static", "tests/data/scan", "--format", "sarif", cwd=ROOT)
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    _check_sarif(log)
    (run,) = log["runs"]
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == FIVE
    put = next(r for r in run["results"] if r["ruleId"] == "put-accumulate-false")
    physical = put["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": "tests/data/scan/model.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert physical["region"] == {"startLine": 31, "startColumn": 9}
    assert put["level"] == "error"  # the docs say it raises
    index_add = next(r for r in run["results"] if r["ruleId"] == "index-add")
    assert index_add["level"] == "warning"  # the docs say it converts


def test_sarif_is_refused_for_the_dynamic_scan():
    result = run_cli("scan", "--format", "sarif", str(MODEL))
    assert result.returncode == 2
    assert result.stderr == "detaudit: error: scan has no --format sarif\n"


def test_the_pre_commit_hook_runs_its_entry_with_the_files_appended(tmp_path):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "detaudit-static" and hook["language"] == "python"
    assert hook["types"] == ["python"] and hook["name"]
    program, *args = shlex.split(hook["entry"])
    assert program == "detaudit"  # the console script; here, this checkout's `-m detaudit`
    clean = tmp_path / "clean.py"
    clean.write_text("import torch\nprint(torch.ones(2))\n")
    found = run_cli(*args, "tests/data/scan/model.py", str(clean), cwd=ROOT)
    assert found.returncode == 1, found.stderr
    assert len(found.stdout.splitlines()) == 5 and found.stderr == ""
    assert found.stdout.startswith("tests/data/scan/model.py:21:21: adaptive-avg-pool2d-backward")
    passed = run_cli(*args, str(clean), cwd=ROOT)
    assert passed.returncode == 0 and passed.stdout == "" and passed.stderr == ""
