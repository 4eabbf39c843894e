"""On a GPU: the probes reach what they claim, or the report says they were decomposed.

Every expectation here follows the installed torch: whether torch.nn.functional
routes a call to a decomposition under the mode is read from its own source
(the branch that imports ``torch._decomp.decompositions``), whether cuDNN takes
grid_sample from ``torch.backends.cudnn``, and the docs' claim from the
catalogue for this torch's version. Skipped without a GPU (see conftest).
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from detaudit import Status, audit
from detaudit.catalog import load_catalog

pytestmark = pytest.mark.cuda

#: entry -> (the function of torch.nn.functional that may decompose it, the stem of the alert
#: if it does not: releases name the CUDA kernel ``..._cuda`` or ``..._out_cuda``)
ROUTED = {
    "interpolate-bilinear-backward": (F.interpolate, "upsample_bilinear2d_backward"),
    "interpolate-trilinear-backward": (F.interpolate, "upsample_trilinear3d_backward"),
    "replication-pad1d-backward": (F.pad, "replication_pad1d_backward"),
    "replication-pad2d-backward": (F.pad, "replication_pad2d_backward"),
    "replication-pad3d-backward": (F.pad, "replication_pad3d_backward"),
    "max-pool3d-return-indices-backward": (
        F.max_pool3d_with_indices,
        "max_pool3d_with_indices_backward",
    ),
}
SILENT = ["histc-integer", "bincount-no-weights", "median-no-indices"]


def decomposes(function) -> bool:
    """Whether this torch's ``function`` sends a CUDA tensor under the mode to torch._decomp."""
    source = inspect.getsource(function)
    return "are_deterministic_algorithms_enabled()" in source and "torch._decomp" in source


@pytest.fixture(scope="module")
def results():
    report = audit(device="cuda", only=[*ROUTED, "grid-sample-cudnn-backward", *SILENT])
    return {r.id: r for r in report.results}


@pytest.mark.parametrize("entry_id", sorted(ROUTED))
def test_a_routed_entry_is_decomposed_or_reaches_its_kernel(results, entry_id):
    function, kernel = ROUTED[entry_id]  # kernel: the alert's stem
    r = results[entry_id]
    if decomposes(function):
        assert r.status is Status.CONVERTS, (r.status, r.message)
        assert r.decomposed and r.reach_note.startswith("decomposed under the mode"), r.reach_note
        assert r.unreached == load_catalog().get(entry_id).reaches
    else:
        assert r.status is Status.RAISES, (r.status, r.message)
        assert kernel in (r.kernel or ""), r.kernel
        assert r.reach_note is None, r.reach_note


def test_grid_sample_align_corners_takes_cudnn_and_alerts(results):
    r = results["grid-sample-cudnn-backward"]
    assert r.status is Status.RAISES, (r.status, r.message)
    if torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled:
        assert r.kernel == "cudnn_grid_sampler_backward"
    else:
        assert r.kernel == "grid_sampler_2d_backward_cuda"
    catalog = load_catalog()
    assert r.expected == catalog.expected(catalog.get(r.id), "cuda", torch.__version__)[0]


@pytest.mark.parametrize("entry_id", SILENT)
def test_the_cases_pytorchs_tests_assert_silent_do_not_alert_on_cuda(results, entry_id):
    r = results[entry_id]
    assert r.status is Status.OK, (r.status, r.message)
    assert r.expected is Status.OK and r.drift is False
