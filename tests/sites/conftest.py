"""Fixtures for the census: a tiny shared library compiled here, a fake torch folder, wheels."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: A translation unit shaped like ATen: a static ``at::Context::alertNotDeterministic``
#: taking ``std::string_view const&`` (the 2.x signature), called from two kernels; one
#: builds the string_view from a register set before another call (as put_ does).
SOURCE = r"""
#include <string_view>
namespace at {
struct Context { static void alertNotDeterministic(std::string_view const& caller); };
void other(int);
namespace native {
void fake_kernel_backward_cuda(int x) {
  if (x > 1) at::Context::alertNotDeterministic("fake_kernel_backward_cuda");
}
void fake_scatter_mps(int x) {
  const char* name = "fake_scatter_mps with index";
  other(x);
  if (x) at::Context::alertNotDeterministic(std::string_view(name, 27));
}
}  // namespace native
}  // namespace at
"""

ALERTS = {"fake_kernel_backward_cuda", "fake_scatter_mps with index"}


def compile_library(folder: Path, name: str, *flags: str) -> Path:
    """``SOURCE`` as a shared library (the alert function left undefined, as in libtorch_cuda)."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.fail("g++ is needed to build the synthetic library (it is on this project's CI)")
    source = folder / "fake.cpp"
    source.write_text(SOURCE, encoding="utf-8")
    target = folder / name
    subprocess.run(
        [compiler, "-std=c++17", "-O2", "-shared", "-fPIC", *flags, str(source), "-o", str(target)],
        check=True,
    )
    return target


@pytest.fixture(scope="session")
def fake_library(tmp_path_factory) -> Path:
    return compile_library(tmp_path_factory.mktemp("lib"), "libtorch_fake.so")


PYTHON_FILE = """
import torch._prims_common as utils

def meta_thing(x, dim):
    utils.alert_not_deterministic("thing CUDA with indices output")
    utils.alert_not_deterministic(f"max_unpooling{dim}d_forward_out")
    return x
"""


@pytest.fixture()
def fake_torch(tmp_path, fake_library) -> Path:
    """A folder laid out like an installed torch: version.py, lib/, one Python alert file."""
    torch_dir = tmp_path / "torch"
    (torch_dir / "lib").mkdir(parents=True)
    (torch_dir / "version.py").write_text("__version__ = '9.9.9+fake'\n", encoding="utf-8")
    shutil.copy(fake_library, torch_dir / "lib" / "libtorch_cuda.so")
    (torch_dir / "_meta.py").write_text(PYTHON_FILE, encoding="utf-8")
    return torch_dir


def wheel(version: str, platform: str = "") -> Path:
    """The torch wheel, from the pip download cache (``DETAUDIT_WHEEL_CACHE`` or detaudit's)."""
    from detaudit.sites.fetch import download_wheel

    return download_wheel(version, platform, cache=os.environ.get("DETAUDIT_WHEEL_CACHE", ""))
