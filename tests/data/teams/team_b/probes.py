"""Team B's probe module: the same file name as the other team's, other code."""

import helpers
import numpy
import torch
import yaml


def value(device: torch.device) -> torch.Tensor:
    return torch.full((4,), 2.0, device=device)


def helper(device: torch.device) -> torch.Tensor:
    return helpers.scaled(device)


def installed(device: torch.device) -> torch.Tensor:
    """The installed yaml and numpy, not this folder's files of those names."""
    if getattr(yaml, "FAKE", False) or getattr(numpy, "FAKE", False):
        raise AssertionError("a team file shadowed an installed module")
    return torch.zeros(2, device=device)


def lazy(device: torch.device) -> torch.Tensor:
    """The runner's own numpy (it seeds numpy's generator) is the installed one too."""
    import sys

    if getattr(sys.modules.get("numpy"), "FAKE", False) or getattr(
        sys.modules.get("yaml"), "FAKE", False
    ):
        raise AssertionError("a team file is in sys.modules under an installed name")
    return torch.zeros(2, device=device)


def lazy_helper(device: torch.device) -> torch.Tensor:
    """A neighbour imported in the probe's body, at run time: still this folder's."""
    import helpers as again

    return again.scaled(device) + 1
