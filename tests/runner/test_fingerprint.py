"""The worker-side fingerprint: the rng canary that tells whether two reports' inputs match."""

from __future__ import annotations


def test_rng_canary_is_stable_and_leaves_the_global_rng_alone():
    import torch

    from detaudit.runner.fingerprint import rng_canary

    state = torch.get_rng_state()
    assert rng_canary("cpu") == rng_canary("cpu")
    assert torch.equal(state, torch.get_rng_state())
