"""A small segmentation training step on CPU: conv layers, bilinear upsampling, cross-entropy.

Run it (``python examples/train_step.py``) to print one step's loss from seed 0;
the docs import ``make_model``, ``make_batch`` and ``train_one_step`` from it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import detaudit

__all__ = ["make_batch", "make_model", "train_one_step"]

CLASSES = 4


def make_model() -> nn.Module:
    """A tiny encoder: a strided conv halves the image, a 1x1 conv scores each class."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, CLASSES, 1)
    )


def make_batch(batch: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and per-pixel labels, drawn from torch's global generator (seed it first)."""
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, CLASSES, (batch, size, size))
    return images, labels


def train_one_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """One SGD step; returns the loss. On CUDA the bilinear backward and 4-D NLL raise."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    logits = F.interpolate(model(images), size=labels.shape[-2:], mode="bilinear")
    loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


if __name__ == "__main__":
    with detaudit.deterministic(seed=0):  # seeds, deterministic mode; all put back on exit
        model = make_model()
        loss = train_one_step(model, *make_batch())
    print(f"loss {loss:.4f}")
