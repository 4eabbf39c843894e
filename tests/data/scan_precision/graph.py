# Written for detaudit's tests; never run (the static scan only reads it).
"""Message passing and one-hot targets: scatter_ with a number is the value overload."""

import torch
from torch import Tensor


def one_hot(labels: Tensor, classes: int) -> Tensor:
    out = torch.zeros(labels.size(0), classes)
    out.scatter_(1, labels.unsqueeze(1), 1)
    out.scatter_(1, labels.unsqueeze(1), value=1.0)
    return out


def propagate(x: Tensor, edge_index: Tensor, messages: Tensor) -> Tensor:
    out = torch.zeros_like(x)
    out.scatter_(0, edge_index, messages)
    return out


def pool_max(x: Tensor, index: Tensor, size: int) -> Tensor:
    out = torch.zeros(size, x.size(1))
    return out.scatter_reduce(0, index, x, reduce="prod")  # raises: scatter-reduce-prod
