"""Probes for a user catalogue used by the tests: one alert, one crash, one hang."""

from __future__ import annotations

import os
import time

import torch


def put_plain(device: torch.device) -> torch.Tensor:
    """put_ with accumulate=False and colliding indices: alerts on every device."""
    index = torch.randint(0, 64, (512,), device=device)
    return torch.zeros(64, device=device).put_(index, torch.randn(512, device=device))


def index_add(device: torch.device) -> torch.Tensor:
    """index_add with colliding indices: deterministic on CPU."""
    index = torch.randint(0, 64, (512,), device=device)
    return torch.zeros(64, device=device).index_add(0, index, torch.randn(512, device=device))


def abort(device: torch.device) -> torch.Tensor:
    """Kill the worker the hard way, as a segfault or a CUDA fatal error would."""
    os.abort()


def hang(device: torch.device) -> torch.Tensor:
    """Run far past any sane --timeout."""
    time.sleep(3600)
    return torch.zeros(1)


def missing_op(device: torch.device) -> torch.Tensor:
    """An op this torch does not have: the probe says so and is skipped."""
    from detaudit.probes import skip

    if not hasattr(torch, "no_such_op"):
        skip("torch has no torch.no_such_op")
    return torch.no_such_op(device)  # type: ignore[attr-defined]


def broken(device: torch.device) -> torch.Tensor:
    """Fails with an ordinary error (a shape mismatch), not the determinism alert."""
    return torch.zeros(3, device=device) + torch.zeros(4, device=device)


def mutate_state(device: torch.device) -> torch.Tensor:
    """Change every global flag a probe could leave behind."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.use_deterministic_algorithms(False)
    return torch.zeros(1)


def check_state(device: torch.device) -> torch.Tensor:
    """Fail (an ``error`` result) unless every flag is back at torch's defaults."""
    state = {
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "fill_uninitialized_memory": torch.utils.deterministic.fill_uninitialized_memory,
        "default_dtype": torch.get_default_dtype(),
        "grad_enabled": torch.is_grad_enabled(),
    }
    expected = {
        "cudnn.benchmark": False,
        "cudnn.deterministic": False,
        "fill_uninitialized_memory": True,
        "default_dtype": torch.float32,
        "grad_enabled": True,
    }
    if state != expected:
        raise AssertionError(f"leaked state: {state}")
    return torch.zeros(1)


def warn_alert(device: torch.device) -> torch.Tensor:
    """Emit a nondeterminism warning (as some ops do) and run on."""
    import warnings

    warnings.warn("fake_kernel_ does not have a deterministic implementation, but you set ...")
    return torch.zeros(1)
