"""One training step of a small residual classifier: conv, linear and a 2-D cross_entropy.

``detaudit scan examples/scan/resnet_step.py`` exits 0: on CUDA the convolutions
run deterministic kernels under the mode, and cross_entropy on 2-D logits takes
the 2-D NLL kernel, which raises no alert.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """conv-bn-relu-conv-bn plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class TinyResNet(nn.Module):
    """A stem, two residual blocks, global average pooling, a linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(torch.relu(self.stem(x)))
        return self.head(h.mean((-2, -1)))  # global average pooling as a mean


def step() -> float:
    """One forward, loss and backward pass on CPU; returns the loss."""
    torch.manual_seed(0)
    net = TinyResNet()
    images = torch.randn(4, 3, 16, 16)
    labels = torch.randint(0, 10, (4,))
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    return loss.item()


if __name__ == "__main__":
    print(f"resnet step: loss {step():.4f}")
