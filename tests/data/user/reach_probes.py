"""A probe that, under deterministic mode, calls a decomposition instead of the op its entry names."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch._decomp.decompositions import _upsample_linear_vec

import detaudit.probes


def fake_decomposition(device: torch.device) -> torch.Tensor:
    """Bilinear upsampling: torch's Python decomposition when the mode is on, else the aten op.

    What torch.nn.functional.interpolate does for a CUDA tensor, done here on any device.
    """
    x = torch.randn(1, 2, 8, 8, device=device, requires_grad=True)
    if torch.are_deterministic_algorithms_enabled():
        out = _upsample_linear_vec(x, None, False, [2.0, 2.0])
    else:
        out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    detaudit.probes.backward(out)
    return x.grad
