"""Bad input is one line, exit 2, no traceback: timeouts, encodings, report types, repeated files."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import pytest

import detaudit
from detaudit.catalog import builtin_catalog_files, load_catalog
from detaudit.errors import CatalogError, ReportError, UsageError
from detaudit.model.reportfile import load_report

from ..conftest import OLD_GPU, run_cli_here

FAST = 20.0  # seconds: far below a worker's start, so nothing ran

ENTRY = """  - id: {id}
    api: torch.mine
    condition: always
    devices: [cpu]
    pass: forward
    probe: {module}:probe
    source: a test
"""


def _one_error_line(result, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# ------------------------------------------------------------------------- --timeout


@pytest.mark.parametrize("command", ["audit", "discover"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "0", "-1", "1e300", "soon"])
def test_timeout_must_be_a_finite_positive_number(command, value):
    started = time.monotonic()
    result = run_cli_here(command, "--timeout", value)
    assert time.monotonic() - started < FAST
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "argument --timeout: " in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -1.0, 1e300])
def test_api_timeout_must_be_a_finite_positive_number(value):
    # The library names the field; the CLI words it as the flag (--timeout must be ...).
    with pytest.raises(UsageError, match=r"^timeout must be a positive, finite number") as bad:
        detaudit.audit(timeout=value)
    assert bad.value.option == "timeout"
    from detaudit.docs.discover import discover

    with pytest.raises(UsageError, match=r"^timeout must be a positive, finite number") as bad:
        discover(timeout=value)
    assert bad.value.option == "timeout"


# ------------------------------------------------------------------------- --seed

# numpy.random.seed takes [0, 2**32 - 1], the narrowest of the RNGs every run
# seeds: a seed outside it made 99 of 101 results ``error`` and exit 0.
BAD_SEEDS = ["-1", "4294967296", "-9223372036854775808"]


@pytest.mark.parametrize("value", BAD_SEEDS)
@pytest.mark.parametrize(
    "command",
    [
        ["audit"],
        ["discover"],
        ["fleet", "--node-type", "a:--partition=x", "--shared", ".", "--dry-run"],
    ],
)
def test_a_seed_no_rng_takes_is_refused_in_one_line(command, value):
    started = time.monotonic()
    line = _one_error_line(run_cli_here(*command, "--seed", value))
    assert time.monotonic() - started < FAST
    assert line == (
        "detaudit: error: --seed must be a whole number in [0, 4294967295] (numpy.random.seed's "
        f"range; every run seeds Python, numpy and torch with it), got {value}"
    )


@pytest.mark.parametrize("value", [-1, 2**32, 1.5, True])
def test_api_seed_must_be_in_every_rngs_range(value):
    with pytest.raises(
        UsageError, match=r"^seed must be a whole number in \[0, 4294967295\]"
    ) as bad:
        detaudit.audit(seed=value)
    assert bad.value.option == "seed"
    from detaudit.docs.discover import discover

    with pytest.raises(
        UsageError, match=r"^seed must be a whole number in \[0, 4294967295\]"
    ) as bad:
        discover(seed=value)
    assert bad.value.option == "seed"


def test_the_extremes_of_the_seed_range_are_taken():
    from detaudit.runner.spec import check_seed_option

    assert check_seed_option(0) == 0
    assert check_seed_option(2**32 - 1) == 2**32 - 1


# ------------------------------------------------------------------------- encodings


def test_non_utf8_catalogue_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("raises:\n  - id: caf\u00e9\n".encode("latin-1"))
    for args in (["catalog", "validate", str(path)], ["audit", "--catalog", str(path)]):
        line = _one_error_line(run_cli_here(*args))
        assert line == (
            f"detaudit: error: {path}: not UTF-8 text (byte 0xe9 at offset 19); save it as UTF-8"
        )
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_catalog([path], builtin=False)


def test_non_utf8_probe_module_is_one_line_for_the_file(tmp_path):
    (tmp_path / "latin_probes.py").write_bytes(
        "def probe(device):\n    return 'caf\u00e9'\n".encode("latin-1")
    )
    catalog = tmp_path / "mine.yaml"
    catalog.write_text(
        "raises:\n"
        + ENTRY.format(id="one", module="latin_probes")
        + ENTRY.format(id="two", module="latin_probes")
    )
    for args in (["catalog", "validate", str(catalog)], ["audit", "--catalog", str(catalog)]):
        line = _one_error_line(run_cli_here(*args))  # one line, though two entries use the module
        assert line.startswith(f"detaudit: error: {tmp_path / 'latin_probes.py'}:2: ")
        assert "not UTF-8 text" in line


def test_probe_module_with_a_coding_declaration_is_valid_python(tmp_path):
    (tmp_path / "declared_probes.py").write_bytes(
        "# -*- coding: latin-1 -*-\ndef probe(device):\n    return 'caf\u00e9'\n".encode("latin-1")
    )
    catalog = tmp_path / "mine.yaml"
    catalog.write_text("raises:\n" + ENTRY.format(id="one", module="declared_probes"))
    result = run_cli_here("catalog", "validate", str(catalog))
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------- report types

REPORT = json.loads(OLD_GPU.read_text())

#: (what to change, the field the error names, the start of what it says)
BAD_FIELDS = {
    "schema-string": (("schema_version", "1"), "schema_version", "expected a positive whole"),
    "schema-zero": (("schema_version", 0), "schema_version", "expected a positive whole"),
    "schema-negative": (("schema_version", -1), "schema_version", "expected a positive whole"),
    "schema-bool": (("schema_version", True), "schema_version", "expected a positive whole"),
    "id-int": (("results", 3, "id", 7), "results[3].id", "expected a string, got 7"),
    "device-null": (("results", 0, "device", None), "results[0].device", "expected a string"),
    "status-int": (("results", 1, "status", 2), "results[1].status", "expected one of raises"),
    "status-unknown": (("results", 1, "status", "melts"), "results[1].status", 'got "melts"'),
    "seconds-string": (
        ("results", 3, "seconds", "1.5"),
        "results[3].seconds",
        'expected a number, got "1.5"',
    ),
    "seconds-bool": (("results", 3, "seconds", True), "results[3].seconds", "got true"),
    "runs-float": (("results", 0, "runs_mode_on", 1.5), "results[0].runs_mode_on", "whole"),
    "torch-int": (("environment", "torch", 2), "environment.torch", "expected a string"),
    "torch-missing": (("environment", "torch", ...), "environment", "missing field 'torch'"),
    "results-object": (("results", {}), "results", "expected a list, got {}"),
    "result-number": (("results", 2, 5), "results[2]", "expected an object, got 5"),
    "warnings-ints": (
        ("results", 0, "strict", "warnings", [1]),
        "results[0].strict.warnings",
        "expected a list of strings",
    ),
}


def _bad_report(tmp_path: Path, case: str) -> Path:
    change, _, _ = BAD_FIELDS[case]
    data = copy.deepcopy(REPORT)
    *keys, last, value = change
    target = data
    for key in keys:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_a_report_field_of_the_wrong_type_is_a_report_error(tmp_path, case):
    path = _bad_report(tmp_path, case)
    _, field, says = BAD_FIELDS[case]
    with pytest.raises(ReportError) as caught:
        load_report(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and says in message, message
    assert "\n" not in message


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_diff_of_a_bad_report_is_exit_2_in_one_line(tmp_path, case):
    path = _bad_report(tmp_path, case)
    _, field, says = BAD_FIELDS[case]
    line = _one_error_line(run_cli_here("diff", str(OLD_GPU), str(path)))
    assert line.startswith(f"detaudit: error: {path}: {field}: ") and says in line


@pytest.mark.parametrize("case", ["schema-string", "id-int", "seconds-string", "status-unknown"])
def test_table_of_a_bad_report_is_exit_2_in_one_line(tmp_path, case):
    path = _bad_report(tmp_path, case)
    line = _one_error_line(run_cli_here("table", str(OLD_GPU), str(path)))
    assert line.startswith(f"detaudit: error: {path}: {BAD_FIELDS[case][1]}: ")


def test_scan_report_uses_the_same_checks(tmp_path):
    path = _bad_report(tmp_path, "seconds-string")
    script = tmp_path / "script.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    line = _one_error_line(run_cli_here("scan", "--report", str(path), str(script)))
    assert line == (
        f'detaudit: error: --report {path}: results[3].seconds: expected a number, got "1.5"'
    )
    assert not marker.exists()


def test_a_valid_report_still_loads():
    report = load_report(OLD_GPU)
    assert report.environment.torch == REPORT["environment"]["torch"]
    assert len(report.results) == len(REPORT["results"])


# ------------------------------------------------------------------------- a file twice


def test_a_builtin_catalogue_file_given_again_is_one_line():
    builtin = builtin_catalog_files()[0]
    relative = os.path.relpath(builtin)
    for path in (str(builtin), relative):
        started = time.monotonic()
        line = _one_error_line(run_cli_here("audit", "--catalog", path))
        assert time.monotonic() - started < FAST
        assert line.startswith(f"detaudit: error: {path}: already loaded: it is part of the")
        assert "--no-builtin" in line
    # with --no-builtin it is an ordinary catalogue file
    result = run_cli_here("catalog", "list", "--no-builtin", "--catalog", relative)
    assert result.returncode == 0, result.stderr


def test_the_same_catalogue_file_twice_is_one_line(tmp_path):
    (tmp_path / "myprobes.py").write_text("def probe(device):\n    return None\n")
    catalog = tmp_path / "mine.yaml"
    catalog.write_text("raises:\n" + ENTRY.format(id="one", module="myprobes"))
    link = tmp_path / "link.yaml"
    link.symlink_to(catalog)
    twice = ["catalog", "list", "--no-builtin", "--catalog", str(catalog), "--catalog"]
    line = _one_error_line(run_cli_here(*twice, str(catalog)))
    assert line == f"detaudit: error: {catalog}: given twice; give each catalogue file once"
    line = _one_error_line(run_cli_here(*twice, str(link)))
    assert line == (
        f"detaudit: error: {link}: already given as {catalog}; give each catalogue file once"
    )
    line = _one_error_line(run_cli_here("catalog", "validate", str(catalog), str(catalog)))
    assert "given twice" in line
    with pytest.raises(CatalogError, match="given twice"):
        load_catalog([catalog, catalog], builtin=False)
