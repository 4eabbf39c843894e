"""Probes of examples/catalog/my_ops.yaml: each builds its inputs on ``device`` and returns tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import detaudit.probes


def scatter_amax(device: torch.device) -> torch.Tensor:
    """Many colliding indices, so that a GPU race would show (RNGs are already seeded)."""
    index = torch.randint(0, 64, (65536,), device=device)
    src = torch.randn(65536, device=device)
    return torch.zeros(64, device=device).scatter_reduce(0, index, src, "amax")


def put(device: torch.device) -> torch.Tensor:
    """``put_`` with repeated indices and accumulate=False: which write wins is a race."""
    index = torch.randint(0, 64, (4096,), device=device)
    return torch.zeros(64, device=device).put_(index, torch.randn(4096, device=device))


def upsample_backward(device: torch.device) -> torch.Tensor:
    """A backward probe returns the gradients and marks its backward with detaudit.probes."""
    x = torch.randn(8, 16, 64, 64, device=device, requires_grad=True)
    detaudit.probes.backward(F.interpolate(x, scale_factor=2, mode="bilinear"))
    return x.grad
