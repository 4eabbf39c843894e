"""The put_probe's neighbour: the real put, which calls put_."""

import torch


def put(t: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return t.put_(index, values, accumulate=False)
