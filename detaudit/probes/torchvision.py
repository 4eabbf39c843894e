"""Probes for torchvision's detection ops, whose CUDA backward kernels sum with atomics.

torchvision is imported inside each probe: the module imports without it (the
catalogue resolves probes by reading this file), and a probe run where it is
missing is ``skipped`` with the reason.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import Tensor

from detaudit.probes import skip
from detaudit.probes._common import output_and_grads


def _ops() -> Any:
    try:
        return importlib.import_module("torchvision.ops")
    except Exception as exc:  # noqa: BLE001 - a broken install is a skip with torch's words
        skip(f"torchvision does not import: {type(exc).__name__}: {exc}")


def _features_and_boxes(device: torch.device, channels: int = 4) -> tuple[Tensor, Tensor]:
    """A 2x``channels``x32x32 feature map and 64 overlapping boxes: many share a bin."""
    x = torch.randn(2, channels, 32, 32, device=device)
    corner = torch.rand(64, 2, device=device) * 16
    size = torch.rand(64, 2, device=device) * 12 + 4
    batch = torch.randint(0, 2, (64, 1), device=device).to(x.dtype)
    return x, torch.cat([batch, corner, corner + size], dim=1)


def roi_align_backward(device: torch.device) -> Tensor:
    """Gradient of ``torchvision.ops.roi_align`` w.r.t. the feature map."""
    ops = _ops()
    x, boxes = _features_and_boxes(device)
    return output_and_grads(lambda t: ops.roi_align(t, boxes, (7, 7), 0.5, 2), x)[1][0]


def roi_pool_backward(device: torch.device) -> Tensor:
    """Gradient of ``torchvision.ops.roi_pool``."""
    ops = _ops()
    x, boxes = _features_and_boxes(device)
    return output_and_grads(lambda t: ops.roi_pool(t, boxes, (7, 7), 0.5), x)[1][0]


def ps_roi_align_backward(device: torch.device) -> Tensor:
    """Gradient of ``torchvision.ops.ps_roi_align`` (channels a multiple of the 3x3 bins)."""
    ops = _ops()
    x, boxes = _features_and_boxes(device, channels=18)
    return output_and_grads(lambda t: ops.ps_roi_align(t, boxes, (3, 3), 0.5, 2), x)[1][0]


def ps_roi_pool_backward(device: torch.device) -> Tensor:
    """Gradient of ``torchvision.ops.ps_roi_pool``."""
    ops = _ops()
    x, boxes = _features_and_boxes(device, channels=18)
    return output_and_grads(lambda t: ops.ps_roi_pool(t, boxes, (3, 3), 0.5), x)[1][0]


def deform_conv2d_backward(device: torch.device) -> tuple[Tensor, ...]:
    """Gradients of ``torchvision.ops.deform_conv2d`` w.r.t. input, offset and weight."""
    ops = _ops()
    x = torch.randn(2, 4, 16, 16, device=device)
    offset = torch.randn(2, 2 * 3 * 3, 16, 16, device=device)
    weight = torch.randn(6, 4, 3, 3, device=device)
    return output_and_grads(
        lambda a, b, c: ops.deform_conv2d(a, b, c, padding=(1, 1)), x, offset, weight
    )[1]
