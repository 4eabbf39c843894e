"""Team B's neighbour module: the same name as the other team's, other code."""

import torch


def scaled(device: torch.device) -> torch.Tensor:
    return torch.full((4,), 2.0 * 10, device=device)
