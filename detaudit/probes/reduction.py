"""Probes for histc, bincount, kthvalue, median and cumsum, all forward; and the cases that never alert."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes import ProbeSkipped
from detaudit.probes._common import colliding_index

_N = 65536


def histc(device: torch.device) -> Tensor:
    """``torch.histc`` of many values into few bins.

    The CUDA kernel adds 1.0 per value with atomics; whole-number float counts are exact,
    so repeat runs may agree even though the kernel alerts.
    """
    return torch.histc(torch.randn(_N, device=device), bins=64, min=-3, max=3)


def bincount(device: torch.device) -> Tensor:
    """``torch.bincount`` with float ``weights``: weighted sums per bin, atomically added on CUDA."""
    return torch.bincount(colliding_index(256, _N, device), weights=torch.randn(_N, device=device))


def _ties(device: torch.device) -> Tensor:
    """Rows of small integers (as float): many ties, so the chosen index can vary."""
    return torch.randint(0, 8, (64, 1024), device=device).float()


def kthvalue(device: torch.device) -> tuple[Tensor, Tensor]:
    """``torch.kthvalue`` values and indices over rows full of ties."""
    values, indices = torch.kthvalue(_ties(device), 512, dim=1)
    return values, indices


def median_with_indices(device: torch.device) -> tuple[Tensor, Tensor]:
    """``torch.median(dim=...)`` values and indices over rows full of ties."""
    values, indices = torch.median(_ties(device), dim=1)
    return values, indices


def cumsum(device: torch.device) -> Tensor:
    """``torch.cumsum`` of a long float32 vector (the CUDA scan's summation order may vary)."""
    return torch.cumsum(torch.randn(4 * _N, device=device), 0)


def histc_integer(device: torch.device) -> Tensor:
    """``torch.histc`` of int32 values: ``_histc_cuda`` alerts for floating point input only.

    aten/src/ATen/native/cuda/SummaryOps.cu guards the alert with ``isFloatingType``
    (integer counts are exact); PyTorch's test_nondeterministic_alert_histc sweeps
    int32 on CUDA and expects no alert. CPU has no integer histc kernel.
    """
    x = torch.randint(0, 64, (_N,), device=device, dtype=torch.int32)
    try:
        return torch.histc(x, bins=64, min=0, max=63)
    except NotImplementedError as exc:  # CPU: "histogram_cpu" not implemented for 'Int'
        raise ProbeSkipped(f"torch: {exc}") from None


def bincount_no_weights(device: torch.device) -> Tensor:
    """``torch.bincount`` without ``weights``: integer counts, no alert (PyTorch's tests)."""
    return torch.bincount(colliding_index(256, _N, device))


def median_no_indices(device: torch.device) -> Tensor:
    """``torch.median(x)`` (no ``dim``, so no indices) over ties: no alert (PyTorch's tests)."""
    return torch.median(_ties(device))
