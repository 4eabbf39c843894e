"""The census of a build folder, its coverage, the CLI's exit codes, and the missing extra."""

from __future__ import annotations

import builtins
import json

import pytest

from detaudit.catalog import load_catalog
from detaudit.catalog.gaps import Alert, KnownGaps
from detaudit.cli.app import main
from detaudit.model.vocabulary import Device
from detaudit.sites.census import Census, Site, device_of, python_sites
from detaudit.sites.coverage import Covered, cover
from detaudit.sites.diff import diff_censuses

from .conftest import PYTHON_FILE

needs_extra = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("lief", "capstone")),
    reason='the sites extra is missing: pip install "detaudit[sites]"',
)


def test_python_alerts_literal_and_f_string():
    sites = python_sites("torch/_meta.py", PYTHON_FILE)
    assert [(s.alert, s.literal, s.function, s.device) for s in sites] == [
        ("thing CUDA with indices output", True, "meta_thing", Device.CUDA),
        ("max_unpooling{dim}d_forward_out", False, "meta_thing", Device.CPU),
    ]


@pytest.mark.parametrize(
    ("alert", "function", "library", "device"),
    [
        ("kthvalue MPS", "at::native::kthvalue_out_mps", "torch/lib/libtorch_cpu.dylib", "mps"),
        ("scatter_reduce_mps", "", "torch/lib/libtorch_cpu.dylib", "mps"),
        ("put_", "at::native::put_", "torch/lib/libtorch_cpu.so", "cpu"),
        ("ctc_loss_backward_gpu", "x", "torch/lib/libtorch_cuda.so", "cuda"),
        ("median CUDA with indices output", "meta", "torch/_meta_registrations.py", "cuda"),
    ],
)
def test_device_from_the_names(alert, function, library, device):
    assert device_of(alert, function, library).value == device


def _census(*sites: Site, cublas: tuple[str, ...] = ()) -> Census:
    return Census("9.9", "test", tuple(sites), ("lib",), cublas)


def test_coverage_covered_listed_uncovered_and_the_f_string_pattern():
    catalog = load_catalog()
    kernel = next(k for e in catalog for k in e.kernels)
    known = KnownGaps(alerts=(), gaps=(Alert("gap_kernel_cuda", "f.cu", "no probe yet"),))
    census = _census(
        Site(kernel, "f", "lib", Device.CUDA, "0x1"),
        Site("gap_kernel_cuda", "f", "lib", Device.CUDA, "0x2"),
        Site("brand_new_cuda", "f", "lib", Device.CUDA, "0x3"),
        Site("max_unpooling{dim}d_forward_out", "f", "x.py", Device.CPU, "line 1", False),
        cublas=("lib",),
    )
    states = {n.alert: n.state for n in cover(census, catalog, known).coverage}
    assert states[kernel] is Covered.COVERED
    assert states["gap_kernel_cuda"] is Covered.LISTED
    assert states["brand_new_cuda"] is Covered.UNCOVERED
    assert states["max_unpooling{dim}d_forward_out"] is Covered.COVERED
    assert "cublas" in states  # the cuBLAS check counts as the catalogue's `cublas` alert


def test_diff_by_name_and_function_and_the_cublas_check():
    a = Site("a_cuda", "at::native::a", "lib", Device.CUDA, "0x1")
    b = Site("b_cuda", "at::native::b", "lib", Device.CUDA, "0x2")
    moved = Site("a_cuda", "at::native::a", "lib", Device.CUDA, "0x99")  # address only: same
    diff = diff_censuses(_census(a, cublas=("lib",)), _census(moved, b))
    assert [s.alert for s in diff.appeared] == ["b_cuda"] and diff.gone == ()
    assert diff.names_appeared == ("b_cuda",) and diff.cublas_change == "gone"
    assert diff_censuses(_census(a), _census(moved)).changed is False


def test_census_round_trips_through_json():
    census = _census(Site("x", "f", "lib", Device.MPS, "0x1", False), cublas=("lib",))
    assert Census.from_dict(json.loads(json.dumps(census.to_dict()))) == census


def test_without_the_extra_exit_3_in_one_line(monkeypatch, capsys):
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name in ("lief", "capstone"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    assert main(["sites"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "detaudit[sites]"' in err


@needs_extra
def test_cli_on_a_build_folder_text_json_and_exit_1(fake_torch, monkeypatch, tmp_path, capsys):
    from detaudit.sites import fetch

    monkeypatch.setattr(fetch, "_installed_torch_dir", lambda: fake_torch)
    out = tmp_path / "sites.json"
    assert main(["sites", "--format", "json", "-o", str(out)]) == 1  # the fake names are new
    data = json.loads(out.read_text())
    census = Census.from_dict(data["census"])
    assert census.torch == "9.9.9+fake" and census.libraries == ("torch/lib/libtorch_cuda.so",)
    by_alert = {s.alert: s for s in census.sites}
    assert by_alert["fake_kernel_backward_cuda"].device is Device.CUDA
    assert by_alert["fake_kernel_backward_cuda"].function.startswith(
        "at::native::fake_kernel_backward_cuda"
    )
    assert by_alert["fake_scatter_mps with index"].device is Device.MPS
    assert by_alert["thing CUDA with indices output"].library == "torch/_meta.py"
    assert {n["alert"]: n["state"] for n in data["coverage"]}["fake_kernel_backward_cuda"] == (
        "uncovered"
    )
    assert "uncovered" in capsys.readouterr().err
    assert main(["sites"]) == 1
    text = capsys.readouterr().out
    assert "fake_scatter_mps with index" in text and "uncovered" in text


@needs_extra
def test_cli_diff_of_two_folders(fake_torch, tmp_path, capsys):
    assert main(["sites", "--diff", str(fake_torch), str(fake_torch)]) == 0
    assert "alert names appeared (0)" in capsys.readouterr().out
    bare = tmp_path / "bare" / "torch"
    (bare / "lib").mkdir(parents=True)
    (bare / "version.py").write_text("__version__ = '1.0'\n")
    assert main(["sites", "--diff", str(bare), str(fake_torch), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert "fake_kernel_backward_cuda" in data["names_appeared"]


@needs_extra
@pytest.mark.parametrize(
    "argv",
    [
        ["sites", "--wheel", "/nonexistent/torch-1.0-py3-none-any.whl"],
        ["sites", "--diff", "not a build", "2.10"],
    ],
)
def test_bad_sources_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("detaudit: error: ")


def test_catalogued_names_the_build_does_not_raise_are_listed_apart():
    catalog = load_catalog()
    kernels = sorted({k for e in catalog for k in e.kernels})
    census = _census(Site(kernels[0], "f", "lib", Device.CUDA, "0x1"))
    result = cover(census, catalog, KnownGaps(alerts=(), gaps=(Alert("old_gap", "f", "why"),)))
    assert kernels[0] not in result.absent
    assert set(kernels[1:]) | {"old_gap"} == set(result.absent)


def test_a_function_in_an_anonymous_namespace_keeps_its_name():
    from detaudit.render.sites import short_function

    name = "at::native::(anonymous namespace)::median_with_indices_impl(at::Tensor&, long, bool)"
    assert short_function(name) == "at::native::(anonymous namespace)::median_with_indices_impl"
    assert short_function("at::native::put_(at::Tensor&, bool)") == "at::native::put_"
