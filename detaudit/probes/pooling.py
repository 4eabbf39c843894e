"""Probes for the pooling modules (backward) and MaxUnpool (forward)."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes._common import colliding_index, grad_of, module_grads

# Backward of a pool scatters each output gradient into its window; when windows
# overlap (kernel > stride, or adaptive sizes that do not divide the input) a CUDA
# kernel adds into the same input cell from several threads.


def _pool_grad(module: torch.nn.Module, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Input gradient of ``module`` on a random input of ``shape``."""
    return module_grads(module, torch.randn(shape, device=device))["input0"]


_VOLUME = (2, 4, 16, 16, 16)
_PLANE = (4, 16, 33, 33)


def avg_pool3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.AvgPool3d`` with overlapping windows."""
    return _pool_grad(torch.nn.AvgPool3d(3, stride=2), _VOLUME, device)


def adaptive_avg_pool2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.AdaptiveAvgPool2d`` with overlapping adaptive windows (33 -> 10)."""
    return _pool_grad(torch.nn.AdaptiveAvgPool2d(10), _PLANE, device)


def adaptive_avg_pool3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.AdaptiveAvgPool3d`` with overlapping adaptive windows (16 -> 6)."""
    return _pool_grad(torch.nn.AdaptiveAvgPool3d(6), _VOLUME, device)


def max_pool2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.MaxPool2d`` with overlapping windows (one max can win several)."""
    return _pool_grad(torch.nn.MaxPool2d(3, stride=1), _PLANE, device)


def max_pool3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.MaxPool3d`` with overlapping windows (one max can win several)."""
    return _pool_grad(torch.nn.MaxPool3d(3, stride=1), _VOLUME, device)


def adaptive_max_pool2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.AdaptiveMaxPool2d`` with overlapping adaptive windows."""
    return _pool_grad(torch.nn.AdaptiveMaxPool2d(10), _PLANE, device)


def adaptive_max_pool3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.AdaptiveMaxPool3d`` whose adaptive windows overlap (16 -> 6 per side).

    On CUDA overlapping windows take ``atomicadaptivemaxgradinput`` (atomicAdd), which
    raises no alert: whether the bits repeat is the only evidence (catalog/silent.yaml).
    """
    return _pool_grad(torch.nn.AdaptiveMaxPool3d(6), _VOLUME, device)


def fractional_max_pool2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.FractionalMaxPool2d`` (its random offsets come from the seeded RNG)."""
    return _pool_grad(torch.nn.FractionalMaxPool2d(3, output_size=24), _PLANE, device)


def fractional_max_pool3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.FractionalMaxPool3d`` (its random offsets come from the seeded RNG)."""
    return _pool_grad(torch.nn.FractionalMaxPool3d(3, output_size=12), _VOLUME, device)


def _unpool(module: torch.nn.Module, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """``module`` on random values whose indices collide inside each output plane.

    MaxUnpool writes ``x`` at ``indices``; with repeated indices (as overlapping max
    pools produce) the parallel writes race, which is why the docs list it with no
    device qualifier since 1.13.
    """
    x = torch.randn(shape, device=device)
    plane = 1
    for size in shape[2:]:
        plane *= 2 * size  # kernel_size=2 doubles every spatial dim of the output
    return module(x, colliding_index(plane // 8, shape, device))


def max_unpool1d(device: torch.device) -> Tensor:
    """``nn.MaxUnpool1d`` with colliding indices."""
    return _unpool(torch.nn.MaxUnpool1d(2), (4, 16, 1024), device)


def max_unpool2d(device: torch.device) -> Tensor:
    """``nn.MaxUnpool2d`` with colliding indices."""
    return _unpool(torch.nn.MaxUnpool2d(2), (4, 16, 32, 32), device)


def max_unpool3d(device: torch.device) -> Tensor:
    """``nn.MaxUnpool3d`` with colliding indices."""
    return _unpool(torch.nn.MaxUnpool3d(2), (2, 8, 16, 16, 16), device)


def max_pool3d_return_indices_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.MaxPool3d(return_indices=True)`` with overlapping windows.

    With ``return_indices=True`` the call is ``F.max_pool3d_with_indices``, which torch
    2.13's functional.py routes, on CUDA under the mode, to
    ``torch._decomp.decompositions.max_pool3d_with_indices`` (2.11's does not): the
    deterministic path the docs' MaxPool3d bullet describes. Without it the call is
    ``torch.max_pool3d``, the C++ op, as in ``max_pool3d_backward``.
    """
    pool = torch.nn.MaxPool3d(3, stride=1, return_indices=True)
    return grad_of(lambda t: pool(t)[0], torch.randn(_VOLUME, device=device))
