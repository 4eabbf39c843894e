"""A probe module named like the standard library's json, which detaudit itself imports."""

import torch


def value(device: torch.device) -> torch.Tensor:
    return torch.full((3,), 7.0, device=device)
