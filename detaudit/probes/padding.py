"""Probes for the reflection and replication padding modules, all backward."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes._common import module_grads

# A wide pad folds many output cells back onto the few cells at the border (replicate:
# all onto the edge cell), and the CUDA backward adds those gradients with atomics.
_PAD = 8
_SHAPES = {1: (8, 16, 512), 2: (4, 8, 48, 48), 3: (2, 4, 16, 16, 16)}


def _pad_grad(module: torch.nn.Module, ndim: int, device: torch.device) -> Tensor:
    return module_grads(module, torch.randn(_SHAPES[ndim], device=device))["input0"]


def reflection_pad1d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReflectionPad1d``."""
    return _pad_grad(torch.nn.ReflectionPad1d(_PAD), 1, device)


def reflection_pad2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReflectionPad2d``."""
    return _pad_grad(torch.nn.ReflectionPad2d(_PAD), 2, device)


def reflection_pad3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReflectionPad3d``."""
    return _pad_grad(torch.nn.ReflectionPad3d(_PAD), 3, device)


def replication_pad1d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReplicationPad1d``."""
    return _pad_grad(torch.nn.ReplicationPad1d(_PAD), 1, device)


def replication_pad2d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReplicationPad2d``."""
    return _pad_grad(torch.nn.ReplicationPad2d(_PAD), 2, device)


def replication_pad3d_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.ReplicationPad3d``."""
    return _pad_grad(torch.nn.ReplicationPad3d(_PAD), 3, device)
