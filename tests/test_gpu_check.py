"""scripts/gpu-check.sh stays in step with the catalogue, and its steps run (on CPU) in CI.

The lent GPU machine's stack has Python 3.12, a CUDA torch, numpy, pyyaml, pytest and
rich, no network and no expecttest. The CPU run below simulates that last part with
an ``expecttest`` that cannot be imported, so the OpInfo tests take their skip path.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from detaudit.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def _text() -> str:
    """The script, continuation lines joined."""
    return SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")


def _audits() -> list[str]:
    """Each ``detaudit audit`` command line of the script."""
    return [line for line in _text().splitlines() if "-m detaudit audit" in line]


def test_the_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


def test_it_audits_the_whole_catalogue_on_cuda_and_a_compiled_subset_that_exists():
    text = _text()
    assert "device=${DETAUDIT_GPU_CHECK_DEVICE:-cuda}" in text  # a GPU run unless told
    audits = _audits()
    full = [a for a in audits if '--device "$device"' in a and "--compile" not in a]
    assert full, "no full audit: every entry and both backward ways must run"
    # the full audit names no entry: only DETAUDIT_GPU_CHECK_ONLY (CI) narrows it
    assert not re.search(r"--only\s+[a-z]", full[0]) and "${DETAUDIT_GPU_CHECK_ONLY:-}" in text
    compiled = [a for a in audits if "--compile" in a]
    assert compiled, "no --compile audit"
    ids = {e.id for e in load_catalog()}
    named = set(re.findall(r"--only\s+([a-z0-9][\w.-]*)", text))
    assert named and named <= ids, sorted(named - ids)
    # Entries whose probe compiles run only under --compile: the script must include them.
    assert {e.id for e in load_catalog() if e.compiles} <= named


@pytest.mark.slow  # runs the GPU check's steps on CPU in a fresh environment
def test_its_steps_run_on_cpu_without_expecttest(tmp_path):
    """The script's shell, end to end, on CPU: one entry, the OpInfo tests, no expecttest."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "expecttest.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'expecttest'\", name='expecttest')\n"
    )
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHONPATH": str(shim),
        "DETAUDIT_GPU_CHECK_DEVICE": "cpu",
        "DETAUDIT_GPU_CHECK_ONLY": "index-add",
        "DETAUDIT_GPU_CHECK_TESTS": "tests/docs/test_discover.py",
        "DETAUDIT_GPU_CHECK_COMPILE": "eager",  # no C++ compiler needed
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,  # the script finds its checkout itself
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "nvidia-smi" not in log.split("== CUDA tests")[0].replace("no GPU asked", "")
    pytest_log = (out / "pytest-cuda.log").read_text()
    # the cuda-marked OpInfo sweep skips for expecttest (its skipif), not for a failed import
    assert "needs the 'expecttest' package" in pytest_log and "error" not in pytest_log.lower()
    for name in ("audit-cpu.log", "two-ways.log"):
        assert (out / name).is_file(), name
    (report,) = out.glob("detaudit-*.json")
    assert '"id": "index-add"' in report.read_text()
    assert list(out.glob("detaudit-*.md"))
    assert list((out / "compile").glob("detaudit-*.json"))
    assert (out / "compile" / "audit-cpu-compile.log").is_file()
    assert "tests exit 0, audit exit 0, compile audit exit 0" in log
