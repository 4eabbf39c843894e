"""On a GPU: the attention entries, observed under each forced SDPA backend. Skipped without one.

Nothing here says which status a backend gets: that is what the audit finds
out (torch releases and GPU generations differ). These tests check that each
entry is observed or skipped with torch's reason, never an error.
"""

from __future__ import annotations

import pytest
import torch

from detaudit import Status, audit
from detaudit.catalog import load_catalog
from detaudit.runner.spec import COMPILES_SKIP

pytestmark = pytest.mark.cuda

ATTENTION = [e.id for e in load_catalog() if e.file.endswith("attention.yaml")]


@pytest.fixture(scope="module")
def results():
    report = audit(device="cuda", only=ATTENTION, timeout=600)
    return {r.id: r for r in report.results}


def test_every_attention_entry_is_observed_or_skipped_with_a_reason(results):
    assert set(results) == set(ATTENTION)
    for r in results.values():
        assert r.status not in (Status.ERROR, Status.CRASHED, Status.TIMEOUT), (r.id, r.message)
        assert r.expected is None and r.drift is None
        if r.status is Status.SKIPPED:  # torch's reason, or: compiled, so only under --compile
            assert "torch:" in r.message or r.message == COMPILES_SKIP, (r.id, r.message)


def test_math_backend_runs_on_cuda(results):
    for entry in ("sdpa-math-forward", "sdpa-math-backward"):
        assert results[entry].status.observed, (entry, results[entry].message)


@pytest.mark.skipif(
    # without a GPU the cuda marker skips it, saying so
    torch.cuda.is_available() and torch.cuda.get_device_capability() < (8, 0),
    reason="FlashAttention and cuDNN attention need sm_80 or newer",
)
def test_fused_backends_run_on_an_ampere_or_newer_gpu(results):
    for entry in ("sdpa-flash-forward", "sdpa-flash-backward", "sdpa-efficient-backward"):
        assert results[entry].status.observed, (entry, results[entry].message)


def test_cuda_flash_refuses_a_mask_in_torchs_words(results):
    r = results["sdpa-flash-mask-backward"]
    assert r.status is Status.SKIPPED
    assert "SDPBackend.FLASH_ATTENTION cannot run bfloat16" in r.message
    # torch's words (after "torch:") say why flash was not chosen: the mask
    assert "attn_mask" in r.message.partition("torch:")[2], r.message
