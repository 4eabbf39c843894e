"""A small model whose scatter_add runs inside activation checkpointing (scanner tests).

``# forward: ENTRY`` and ``# backward: ENTRY`` mark the line each hit must be reported at.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


class Scatter(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = torch.zeros_like(x, dtype=torch.long)
        y = x.new_zeros(x.shape).scatter_add(1, index, x)  # forward: scatter-add-nd
        z = F.interpolate(y, None, 2, "bilinear")  # backward: interpolate-bilinear-backward
        return torch.tanh(z)


def block(x: torch.Tensor) -> torch.Tensor:
    return Scatter()(x)


def run(kind: str) -> None:
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    if kind == "sequential":
        out = checkpoint_sequential(nn.Sequential(Scatter(), nn.Tanh()), 2, x, use_reentrant=True)
    else:
        out = checkpoint(block, x, use_reentrant=kind == "reentrant")
    out.sum().backward()
