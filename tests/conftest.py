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


@pytest.fixture
def cli():
    return run_cli


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
