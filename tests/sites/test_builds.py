"""The census of real torch builds: the installed one, the 2.14.1 CUDA wheel, 2.9.1 -> 2.10 on macOS."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest.importorskip("lief", reason='the sites extra is missing: pip install "detaudit[sites]"')
pytest.importorskip("capstone", reason='the sites extra is missing: pip install "detaudit[sites]"')

from detaudit.sites.census import take_census
from detaudit.sites.diff import diff_censuses
from detaudit.sites.fetch import Source, open_build

from .conftest import wheel

#: The alert names in the libraries of a CPU build, by torch version (read with this command).
CPU_SITES = {
    "2.13.0+cpu": {
        "max_unpooling2d_forward_out",
        "max_unpooling3d_forward_out",
        "put_",
        "quantized_resize_cpu_",
    },
}
#: In every CPU library since 2.0: the generic put_ and the CPU max_unpooling kernels.
ALWAYS_CPU = {"max_unpooling2d_forward_out", "max_unpooling3d_forward_out", "put_"}


def _census(source: Source):
    with open_build(source) as build:
        return take_census(build)


@pytest.mark.slow  # reads the installed torch's libraries
def test_the_installed_torch_lists_its_cpu_sites():
    census = _census(Source("installed"))
    # the wheel's metadata has no local part (2.13.0); torch/version.py may (2.13.0+cu128)
    release = importlib.metadata.version("torch").split("+")[0]
    assert census.torch.split("+")[0] == release
    cpu = {s.alert for s in census.sites if s.library.startswith("torch/lib/libtorch_cpu")}
    if census.torch in CPU_SITES:
        assert cpu == CPU_SITES[census.torch]
        assert all(s.device.value == "cpu" for s in census.sites if s.library.endswith(".so"))
    else:
        assert cpu >= ALWAYS_CPU
    assert not census.undecoded
    python = {s.alert for s in census.sites if s.library.endswith(".py")}
    assert "median CUDA with indices output" in python


@pytest.mark.slow
def test_the_2_14_1_cuda_wheel_lists_its_cuda_sites():
    census = _census(Source("wheel", str(wheel("2.14.1"))))
    cuda = {s.alert for s in census.sites if s.library == "torch/lib/libtorch_cuda.so"}
    assert {"cudnn_grid_sampler_backward", "scatter_reduce_cuda_prod_", "scatter_cuda_"} <= cuda
    assert len(cuda) == 39 and not census.undecoded
    assert all(s.device.value == "cuda" for s in census.sites if "cuda" in s.library)
    assert census.cublas_check == ()  # gone from 2.10 on
    grid = next(s for s in census.sites if s.alert == "cudnn_grid_sampler_backward")
    assert grid.function.startswith("at::native::cudnn_grid_sampler_backward(")


@pytest.mark.slow
def test_the_cublas_check_leaves_between_2_9_1_and_2_10_on_macos():
    mac = "macosx_11_0_arm64"
    old = _census(Source("wheel", str(wheel("2.9.1", mac))))
    new = _census(Source("wheel", str(wheel("2.10.0", mac))))
    diff = diff_censuses(old, new)
    assert old.cublas_check == ("torch/lib/libtorch_cpu.dylib",) and new.cublas_check == ()
    assert diff.cublas_change == "gone"
    assert "kthvalue MPS" in new.names  # Mach-O arm64 decoded, MPS sites among them
    assert next(s for s in new.sites if s.alert == "kthvalue MPS").device.value == "mps"


@pytest.mark.slow
def test_the_2_14_1_aarch64_wheel_decodes_to_the_same_cuda_names():
    x86 = _census(Source("wheel", str(wheel("2.14.1"))))
    arm = _census(Source("wheel", str(wheel("2.14.1", "manylinux_2_28_aarch64"))))
    assert not arm.undecoded

    def cuda(census):
        return {s.alert for s in census.sites if s.library == "torch/lib/libtorch_cuda.so"}

    assert cuda(arm) == cuda(x86)


@pytest.mark.slow
def test_the_catalogue_covers_every_live_site_of_the_2_14_1_cuda_wheel():
    """Issue 19's bar: each alert name of the build is an entry's kernel or a known gap."""
    from detaudit.catalog import load_catalog
    from detaudit.catalog.gaps import load_known_gaps
    from detaudit.sites.coverage import Covered, cover

    result = cover(_census(Source("wheel", str(wheel("2.14.1")))), load_catalog(), load_known_gaps())
    assert [n.alert for n in result.of(Covered.UNCOVERED)] == []
    covered = {n.alert for n in result.of(Covered.COVERED)}
    assert {"cudnn_grid_sampler_backward", "scatter_reduce_cuda_prod_", "scatter_cuda_"} <= covered
