"""Probes for cuBLAS matrix products: mm, mv, bmm and F.linear (addmm with a bias)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# A long inner dimension next to small outer ones is the shape for which cuBLAS may split
# the reduction (split-K) and add the partial sums in whatever order its workspace allows.
# On CPU (where no entry's condition applies: the rows are ``ok``) a shorter inner dimension
# keeps the default audit fast; the check these entries are for is cuBLAS's.
_M, _K, _N = 256, 4096, 256
_K_CPU = 512


def _k(device: torch.device) -> int:
    return _K if device.type != "cpu" else _K_CPU


def mm(device: torch.device) -> Tensor:
    """``torch.mm`` of a (256, 4096) by a (4096, 256) matrix (inner dimension 512 on CPU)."""
    k = _k(device)
    return torch.mm(torch.randn(_M, k, device=device), torch.randn(k, _N, device=device))


def bmm(device: torch.device) -> Tensor:
    """``torch.bmm`` of 4 batched (128, 4096) by (4096, 128) matrices (strided-batched gemm)."""
    k = _k(device)
    a = torch.randn(4, _M // 2, k, device=device)
    return torch.bmm(a, torch.randn(4, k, _N // 2, device=device))


def linear(device: torch.device) -> Tensor:
    """``F.linear`` with a bias: addmm, which CUDA may run as one cuBLASLt call with the bias."""
    k = _k(device)
    weight, bias = torch.randn(_N, k, device=device), torch.randn(_N, device=device)
    return F.linear(torch.randn(_M, k, device=device), weight, bias)


def mv(device: torch.device) -> Tensor:
    """``torch.mv`` of a (256, 4096) matrix by a 4096-vector (gemv; inner dimension 512 on CPU)."""
    k = _k(device)
    return torch.mv(torch.randn(_M, k, device=device), torch.randn(k, device=device))
