"""Shared fixtures: the fixture catalogue, a CLI runner, and the ``cuda`` marker's skip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
USER_CATALOG = DATA / "user" / "crash.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden files under tests/data/golden from the current renderers",
    )


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; run scripts/gpu-check.sh on one")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def run_cli(
    *args: str, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m detaudit ARGS`` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "detaudit", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def run_cli_here(
    *args: str, cwd: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """``detaudit ARGS`` called in this process, its output captured: what a subprocess gives.

    For tests of argument handling, messages and exit codes, where a fresh
    process proves nothing and costs a Python start; :func:`run_cli` stays
    for what only a process shows (imports, signals, the console script).
    ``timeout`` is accepted for :func:`run_cli`'s signature and not enforced.
    """
    import contextlib
    import io

    from detaudit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        if cwd is not None:  # contextlib.chdir is Python 3.11+
            stack.callback(os.chdir, os.getcwd())
            os.chdir(cwd)
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(
        ["detaudit", *args], code, stdout=out.getvalue(), stderr=err.getvalue()
    )


@pytest.fixture
def cli():
    return run_cli


# ---------------------------------------------------------------------- reports for diff/table

REPORTS = DATA / "reports"
#: Hand-made CUDA-like reports of two torch versions (see tests/data/reports/README.md).
OLD_GPU = REPORTS / "h100-torch2.10.json"
NEW_GPU = REPORTS / "h100-torch2.11.json"
#: Entries of the real CPU audit that diff and table tests run: two raise, one converts, one ok.
CPU_AUDIT_IDS = ("put-accumulate-false", "index-copy", "index-add", "max-unpool2d")


@pytest.fixture(scope="session")
def cpu_report_file(tmp_path_factory) -> Path:
    """A real audit of a few entries on this machine's CPU, written as the JSON report."""
    from detaudit import audit
    from detaudit.render import RENDERERS

    report = audit(device="cpu", only=list(CPU_AUDIT_IDS), repeat=1)
    from detaudit.cli.output import report_stem

    path = tmp_path_factory.mktemp("cpu-audit") / f"{report_stem(report)}.json"
    path.write_text(RENDERERS["report"]["json"].render(report))
    return path


def check_golden(request: pytest.FixtureRequest, name: str, text: str) -> None:
    """Compare ``text`` with tests/data/golden/NAME (rewrite it under ``--update-golden``)."""
    golden = DATA / "golden" / name
    if request.config.getoption("--update-golden"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.fixture(scope="session")
def scan_cache(tmp_path_factory) -> Iterator[Path]:
    """A private cache of probe traces for the scanner, shared by the whole session."""
    folder = tmp_path_factory.mktemp("detaudit-cache")
    saved = os.environ.get("DETAUDIT_CACHE_DIR")
    os.environ["DETAUDIT_CACHE_DIR"] = str(folder)  # CLI subprocesses inherit it
    yield folder
    if saved is None:
        del os.environ["DETAUDIT_CACHE_DIR"]
    else:
        os.environ["DETAUDIT_CACHE_DIR"] = saved
