"""Probes for ops of their own kind: sparse-dense bmm and resize_ of a quantized tensor."""

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
