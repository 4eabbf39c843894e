"""Probes and a torch.compile backend for the ``audit --compile`` tests.

Importing this module registers two backends. ``detaudit_test_failing``
raises on any graph that calls ``torch.cumsum`` (an injected compilation
failure) and runs every other graph eagerly, so the tests compile nothing
with a C++ compiler. ``detaudit_test_slow`` takes two minutes over every graph
(a compile past its budget), then runs it eagerly.
"""

from __future__ import annotations

import time

import torch
from torch._dynamo import register_backend

BACKEND = "detaudit_test_failing"
SLOW_BACKEND = "detaudit_test_slow"


class InjectedCompileFailure(RuntimeError):
    """The failure the test backend raises."""


@register_backend(name=BACKEND)
def _failing_backend(gm: torch.fx.GraphModule, example_inputs: list) -> object:
    if any(node.target is torch.cumsum for node in gm.graph.nodes):
        raise InjectedCompileFailure("injected compilation failure: this backend refuses cumsum")
    return gm.forward


@register_backend(name=SLOW_BACKEND)
def _slow_backend(gm: torch.fx.GraphModule, example_inputs: list) -> object:
    time.sleep(120)  # far past the test's --compile-timeout: the compile runs over its budget
    return gm.forward


def sums(device: torch.device) -> torch.Tensor:
    """index_add with colliding indices: compiles under the test backend."""
    index = torch.randint(0, 64, (512,), device=device)
    return torch.zeros(64, device=device).index_add(0, index, torch.randn(512, device=device))


def cumsum(device: torch.device) -> torch.Tensor:
    """torch.cumsum: runs eagerly, and the test backend refuses to compile it."""
    return torch.cumsum(torch.randn(256, device=device), 0)
