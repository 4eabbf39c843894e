"""The built wheel carries the catalogue and the HTML stylesheet, and an install finds them."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

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
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "detaudit = detaudit.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert (
        "detaudit = detaudit.repro.pytest_plugin"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def _install(wheel: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A venv under ``tmp_path`` with the wheel installed; returns (venv folder, its python)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
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
