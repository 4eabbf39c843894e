"""Probes for the reflection and replication padding modules, all backward."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes._common import module_grads

# A wide pad folds many output cells back onto the few cells at the border (replicate:
# all onto the edge cell), and the CUDA backward adds those gradients with atomics.
_PAD = 8
_SHAPES = {1: (8, 16, 512), 2: (4, 8, 48, 48), 3: (2, 4, 16, 16, 16)}


_MODULES = {"reflect": "ReflectionPad", "replicate": "ReplicationPad"}


def pad_backward(device: torch.device, mode: str, ndim: int) -> Tensor:
    """Gradient of ``nn.ReflectionPad{ndim}d`` or ``nn.ReplicationPad{ndim}d`` (``mode``).

    ``args: {mode: reflect, ndim: 2}`` is ``nn.ReflectionPad2d``.
    """
    module = getattr(torch.nn, f"{_MODULES[mode]}{ndim}d")(_PAD)
    return module_grads(module, torch.randn(_SHAPES[ndim], device=device))["input0"]
