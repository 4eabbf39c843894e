"""``detaudit discover``: an OpInfo sweep in the audit's workers, coverage, and ``--emit-yaml``.

The sweep runs on this machine's CPU, limited to a handful of ops. With the
built-in catalogue minus ``max-unpool2d`` (a copy), ``put`` is covered and
``nn.functional.max_unpool2d`` is not: the emitted entries must validate, and
an audit of them must raise with the same kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from detaudit.catalog import builtin_catalog_files, load_catalog
from detaudit.docs.discover import (
    Alert,
    Discovery,
    OpAlerts,
    _snake,
    covering_entries,
    emit_catalog,
)
from detaudit.render import RENDERERS

from ..conftest import check_golden, run_cli
from ..documents import discovery


def _expecttest_missing() -> str | None:
    """Why ``import expecttest`` fails here (the lent GPU's stack has no expecttest), else None."""
    try:
        import expecttest  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


#: The tests that sweep PyTorch's OpInfo database, which imports expecttest: they skip without it.
needs_expecttest = pytest.mark.skipif(
    _expecttest_missing() is not None,
    reason="needs the 'expecttest' package, which PyTorch's OpInfo database imports "
    "(pip install 'detaudit[discover]'); it is not installed here",
)

OPS = ("put", "nn.functional.max_unpool2d", "index_add", "cumsum", "nn.functional.interpolate")
SAMPLES = 40


@pytest.fixture(scope="module")
def reduced_catalogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    paths = []
    for source in builtin_catalog_files():
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        # max-unpool1d lists the same alert name (max_unpooling2d_forward_out) in its kernels
        gone = ("max-unpool1d", "max-unpool2d")
        data = {
            g: es if g == "requires" else [e for e in es if e["id"] not in gone]
            for g, es in data.items()
        }
        (folder / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
        paths += ["--catalog", str(folder / source.name)]
    return paths


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, reduced_catalogue):
    out = tmp_path_factory.mktemp("discover")
    args = [
        "discover",
        *(a for op in OPS for a in ("--op", op)),
        "--samples",
        str(SAMPLES),
        "--no-builtin",
        *reduced_catalogue,
        "--format",
        "json",
        "--emit-yaml",
        str(out / "found.yaml"),
    ]
    return run_cli(*args), out


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_put_and_max_unpool2d_alert_with_their_kernels(sweep):
    result, _ = sweep
    assert result.returncode == 1, result.stderr  # an uncovered alert is a finding
    found = json.loads(result.stdout)
    assert found["device"] == "cpu"
    alerts = {
        (op["id"], a["pass"], a["status"], a["kernel"])
        for op in found["alerting"]
        for a in op["alerts"]
    }
    assert ("put", "forward", "raises", "put_") in alerts
    assert (
        "nn.functional.max_unpool2d",
        "forward",
        "raises",
        "max_unpooling2d_forward_out",
    ) in alerts
    # index_add, cumsum and interpolate run clean on CPU
    assert {op["name"] for op in found["alerting"]} == {"put", "nn.functional.max_unpool2d"}


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_coverage_comes_from_the_catalogue(sweep):
    found = json.loads(sweep[0].stdout)
    by_id = {op["id"]: op for op in found["alerting"]}
    put = by_id["put"]
    assert put["covered"] is True
    assert all("put-accumulate-false" in a["covered_by"] for a in put["alerts"])
    unpool = by_id["nn.functional.max_unpool2d"]
    assert unpool["covered"] is False and unpool["alerts"][0]["covered_by"] == []
    assert "nn.functional.max_unpool2d" in found["uncovered"] and "put" not in found["uncovered"]


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_counts_and_limits(sweep):
    found = json.loads(sweep[0].stdout)
    # every variant of the named ops: max_unpool2d has a "grad" variant, interpolate several
    assert found["ops"] > len(OPS)
    assert found["samples"] > 0 and found["backward"] > 0 and found["seconds"] > 0
    for op in found["alerting"]:
        assert 1 <= op["samples"] <= SAMPLES
        for alert in op["alerts"]:
            assert 1 <= alert["count"] <= op["samples"]
    assert found["settings"]["samples"] == SAMPLES


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_emitted_entries_validate_and_audit_raises(sweep, tmp_path):
    _, out = sweep
    emitted = out / "found.yaml"
    entries = yaml.safe_load(emitted.read_text())["raises"]
    assert {e["id"] for e in entries} == {
        "opinfo.nn.functional.max_unpool2d.forward",
        "opinfo.nn.functional.max_unpool2d.grad.forward",
    }
    assert all(e["probe"].startswith("found_probes:") for e in entries)
    assert (out / "found_probes.py").is_file()
    valid = run_cli("catalog", "validate", str(emitted))
    assert valid.returncode == 0, valid.stderr
    audited = run_cli(
        "audit",
        "--no-builtin",
        "--catalog",
        str(emitted),
        "--only",
        "opinfo.nn.functional.max_unpool2d.forward",
        "--device",
        "cpu",
        "--repeat",
        "1",
        "--format",
        "json",
        "--out",
        str(tmp_path),
    )
    assert audited.returncode == 0, audited.stderr
    (report,) = tmp_path.glob("*.json")
    (result,) = json.loads(report.read_text())["results"]
    assert (result["status"], result["kernel"]) == ("raises", "max_unpooling2d_forward_out")


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_text_output_and_a_parent_without_torch():
    code = (
        "import sys; from detaudit.docs.discover import discover; "
        "from detaudit.render import RENDERERS; "
        "print(RENDERERS['discovery']['text'].render(discover(ops=['put'], samples=4))); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False"  # the sweep ran in workers; this process never imported torch
    assert "1 OpInfo ops, 4 samples (at most 4 per op)" in lines[0] and lines[0].endswith(" s")
    assert "put_" in out.stdout and "put-accumulate-false" in out.stdout
    assert "every alerting op is covered by the catalogue" in out.stdout


@needs_expecttest
@pytest.mark.slow  # an OpInfo sweep in a worker
def test_unknown_op_is_usage_error():
    result = run_cli("discover", "--op", "no_such_op")
    assert result.returncode == 2
    assert "no OpInfo op 'no_such_op'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_expecttest_is_exit_3(tmp_path, monkeypatch):
    fake = tmp_path / "expecttest.py"
    fake.write_text(
        "raise ModuleNotFoundError(\"No module named 'expecttest'\", name='expecttest')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the workers inherit it
    result = run_cli("discover", "--op", "put")
    assert result.returncode == 3
    assert "expecttest" in result.stderr and "detaudit[discover]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- pure parts


def test_names_normalise_across_apis_and_opinfo():
    assert _snake("MaxUnpool2d") == "max_unpool2d"
    assert _snake("NLLLoss") == "nll_loss"
    assert _snake("CTCLoss") == "ctc_loss"
    assert _snake("AdaptiveAvgPool2d") == "adaptive_avg_pool2d"
    assert _snake("ConvTranspose1d") == "conv_transpose1d"
    assert _snake("put_") == "put"
    assert _snake("__getitem__") == "getitem"


def test_covering_entries():
    catalog = load_catalog()
    # max_unpool1d runs the 2-D kernel: both entries list its alert name in `kernels`
    assert covering_entries(
        catalog, ["nn.functional.max_unpool2d"], "max_unpooling2d_forward_out", "cpu"
    ) == ("max-unpool1d", "max-unpool2d")
    assert "put-accumulate-false" in covering_entries(catalog, ["put"], "put_", "cpu")
    # by kernel: OpInfo calls reflection padding nn.functional.pad
    assert covering_entries(
        catalog, ["nn.functional.pad"], "reflection_pad1d_backward_out_cuda", "cuda"
    ) == ("reflection-pad1d-backward",)
    # the catalogue covers histc on CUDA only
    assert covering_entries(catalog, ["histc"], "histc", "cpu") == ()
    assert covering_entries(catalog, ["histc"], "_histc_cuda", "cuda") == ("histc",)
    assert covering_entries(catalog, ["sin"], "sin_cpu", "cpu") == ()


def test_covering_entries_by_the_kernel_names_in_the_catalogue():
    catalog = load_catalog()
    # no API or name heuristic links grid_sampler_3d to grid_sample: only the entry's kernels do
    assert covering_entries(
        catalog, ["grid_sampler_3d"], "grid_sampler_3d_backward_cuda", "cuda"
    ) == ("grid-sample-3d-backward",)
    assert covering_entries(
        catalog, ["_upsample_bicubic2d_aa"], "upsample_bicubic2d_aa_backward_out_cuda", "cuda"
    ) == ("interpolate-bicubic-antialias-backward",)
    # an alert's whole name is its kernel, spaces included; its last word alone names nothing
    assert covering_entries(
        catalog, ["nanmedian"], "median CUDA with indices output", "cuda"
    ) == ("median-with-indices",)
    assert covering_entries(catalog, ["nanmedian"], "output", "cuda") == ()
    assert (
        covering_entries(catalog, ["grid_sampler_3d"], "grid_sampler_3d_backward_cuda", "cpu") == ()
    )


def test_emit_catalog_gives_unique_ids_per_kernel(tmp_path):
    def alert(kernel: str, covered: tuple[str, ...] = ()) -> Alert:
        return Alert("forward", "raises", kernel, 1, 0, "SampleInput(...)", "...", covered)

    op = OpAlerts(
        "foo.bar",
        "foo",
        "bar",
        "torch.foo",
        "float32",
        3,
        (alert("k_a"), alert("k:b"), alert("x", ("e",))),
    )
    found = Discovery("2.13.0", "cpu", 1.0, 1, 3, 0, 0, (op,))
    files = emit_catalog(found, tmp_path / "my-ops.yaml")
    assert set(files) == {tmp_path / "my-ops.yaml", tmp_path / "my_ops_probes.py"}
    entries = yaml.safe_load(files[tmp_path / "my-ops.yaml"])["raises"]
    assert [e["id"] for e in entries] == ["opinfo.foo.bar.forward", "opinfo.foo.bar.forward.k-b"]
    assert [e["probe"] for e in entries] == [
        "my_ops_probes:foo_bar_forward",
        "my_ops_probes:foo_bar_forward_k_b",
    ]
    compile(files[tmp_path / "my_ops_probes.py"], "my_ops_probes.py", "exec")
    nothing = Discovery("2.13.0", "cpu", 1.0, 1, 3, 0, 0, ())
    assert emit_catalog(nothing, tmp_path / "x.yaml") == {}


@needs_expecttest
@pytest.mark.cuda
def test_cuda_sweep_finds_documented_alerts():
    from detaudit.docs.discover import discover

    found = discover(device="cuda", ops=["histc", "nn.functional.avg_pool3d"], samples=8)
    assert found.device == "cuda"
    kernels = {(op.name, a.pass_): a for op in found.alerting for a in op.alerts}
    assert "histc" in kernels[("histc", "forward")].kernel
    assert "avg_pool3d_backward" in kernels[("nn.functional.avg_pool3d", "backward")].kernel
    assert not found.uncovered, [op.id for op in found.uncovered]


@pytest.mark.parametrize("fmt", sorted(RENDERERS["discovery"]))
def test_golden(fmt, request):
    renderer = RENDERERS["discovery"][fmt]
    check_golden(request, f"discover{renderer.extension}", renderer.render(discovery()))
