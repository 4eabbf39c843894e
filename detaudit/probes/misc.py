"""Probes for ops of their own kind: sparse-dense bmm, resize_ (quantized, growing), empty*."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

_QUANTIZE_DEPRECATION = r"torch\.quantize_per_tensor, .* are deprecated"


def bmm_sparse_dense(device: torch.device) -> Tensor:
    """``torch.bmm`` of a batched sparse COO tensor (~10% dense) by a dense one."""
    dense_a = torch.randn(8, 128, 128, device=device)
    sparse = (dense_a * (torch.rand_like(dense_a) < 0.1)).to_sparse()
    return torch.bmm(sparse, torch.randn(8, 128, 32, device=device))


def resize_quantized(device: torch.device) -> Tensor:
    """``Tensor.resize_`` of a quantized tensor to a shape of the same size.

    The alert (``quantized_resize_cpu_``) fires whatever the new size; keeping the
    element count means no uninitialised memory enters the result, so the returned
    integer representation is reproducible when the op is allowed to run.
    """
    with warnings.catch_warnings():
        # torch 2.13 deprecates quantized tensor creation
        # (https://github.com/pytorch/pytorch/issues/184982); silence only that
        # warning, so nondeterminism warnings still reach the runner.
        warnings.filterwarnings("ignore", message=_QUANTIZE_DEPRECATION, category=UserWarning)
        q = torch.quantize_per_tensor(torch.randn(64, 64, device=device), 0.05, 0, torch.quint8)
    return q.resize_(32, 128).int_repr()


def resize_grow(device: torch.device) -> Tensor:
    """``Tensor.resize_`` of a plain tensor to more elements: the new ones are uninitialised.

    The 2.1 docstring lists it among the ops that act deterministically: with
    ``torch.utils.deterministic.fill_uninitialized_memory`` on (the default) the new
    floating-point elements are NaN, so the returned bits repeat.
    """
    x = torch.randn(64, device=device)
    return x.resize_(256)


def empty_filled(device: torch.device) -> tuple[Tensor, ...]:
    """``torch.empty``: its memory is filled with NaN (float) / the maximum (int) under the mode."""
    return torch.empty(256, device=device), torch.empty(256, dtype=torch.int32, device=device)


def empty_like_filled(device: torch.device) -> Tensor:
    """``torch.empty_like`` of a random tensor: filled with NaN under the mode, like ``empty``."""
    return torch.empty_like(torch.randn(16, 16, device=device))


def empty_strided_filled(device: torch.device) -> Tensor:
    """``torch.empty_strided`` with a transposed layout: filled with NaN under the mode."""
    return torch.empty_strided((16, 16), (1, 16), device=device)


def empty_permuted_filled(device: torch.device) -> Tensor:
    """``torch.empty_permuted`` (channels-last order): filled with NaN under the mode."""
    return torch.empty_permuted((2, 3, 8, 8), (0, 2, 3, 1), device=device)
