"""Probes for the pooling modules (backward) and MaxUnpool (forward)."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes._common import colliding_index, grad_of, module_grads

# Backward of a pool scatters each output gradient into its window; when windows
# overlap (kernel > stride, or adaptive sizes that do not divide the input) a CUDA
# kernel adds into the same input cell from several threads.


_VOLUME = (2, 4, 16, 16, 16)
_PLANE = (4, 16, 33, 33)


def pool_backward(
    device: torch.device,
    module: str,
    size: int,
    stride: int | None = None,
    output_size: int | None = None,
) -> Tensor:
    """Input gradient of ``nn.<module>(size, stride=..., output_size=...)`` on a random input.

    ``size`` is the module's first argument (the kernel size, or an adaptive
    pool's output size); a ``...2d`` module pools a 33x33 plane, a ``...3d``
    one a 16^3 volume. ``args: {module: MaxPool2d, size: 3, stride: 1}``.
    Overlapping windows are the point: kernel > stride, or adaptive sizes that
    do not divide the input (``AdaptiveMaxPool3d(6)``: on CUDA
    ``atomicadaptivemaxgradinput`` adds with atomicAdd and raises no alert, so
    whether the bits repeat is the only evidence, catalog/silent.yaml).
    FractionalMaxPool's random offsets come from the seeded RNG.
    """
    kwargs = {k: v for k, v in (("stride", stride), ("output_size", output_size)) if v is not None}
    pool = getattr(torch.nn, module)(size, **kwargs)
    shape = {"2d": _PLANE, "3d": _VOLUME}[module[-2:]]
    return module_grads(pool, torch.randn(shape, device=device))["input0"]


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


_UNPOOL_SHAPES = {1: (4, 16, 1024), 2: (4, 16, 32, 32), 3: (2, 8, 16, 16, 16)}


def max_unpool(device: torch.device, ndim: int) -> Tensor:
    """``nn.MaxUnpool{ndim}d`` with colliding indices (``args: {ndim: 2}``)."""
    return _unpool(getattr(torch.nn, f"MaxUnpool{ndim}d")(2), _UNPOOL_SHAPES[ndim], device)


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
