"""``detaudit audit --python PATH``: the workers run under another interpreter (a venv).

The venv is made in the test with the standard library's ``venv``: it sees
this interpreter's site-packages (torch and numpy) but cannot import pyyaml or
rich (a ``.pth`` file blocks them), and detaudit reaches it only through the
worker's PYTHONPATH, as it would reach a venv with a candidate torch.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest
import torch

from .conftest import run_cli


def _venv(path: Path, *, system_site_packages: bool) -> Path:
    venv.EnvBuilder(system_site_packages=system_site_packages, with_pip=False).create(path)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def other_python(tmp_path_factory) -> Path:
    python = _venv(tmp_path_factory.mktemp("candidate") / "venv", system_site_packages=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # Only torch and numpy are needed there: make importing detaudit's other dependencies fail.
    Path(site, "detaudit_test_block.pth").write_text(
        "import sys; sys.modules.update(yaml=None, rich=None)\n"
    )
    blocked = subprocess.run(
        [str(python), "-c", "import yaml"], capture_output=True, timeout=60, check=False
    )
    assert blocked.returncode != 0
    return python


def test_audit_runs_under_the_other_interpreter(other_python, tmp_path):
    result = run_cli(
        "audit", "--python", str(other_python), "--device", "cpu",
        "--only", "put-accumulate-false", "--only", "index-copy", "--repeat", "2",
        "--format", "json", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("detaudit-torch*-cpu.json")
    data = json.loads(path.read_text())
    # The environment names the interpreter the probes ran under, not this one,
    # and the torch it imported (this one's, seen through the system site-packages).
    assert data["environment"]["python_executable"] == str(other_python)
    assert data["environment"]["torch"] == torch.__version__
    assert path.name == f"detaudit-torch{torch.__version__}-cpu.json"
    statuses = {r["id"]: (r["status"], r["kernel"]) for r in data["results"]}
    assert statuses == {
        "put-accumulate-false": ("raises", "put_"),
        "index-copy": ("converts", None),
    }


def test_an_interpreter_without_torch_is_exit_3(tmp_path):
    bare = _venv(tmp_path / "bare", system_site_packages=False)
    result = run_cli(
        "audit", "--python", str(bare), "--only", "index-copy", "--out", str(tmp_path / "out")
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1
    assert str(bare) in result.stderr and "torch" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_interpreter_is_exit_3(tmp_path):
    missing = tmp_path / "no" / "python"
    result = run_cli("audit", "--python", str(missing), "--only", "index-copy")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and str(missing) in result.stderr
