"""Probes for the convolution modules (cuDNN picks the algorithm on CUDA)."""

from __future__ import annotations

import torch

from detaudit.probes._common import ProbeOutput, module_grads

# The docs list convolutions as "called on CUDA tensor" (a forward entry), but cuDNN's
# nondeterministic algorithms are mostly the backward-data and backward-filter ones,
# which sum partial products with atomics. So every conv probe returns the output AND
# the input, weight and bias gradients.
# https://docs.nvidia.com/deeplearning/cudnn/latest/developer/misc.html#reproducibility-determinism
_CHANNELS = 16


def _conv(
    module: torch.nn.Module, spatial: tuple[int, ...], batch: int, device: torch.device
) -> ProbeOutput:
    """Output and gradients of ``module`` on a random ``(batch, C, *spatial)`` input."""
    x = torch.randn(batch, _CHANNELS, *spatial, device=device)
    return module_grads(module.to(device), x, with_output=True)


def conv1d(device: torch.device) -> ProbeOutput:
    """``nn.Conv1d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.Conv1d(_CHANNELS, _CHANNELS, 5), (512,), 8, device)


def conv2d(device: torch.device) -> ProbeOutput:
    """``nn.Conv2d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.Conv2d(_CHANNELS, _CHANNELS, 3), (32, 32), 4, device)


def conv3d(device: torch.device) -> ProbeOutput:
    """``nn.Conv3d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.Conv3d(_CHANNELS, _CHANNELS, 3), (12, 12, 12), 2, device)


def conv_transpose1d(device: torch.device) -> ProbeOutput:
    """``nn.ConvTranspose1d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.ConvTranspose1d(_CHANNELS, _CHANNELS, 5, stride=2), (256,), 8, device)


def conv_transpose2d(device: torch.device) -> ProbeOutput:
    """``nn.ConvTranspose2d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.ConvTranspose2d(_CHANNELS, _CHANNELS, 3, stride=2), (16, 16), 4, device)


def conv_transpose3d(device: torch.device) -> ProbeOutput:
    """``nn.ConvTranspose3d`` output and input/weight/bias gradients."""
    return _conv(torch.nn.ConvTranspose3d(_CHANNELS, _CHANNELS, 3, stride=2), (6, 6, 6), 2, device)
