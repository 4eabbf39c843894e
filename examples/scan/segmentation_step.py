"""One training step of a small segmentation net: bilinear upsampling and a per-pixel NLLLoss.

``detaudit scan examples/scan/segmentation_step.py`` on a CPU machine lists the
interpolate backward and the 4-D NLLLoss as raising on CUDA per the docs, and
exits 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinySegNet(nn.Module):
    """A conv encoder at half resolution, upsampled back to the input size."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.encode = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.classify = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.encode(x))
        h = self.classify(h)
        return F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)


def step() -> float:
    """One forward, loss and backward pass on CPU; returns the loss."""
    torch.manual_seed(0)
    net = TinySegNet()
    images = torch.randn(2, 3, 32, 32)
    masks = torch.randint(0, 4, (2, 32, 32))
    loss = nn.NLLLoss()(F.log_softmax(net(images), dim=1), masks)
    loss.backward()
    return loss.item()


if __name__ == "__main__":
    print(f"segmentation step: loss {step():.4f}")
