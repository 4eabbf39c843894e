"""On a GPU: documented CUDA behaviour, observed. Skipped without one (see conftest)."""

from __future__ import annotations

import pytest

from detaudit import Status, audit

pytestmark = pytest.mark.cuda

ENTRIES = [
    "put-accumulate-false",
    "index-add",
    "avg-pool3d-backward",
    "index-copy",
    "put-accumulate-true-cpu",
]


@pytest.fixture(scope="module")
def report():
    return audit(device="cuda", only=ENTRIES)


def by_id(report):
    return {r.id: r for r in report.results}


def test_cuda_report_names_the_gpu(report):
    env = report.environment
    assert report.devices == ("cuda",)
    assert env.gpu and env.gpu_capability.startswith("sm_") and env.cuda


def test_documented_cuda_alerts_raise(report):
    results = by_id(report)
    assert results["put-accumulate-false"].status is Status.RAISES
    assert results["put-accumulate-false"].kernel == "put_"
    assert results["avg-pool3d-backward"].status is Status.RAISES
    assert results["avg-pool3d-backward"].kernel == "avg_pool3d_backward_cuda"


def test_documented_cuda_conversions_convert_and_repeat(report):
    results = by_id(report)
    for entry_id in ("index-add", "index-copy"):
        assert results[entry_id].status is Status.CONVERTS, results[entry_id]
        assert results[entry_id].bits_repeat is True


def test_every_status_is_what_the_catalogue_claims_for_this_torch(report):
    """The expectation comes from the catalogue's claims for the installed torch's version."""
    for r in report.results:
        if r.expected is not None:
            assert r.status is r.expected, (r.id, r.status, r.expected, r.expected_from)


def test_cpu_only_entry_on_cuda_defers_to_its_sibling(report):
    r = by_id(report)["put-accumulate-true-cpu"]
    assert r.status is Status.RAISES and r.kernel == "put_"  # put_ accumulate=True on CUDA
    assert r.expected is None and r.drift is None
    assert r.expected_from == "see put-accumulate-true-cuda"


def test_parent_process_never_initialises_cuda(report):
    import torch

    assert not torch.cuda.is_initialized()
