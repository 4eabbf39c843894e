"""Probes whose bits are what the worker started with: a start-up variable torch reads, or ours."""

from __future__ import annotations

import os

import torch

#: Read once, when the worker imports this module: a variable set later changes nothing here,
#: as torch's own start-up variables.
AT_IMPORT = os.environ.get("DETAUDIT_TEST_START_VAR", "<unset>")


def encode(text: str) -> torch.Tensor:
    return torch.tensor([ord(c) for c in text], dtype=torch.int64)


def cpu_capability(device: torch.device) -> torch.Tensor:
    """The CPU kernels torch dispatches to; ATEN_CPU_CAPABILITY=default makes it DEFAULT."""
    return encode(torch.backends.cpu.get_cpu_capability())


def variable_at_import(device: torch.device) -> torch.Tensor:
    return encode(AT_IMPORT)
