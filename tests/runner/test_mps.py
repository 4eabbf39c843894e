"""MPS as a device, tested without Apple silicon: exit 3, ``skipped`` under ``all``, validation."""

from __future__ import annotations

import pytest

from detaudit import Status, audit
from detaudit.catalog import load_catalog
from detaudit.devices import get
from detaudit.runner.pool import WorkerPool
from detaudit.runner.spec import plan

from ..conftest import run_cli

MPS_ENTRY = """raises:
  - id: mine-on-mps
    api: torch.Tensor.put_
    condition: when called on an MPS tensor
    devices: [mps]
    pass: forward
    probe: detaudit.probes.indexing:put_accumulate_false
    source: a test
    claims: {"2.4": raises}
"""

needs_no_mps = pytest.mark.skipif(get("mps").available(), reason="this machine has MPS")


@needs_no_mps
def test_device_mps_without_mps_is_exit_3_in_one_line(tmp_path):
    result = run_cli(
        "audit", "--device", "mps", "--only", "put-accumulate-false", "--out", str(tmp_path)
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1
    assert "--device mps" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@needs_no_mps
def test_worker_hello_lists_the_devices_its_torch_has():
    with WorkerPool(1) as pool:
        hello = pool.wait_ready()
    assert "mps" not in hello.devices and "cpu" in hello.devices


@needs_no_mps
def test_device_all_marks_absent_devices_skipped_with_the_reason():
    import torch

    report = audit(device="all", only=["put-accumulate-false"], repeat=1)
    assert report.devices == ("cpu", "cuda", "mps")
    by_device = {r.device: r for r in report.results}
    assert by_device["cpu"].status is Status.RAISES
    assert by_device["mps"].status is Status.SKIPPED
    assert "no MPS device" in by_device["mps"].message
    if not torch.cuda.is_available():
        assert by_device["cuda"].status is Status.SKIPPED
        assert "no CUDA device" in by_device["cuda"].message


def test_catalogue_with_devices_mps_validates_and_plans(tmp_path):
    path = tmp_path / "mps.yaml"
    path.write_text(MPS_ENTRY, encoding="utf-8")
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 0, result.stderr
    catalog = load_catalog([path], builtin=False)
    (entry,) = catalog.entries
    assert entry.devices == ("mps",)
    planned = {p.device: p for p in plan(catalog, ("cpu", "mps"), "2.13.0", repeat=1, seed=0)}
    assert planned["mps"].expected is Status.RAISES
    assert planned["cpu"].expected is Status.OK  # the condition names only MPS
    assert planned["mps"].expected_from == "docs 2.4"
