"""The built wheel carries the catalogue and the HTML stylesheet, and an install finds them.

From such an install (a venv holding its own torch), ``--python`` audits the other
interpreter's torch, and an interpreter without torch exits 3.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

# Builds the wheel and installs it into fresh virtual environments.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("detaudit-*.whl")
    return built


def test_wheel_contains_catalogue_and_probes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml_file in (ROOT / "catalog").glob("*.yaml"):
        assert f"detaudit/_catalog/{yaml_file.name}" in names
    assert "detaudit/probes/indexing.py" in names
    assert "detaudit/runner/worker.py" in names
    assert "detaudit/render/report.css" in names  # package data, read by importlib.resources
    assert "detaudit/py.typed" in names  # PEP 561: type checkers read the package's hints
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "detaudit = detaudit.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert (
        "detaudit = detaudit.repro.pytest_plugin"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def _libraries() -> list[str]:
    """Where this interpreter's installed libraries lie (torch, numpy, pyyaml, rich, pytest).

    The README's test command installs them into the interpreter that runs
    pytest (a fresh venv in CI), not necessarily into the base interpreter a
    nested venv's ``system_site_packages`` would see: so a nested venv gets
    these folders through a ``.pth`` file instead.
    """
    modules = [importlib.import_module(m) for m in ("torch", "numpy", "yaml", "rich", "pytest")]
    folders = [str(Path(m.__file__).resolve().parents[1]) for m in modules]
    folders += [*site.getsitepackages(), site.getusersitepackages()]
    folders += [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return [f for f in dict.fromkeys(folders) if Path(f).is_dir()]


#: What ``pip install torch`` puts into a venv's site-packages that ``import torch`` needs.
_TORCH_AND_ITS_REQUIREMENTS = (
    "torch", "torchgen", "functorch", "typing_extensions", "filelock", "sympy", "mpmath",
    "networkx", "jinja2", "markupsafe", "fsspec",
)  # fmt: skip


def _purelib(env_dir: Path) -> str:
    """The site-packages folder of the venv ``env_dir``."""
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", code],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


def _venv(env_dir: Path, *, libraries: bool = True, own_torch: bool = False) -> Path:
    """A venv without system site-packages; returns its site-packages folder.

    ``libraries``: a ``.pth`` puts this interpreter's library folders (see
    :func:`_libraries`) after the venv's own site-packages; folders listed in
    a ``.pth`` have their own ``.pth`` files (this checkout's editable install
    among them) left unread. ``own_torch``: the venv's site-packages holds a
    ``torch`` of its own and the packages torch imports (links to this
    interpreter's), which it imports first, with ``torch.__file__`` under the
    venv, as after ``pip install torch``.
    """
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    purelib = _purelib(env_dir)
    if libraries:
        Path(purelib, "detaudit_test_libraries.pth").write_text("\n".join(_libraries()) + "\n")
    for name in _TORCH_AND_ITS_REQUIREMENTS if own_torch else ():
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            origin = Path(spec.origin)
            found = origin.parent if spec.submodule_search_locations else origin
            Path(purelib, found.name).symlink_to(found, found.is_dir())
    return Path(purelib)


def _install(wheel: Path, tmp_path: Path, *, own_torch: bool = False) -> tuple[Path, Path]:
    """A venv under ``tmp_path`` with the wheel installed; returns (venv folder, its python)."""
    env_dir = tmp_path / "venv"
    _venv(env_dir, own_torch=own_torch)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return env_dir, python


def test_non_editable_install_finds_the_catalogue(wheel, tmp_path):
    env_dir, python = _install(wheel, tmp_path)
    code = (
        "import detaudit, detaudit.catalog as c, detaudit.render.html as h; "
        "print(detaudit.__file__); print(c.builtin_catalog_dir()); print(len(c.load_catalog())); "
        "print(len(h._CSS))"
    )
    out = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    package_file, catalog_dir, count, css = out.stdout.split()
    assert package_file.startswith(str(env_dir))
    assert catalog_dir.startswith(str(env_dir)) and catalog_dir.endswith("_catalog")
    assert int(count) >= 50
    assert int(css) > 1000  # the stylesheet, read from the installed package


def test_installed_wheel_registers_the_pytest_plugin(wheel, tmp_path):
    _, python = _install(wheel, tmp_path)
    out = subprocess.run(
        [str(python), "-m", "pytest", "--help"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "--detaudit-seed=N" in out.stdout


def _detaudit(
    env_dir: Path, *args: str, cwd: Path, pythonpath: str | None = None
) -> subprocess.CompletedProcess:
    """Run the venv's ``detaudit`` console script, as a user of that install would."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [str(env_dir / "bin" / "detaudit"), *args],
        capture_output=True, text=True, check=False, timeout=300,
        cwd=cwd, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("exported", [False, True], ids=["plain", "fleet-job"])
def test_python_option_audits_the_candidates_torch_from_a_non_editable_install(
    wheel, tmp_path, exported
):
    # detaudit's venv has a torch of its own in its site-packages, as after
    # `pip install .`; the candidate has another (its own site-packages).
    env_dir, _ = _install(wheel, tmp_path, own_torch=True)
    candidate_site = _venv(tmp_path / "candidate", own_torch=True)
    candidate = tmp_path / "candidate" / "bin" / "python"
    # A fleet job exports the folder holding detaudit (here that site-packages) on PYTHONPATH.
    result = _detaudit(
        env_dir, "audit", "--python", str(candidate), "--device", "cpu", "--only", "index-copy",
        "--repeat", "2", "--format", "json,md", "--out", str(tmp_path / "out"), "--quiet",
        cwd=tmp_path, pythonpath=_purelib(env_dir) if exported else None,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "out").glob("detaudit-torch*-cpu.json")
    environment = json.loads(path.read_text())["environment"]
    assert environment["python_executable"] == str(candidate)
    # The torch the workers imported is the candidate's, not the one beside detaudit.
    assert environment["torch_path"] == str(candidate_site / "torch")
    markdown = path.with_suffix(".md").read_text()
    assert f"| torch imported from | {candidate_site / 'torch'} |" in markdown


def test_python_option_without_torch_is_exit_3_from_a_non_editable_install(wheel, tmp_path):
    env_dir, _ = _install(wheel, tmp_path, own_torch=True)
    _venv(tmp_path / "bare", libraries=False)  # no torch, nothing but the standard library
    bare = tmp_path / "bare" / "bin" / "python"
    out = tmp_path / "out"
    commands = (["audit", "--only", "index-copy", "--out", str(out)], ["discover", "--op", "put"])
    for command in commands:
        result = _detaudit(env_dir, *command, "--python", str(bare), cwd=tmp_path)
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert str(bare) in result.stderr and "torch" in result.stderr
    assert not out.exists()
