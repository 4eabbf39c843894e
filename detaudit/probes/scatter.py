"""Probes for scatter_add_, scatter, scatter_reduce and gather (whose backward is scatter_add)."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes import skip
from detaudit.probes._common import colliding_index, grad_of

# 65536 writes into 1024 targets (1-D) or into 64 rows of 16 (2-D, along dim 1): each
# target is hit ~64 times, so CUDA atomics race.
_WRITES = 65536
_TARGETS = 1024
_ROWS = 64


def _shapes(ndim: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(target shape, index shape, scatter dim) for a 1-D or 2-D probe."""
    if ndim == 1:
        return (_TARGETS,), (_WRITES,), 0
    return (_ROWS, _TARGETS // _ROWS), (_ROWS, _WRITES // _ROWS), 1


def _scatter_args(device: torch.device, ndim: int) -> tuple[Tensor, int, Tensor, Tensor]:
    """A zero target, the dim, colliding indices along it and random source values."""
    target, index_shape, dim = _shapes(ndim)
    index = colliding_index(target[dim], index_shape, device)
    return torch.zeros(target, device=device), dim, index, torch.randn(index_shape, device=device)


def scatter_add_1d(device: torch.device) -> Tensor:
    """``Tensor.scatter_add_`` on a 1-D input with colliding indices."""
    x, dim, index, src = _scatter_args(device, 1)
    return x.scatter_add_(dim, index, src)


def scatter_add_nd(device: torch.device) -> Tensor:
    """``Tensor.scatter_add_`` on a 2-D input with colliding indices."""
    x, dim, index, src = _scatter_args(device, 2)
    return x.scatter_add_(dim, index, src)


def _gather_grad(device: torch.device, ndim: int) -> Tensor:
    target, index_shape, dim = _shapes(ndim)
    index = colliding_index(target[dim], index_shape, device)
    return grad_of(lambda x: torch.gather(x, dim, index), torch.randn(target, device=device))


def gather_1d_backward(device: torch.device) -> Tensor:
    """Gradient of ``torch.gather`` on a 1-D input with repeated indices."""
    return _gather_grad(device, 1)


def gather_nd_backward(device: torch.device) -> Tensor:
    """Gradient of ``torch.gather`` on a 2-D input with repeated indices."""
    return _gather_grad(device, 2)


def scatter_src_tensor(device: torch.device) -> Tensor:
    """``Tensor.scatter`` with a Tensor ``src`` and colliding indices: which write wins."""
    x, dim, index, src = _scatter_args(device, 1)
    return x.scatter(dim, index, src)


def scatter_reduce(device: torch.device, reduce: str) -> Tensor:
    """``Tensor.scatter_reduce`` with colliding indices and ``reduce`` (``args: {reduce: sum}``).

    amax and amin draw ties between 0.0 and -0.0; prod stays finite.
    """
    # The (dim, index, src, reduce, include_self) form and scatter_reduce_ came in 1.12;
    # 1.11's prototype scatter_reduce had another signature and no in-place twin.
    if not hasattr(torch.Tensor, "scatter_reduce_"):
        skip("torch < 1.12 lacks Tensor.scatter_reduce(dim, index, src, reduce)")
    x, dim, index, src = _scatter_args(device, 1)
    if reduce == "prod":
        # A target of ones (zeros would absorb everything) and factors near 1 keep a
        # product of ~64 of them finite and rounding-sensitive.
        x, src = torch.ones_like(x), 1 + 0.01 * src
    elif reduce in ("amax", "amin"):
        # A maximum (minimum) does not depend on the order of the writes, except between
        # equal values with different bits. Sources drawn from {0.0, -0.0, -1, -2} ({0.0, -0.0,
        # 1, 2} for amin) into a target of -inf (+inf), which every source beats, give every
        # target a tie between 0.0 and -0.0 at its extreme, which a racing kernel settles
        # differently from run to run. (include_self stays at its default, as for the other
        # reductions: the scanner tells these siblings apart by reduce alone.)
        step = -1.0 if reduce == "amax" else 1.0
        values = torch.tensor([0.0, -0.0, step, 2 * step], device=device)
        src = values[(src.abs() * 2).long().clamp(max=3)]  # |src| < 0.5: 0.0, < 1: -0.0, ...
        x = torch.full_like(x, step * float("inf"))
    return x.scatter_reduce(dim, index, src, reduce=reduce)
