"""The docs' one-liner reads a candidate torch's docstring out of a wheel, unimported."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from ..conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
# As printed in docs/how-to/keep-the-catalogue-true.md ("A newer torch, before you install it"),
# less the shell redirect.
ONE_LINER = (
    "import ast,sys,zipfile;t=ast.parse(zipfile.ZipFile(sys.argv[1]).read('torch/__init__.py'));"
    "print(next(ast.get_docstring(f,clean=False) for f in ast.walk(t) "
    "if getattr(f,'name','')=='use_deterministic_algorithms'))"
)


def test_the_docs_print_the_one_liner():
    page = ROOT / "docs" / "how-to" / "keep-the-catalogue-true.md"
    assert f'python3 -c "{ONE_LINER}"' in page.read_text(encoding="utf-8")


def test_the_one_liner_reads_a_wheel_as_check_docs_reads_the_installed_torch(tmp_path):
    wheel = tmp_path / "torch-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:  # a wheel is a zip; only this file matters
        archive.writestr("torch/__init__.py", Path(torch.__file__).read_text(encoding="utf-8"))
    text = subprocess.run(
        [sys.executable, "-c", ONE_LINER, str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docstring = tmp_path / "candidate.txt"
    docstring.write_text(text)
    version = torch.__version__
    from_wheel = run_cli(
        "catalog",
        "check-docs",
        "--docstring",
        str(docstring),
        "--torch-version",
        version,
        "--format",
        "json",
    )
    installed = run_cli("catalog", "check-docs", "--format", "json")
    assert from_wheel.returncode == installed.returncode, from_wheel.stderr
    wheel_report, installed_report = json.loads(from_wheel.stdout), json.loads(installed.stdout)
    assert wheel_report["findings"] == installed_report["findings"]
    assert wheel_report["docs"] == installed_report["docs"]
    assert wheel_report["docs"]["converted"]  # the lists were read, not empty
