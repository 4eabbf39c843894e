"""Probes for resampling: F.interpolate (linear family, antialiased) and F.grid_sample, backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from detaudit.probes._common import grad_of, grads_of

# Upsampling by 2: every input cell receives gradient from several output cells, which
# the CUDA backward kernels add with atomics.
_SHAPES = {
    "linear": (4, 16, 1024),
    "bilinear": (2, 8, 32, 32),
    "bicubic": (2, 8, 24, 24),
    "trilinear": (1, 4, 12, 12, 12),
}


def interpolate_backward(device: torch.device, mode: str) -> Tensor:
    """Gradient of ``F.interpolate(scale_factor=2, mode=mode)`` (``args: {mode: bilinear}``)."""
    x = torch.randn(_SHAPES[mode], device=device)
    return grad_of(lambda t: F.interpolate(t, scale_factor=2, mode=mode, align_corners=False), x)


def grid_sample_backward(device: torch.device) -> tuple[Tensor, ...]:
    """Gradients of ``F.grid_sample`` w.r.t. input and grid; the grid is denser than the input."""
    x = torch.randn(2, 4, 16, 16, device=device)
    grid = torch.rand(2, 48, 48, 2, device=device) * 2 - 1
    return grads_of(lambda t, g: F.grid_sample(t, g, align_corners=False), x, grid)


def grid_sample_3d_backward(device: torch.device) -> tuple[Tensor, ...]:
    """Gradients of a 5-D (volumetric) ``F.grid_sample``; the grid is denser than the input."""
    x = torch.randn(2, 4, 8, 8, 8, device=device)
    grid = torch.rand(2, 16, 16, 16, 3, device=device) * 2 - 1
    return grads_of(lambda t, g: F.grid_sample(t, g, align_corners=False), x, grid)


def interpolate_antialias_backward(device: torch.device, mode: str) -> Tensor:
    """Gradient of ``F.interpolate(mode=mode, antialias=True)`` (bilinear or bicubic)."""
    # Downsampling by 2 with antialias: each input cell feeds several output cells' wide
    # filters, and the CUDA backward adds those contributions with atomics.
    x = torch.randn(2, 8, 64, 64, device=device)
    return grad_of(
        lambda t: F.interpolate(
            t, scale_factor=0.5, mode=mode, align_corners=False, antialias=True
        ),
        x,
    )


def grid_sample_cudnn_backward(device: torch.device) -> tuple[Tensor, ...]:
    """Gradients of the ``F.grid_sample`` call that takes cuDNN's kernel on CUDA.

    ``at::native::grid_sampler`` (aten/src/ATen/native/GridSampler.cpp) calls
    ``cudnn_grid_sampler`` when ``cond_cudnn_grid_sampler`` holds (cuDNN enabled, float,
    double or half CUDA tensors, 32-bit indexable, 4-D input with at most 1024 channels)
    and the call is bilinear, zeros padding, ``align_corners=True``; its backward
    (aten/src/ATen/native/cudnn/GridSampler.cpp) alerts ``cudnn_grid_sampler_backward``.
    On CPU the same call runs ``grid_sampler_2d``.
    """
    x = torch.randn(2, 4, 16, 16, device=device)
    grid = torch.rand(2, 48, 48, 2, device=device) * 2 - 1
    return grads_of(
        lambda t, g: F.grid_sample(
            t, g, mode="bilinear", padding_mode="zeros", align_corners=True
        ),
        x,
        grid,
    )
