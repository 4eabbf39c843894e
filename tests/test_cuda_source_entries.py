"""On a GPU: the entries from PyTorch's source (cuBLAS, grid_sample 3-D, antialias), observed.

Expectations follow the installed torch: the catalogue's claim for its version where the
catalogue has one, else what that version's source does (the cuBLAS workspace check is in
torch 1.13 to 2.9 only).
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
import torch

from detaudit import Status, audit
from detaudit.catalog import parse_version

pytestmark = pytest.mark.cuda

NAME = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS = [
    *(f"cublas-{op}-workspace-unset" for op in ("mm", "mv", "bmm", "linear")),
    *(f"cublas-{op}-workspace-4096-8" for op in ("mm", "bmm", "linear")),
]
# The cuBLAS workspace check (alertCuBLASConfigNotDeterministic) is in builds up to 2.9 and
# gone from every build from 2.10 on (issue 19; the 2.10 docstring drops its cuBLAS paragraph).
CUBLAS_CHECK = parse_version(version("torch")) <= (2, 9)
BACKWARD = {
    "grid-sample-3d-backward": "grid_sampler_3d_backward_cuda",
    "interpolate-bilinear-antialias-backward": "upsample_bilinear2d_aa_backward_out_cuda",
    "interpolate-bicubic-antialias-backward": "upsample_bicubic2d_aa_backward_out_cuda",
}


def cublas_check_in_this_torch(version: str | None = None) -> bool:
    """Whether this torch has the cuBLAS workspace check (alertCuBLASConfigNotDeterministic).

    It is in the builds of 1.13 to 2.9.1 and gone from every build from 2.10 on (the
    docstring dropped its CUBLAS paragraph with it): issue 19's census of the binaries.
    """
    return (1, 13) <= parse_version(version or torch.__version__) < (2, 10)


def test_the_cublas_check_is_in_1_13_to_2_9_only():
    assert [cublas_check_in_this_torch(v) for v in ("1.12.1", "1.13.0", "2.9.1", "2.10.0")] == [
        False,
        True,
        True,
        False,
    ]
    assert not cublas_check_in_this_torch("2.11.0+cu130")


@pytest.fixture(scope="module")
def results():
    report = audit(device="cuda", only=[*CUBLAS, *BACKWARD])
    return report, {r.id: r for r in report.results}


@pytest.mark.parametrize("op", ["mm", "mv", "bmm", "linear"])
def test_cublas_with_the_variable_unset_follows_the_torch_version(results, op):
    r = results[1][f"cublas-{op}-workspace-unset"]
    assert r.strict.env == {NAME: None}
    if CUBLAS_CHECK:  # up to 2.9: the check raises, as the docstring's cuBLAS paragraph says
        assert r.status is Status.RAISES, (r.status, r.message)
        assert r.kernel == "cublas"
        if op != "linear":  # F.linear is in no docstring: no claim, no expected status
            assert r.expected is Status.RAISES and r.drift is False
    else:  # from 2.10: no check, no alert, and no claim to drift from
        assert r.status is Status.CONVERTS, (r.status, r.message)
        assert r.kernel is None
        assert r.expected is None and r.drift is None


@pytest.mark.parametrize("op", ["mm", "bmm", "linear"])
def test_cublas_converts_with_4096_8(results, op):
    r = results[1][f"cublas-{op}-workspace-4096-8"]
    expected = r.expected if r.expected is not None else Status.CONVERTS
    assert r.status is expected, (r.status, r.message)
    assert r.strict.env == {NAME: ":4096:8"}
    assert r.bits_repeat is True


def test_the_report_keeps_the_callers_cublas_setting(results):
    import os

    assert results[0].environment.cublas_workspace_config == os.environ.get(NAME)


@pytest.mark.parametrize("entry_id", sorted(BACKWARD))
def test_source_driven_backward_entries_raise_with_their_kernel(results, entry_id):
    r = results[1][entry_id]
    assert r.status is Status.RAISES, (r.status, r.message)
    assert r.kernel == BACKWARD[entry_id]
