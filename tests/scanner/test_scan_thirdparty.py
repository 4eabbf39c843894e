"""Ops of other libraries: matched by their dispatcher names (``namespace::op``).

torchvision's CUDA wheel does not load with this project's CPU torch, so the torchvision
entries are exercised through a library op registered here with ``torch.library``, the
way torchvision registers ``torchvision::_roi_align_backward``; when torchvision is
installed, a detection step's roi_align backward is a hit.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import detaudit
from detaudit.catalog import load_catalog

HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@torch.library.custom_op("detaudit_test::_pool_backward", mutates_args=())
def _pool_backward(grad: torch.Tensor) -> torch.Tensor:
    return grad * 0.5


@torch.library.custom_op("detaudit_test::pool", mutates_args=())
def pool(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5


def _backward(ctx, grad):
    return torch.ops.detaudit_test._pool_backward(grad)


pool.register_autograd(_backward)

ENTRY = """\
requires: torch
observed:
  - id: test-pool-backward
    api: detaudit_test.pool
    condition: when attempting to differentiate a CUDA tensor (atomicAdd)
    devices: [cuda]
    pass: backward
    probe: probes:pool_backward
    source: tests/scanner/test_scan_thirdparty.py
    match: {ops: ["detaudit_test::_pool_backward"]}
    remedy: "run it on CPU"
"""


def test_a_library_op_is_a_hit_by_its_dispatcher_name(scan_cache, tmp_path):
    (tmp_path / "probes.py").write_text("def pool_backward(device):\n    return None\n")
    (tmp_path / "lib.yaml").write_text(ENTRY)
    catalog = load_catalog([tmp_path / "lib.yaml"])
    x = torch.randn(4, requires_grad=True)
    with detaudit.scan(catalog=catalog) as found:
        pool(x).sum().backward()  # the forward line
    (hit,) = [h for h in found.hits if h.entry == "test-pool-backward"]
    assert (hit.op, hit.pass_) == ("detaudit_test::_pool_backward", "backward")
    # an autograd.Function's backward (custom_op's) is placed at the user code that ran it
    assert hit.located == "backward"
    assert hit.function == "_backward" and hit.file.endswith("test_scan_thirdparty.py")
    assert hit.claim is None and hit.group == "observed" and hit.remedy == "run it on CPU"
    # an observed entry claims nothing: it is quiet, and says an audit measures it
    assert not found.result.raises_anywhere()


@pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not installed")
def test_roi_align_backward_in_a_detection_step_is_a_hit(scan_cache):  # pragma: no cover
    from torchvision.ops import roi_align

    features = torch.randn(1, 4, 16, 16, requires_grad=True)
    boxes = torch.tensor([[0, 0.0, 0.0, 8.0, 8.0], [0, 2.0, 2.0, 12.0, 12.0]])
    with detaudit.scan() as found:
        roi_align(features, boxes, (4, 4), 1.0, 2).sum().backward()
    assert "tv-roi-align-backward" in {h.entry for h in found.hits}


def test_without_torchvision_the_scan_says_its_file_was_not_loaded(scan_cache):
    if HAVE_TORCHVISION:
        pytest.skip("torchvision is installed: its file is loaded")
    from detaudit.render.scan import render_text

    with detaudit.scan() as found:
        torch.zeros(3).index_add_(0, torch.tensor([0, 0]), torch.ones(2))
    assert next(name for name, _ in found.result.skipped).endswith("torchvision.yaml")
    assert (
        "catalogue file torchvision.yaml not loaded (torchvision is not installed)"
        in render_text(found.result)
    )
