"""On a GPU: the entries from PyTorch's source (cuBLAS, grid_sample 3-D, antialias), observed."""

from __future__ import annotations

import pytest

from detaudit import Status, audit

pytestmark = pytest.mark.cuda

NAME = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS = [
    f"cublas-{op}-workspace-{env}" for op in ("mm", "bmm", "linear") for env in ("unset", "4096-8")
]
BACKWARD = {
    "grid-sample-3d-backward": "grid_sampler_3d_backward_cuda",
    "interpolate-bilinear-antialias-backward": "upsample_bilinear2d_aa_backward_out_cuda",
    "interpolate-bicubic-antialias-backward": "upsample_bicubic2d_aa_backward_out_cuda",
}


@pytest.fixture(scope="module")
def results():
    report = audit(device="cuda", only=[*CUBLAS, *BACKWARD])
    return report, {r.id: r for r in report.results}


@pytest.mark.parametrize("op", ["mm", "bmm"])
def test_cublas_raises_with_the_variable_unset(results, op):
    r = results[1][f"cublas-{op}-workspace-unset"]
    assert r.status is Status.RAISES, (r.status, r.message)
    assert r.kernel == "cublas"
    assert r.strict.env == {NAME: None}


@pytest.mark.parametrize("op", ["mm", "bmm", "linear"])
def test_cublas_converts_with_4096_8(results, op):
    r = results[1][f"cublas-{op}-workspace-4096-8"]
    assert r.status is Status.CONVERTS, (r.status, r.message)
    assert r.strict.env == {NAME: ":4096:8"}
    assert r.repeatable is True


def test_the_report_keeps_the_callers_cublas_setting(results):
    import os

    assert results[0].environment.cublas_workspace_config == os.environ.get(NAME)


@pytest.mark.parametrize("entry_id", sorted(BACKWARD))
def test_source_driven_backward_entries_raise_with_their_kernel(results, entry_id):
    r = results[1][entry_id]
    assert r.status is Status.RAISES, (r.status, r.message)
    assert r.kernel == BACKWARD[entry_id]
