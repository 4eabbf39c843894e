"""``detaudit audit --python PATH``: the workers run under another interpreter (a venv).

The venv is made in the test with the standard library's ``venv``, without
system site-packages: a ``.pth`` file puts the folders that hold this
interpreter's torch and numpy (and its site-packages, for torch's own
dependencies) on its path, wherever they are installed (a venv, the system,
the user's site), but blocks pyyaml and rich; detaudit reaches it only
through the worker's PYTHONPATH, as it would reach a venv with a candidate torch.
"""

from __future__ import annotations

import json
import site
import subprocess
import sysconfig
import venv
from pathlib import Path

import numpy
import pytest
import torch

from ..conftest import run_cli

# Audits under another interpreter, in a fresh virtual environment.
pytestmark = pytest.mark.slow


def _venv(path: Path) -> Path:
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(path)
    return path / "bin" / "python"


def _import_folders() -> list[str]:
    """Where this interpreter finds torch, numpy and their dependencies, in its order."""
    folders = [str(Path(m.__file__).resolve().parents[1]) for m in (torch, numpy)]
    folders += [*site.getsitepackages(), site.getusersitepackages()]
    folders += [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return [f for f in dict.fromkeys(folders) if Path(f).is_dir()]


def candidate(path: Path, blocked: tuple[str, ...] = ("yaml", "rich")) -> Path:
    """A venv that imports this interpreter's torch (and numpy), but none of ``blocked``."""
    python = _venv(path)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # Folders listed in a .pth join sys.path; their own .pth files (detaudit's
    # editable install among them) are not read. The worker's PYTHONPATH comes
    # first anyway: it imports this checkout's detaudit.
    block = ", ".join(f"{name}=None" for name in blocked)
    Path(purelib, "detaudit_test_candidate.pth").write_text(
        "\n".join(_import_folders()) + f"\nimport sys; sys.modules.update({block})\n"
    )
    return python


def _imports(python: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-c", code],
        capture_output=True, text=True, timeout=120, check=False,
        cwd=python.parent,  # not this checkout: -c puts the working folder on sys.path
    )  # fmt: skip


@pytest.fixture(scope="module")
def other_python(tmp_path_factory) -> Path:
    python = candidate(tmp_path_factory.mktemp("candidate") / "venv")
    # Only torch and numpy are needed there: importing detaudit's other dependencies fails.
    for module in ("yaml", "rich"):
        assert _imports(python, f"import {module}").returncode != 0, module
    seen = _imports(python, "import numpy, torch; print(torch.__version__, torch.__file__)")
    assert seen.stdout.split() == [torch.__version__, torch.__file__], seen.stderr
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
    # and the torch it imported (this one's, put on its path by a .pth file).
    assert data["environment"]["python_executable"] == str(other_python)
    assert data["environment"]["torch"] == torch.__version__
    assert path.name == f"detaudit-torch{torch.__version__}-cpu.json"
    statuses = {r["id"]: (r["status"], r["kernel"]) for r in data["results"]}
    assert statuses == {
        "put-accumulate-false": ("raises", "put_"),
        "index-copy": ("converts", None),
    }


def test_an_interpreter_without_torch_is_exit_3(tmp_path):
    bare = _venv(tmp_path / "bare")
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
