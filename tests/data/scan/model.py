"""A small model that runs five catalogued ops; the tests find their lines by the markers.

``# static: ENTRY`` marks the call the static scan reports (a module's
constructor, a function's call); ``# dynamic: ENTRY`` the line the dynamic
scan reports (for a backward entry: the forward call that created it).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import EmbeddingBag


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(5)  # static: adaptive-avg-pool2d-backward
        self.bag = EmbeddingBag(32, 8, mode="max")  # static: embedding-bag-max-backward

    def forward(self, x: torch.Tensor, idx: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        h = self.pool(x)  # dynamic: adaptive-avg-pool2d-backward
        h = F.interpolate(h, scale_factor=2, mode="bilinear")  # both: interpolate-bilinear-backward
        rows = h.flatten(1)
        target = torch.zeros(4, rows.shape[1])
        out = target.index_add_(0, torch.tensor([0, 1, 1, 3]), rows)  # both: index-add
        scratch, where, what = torch.zeros(16), torch.tensor([1, 1, 2]), torch.ones(3)
        scratch.put_(where, what)  # both: put-accumulate-false
        bags = self.bag(idx, offsets)  # dynamic: embedding-bag-max-backward
        return out.sum() + bags.sum() + scratch.sum()


def run() -> float:
    """One forward and backward pass on CPU."""
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(4, 3, 7, 7, requires_grad=True)
    idx = torch.randint(0, 32, (12,))
    loss = net(x, idx, torch.tensor([0, 3, 6, 9]))
    loss.backward()
    return loss.item()


if __name__ == "__main__":
    print(f"model ran: {run():.3f} {' '.join(sys.argv[1:])}")
