"""Team B's probe module: the same file name as the other team's, other code."""

import torch


def value(device: torch.device) -> torch.Tensor:
    return torch.full((4,), 2.0, device=device)
