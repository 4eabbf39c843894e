"""Helpers shared by the probe modules: colliding indices and random-gradient backward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

import torch
from torch import Tensor

from detaudit.probes._phase import backward

# What a probe returns: the tensors whose bits must repeat.
# (Union, not ``|``: this line runs in workers, which may use another, older Python.)
ProbeOutput = Union[Tensor, tuple[Tensor, ...], list[Tensor], dict[str, Tensor]]  # noqa: UP007


def colliding_index(high: int, size: int | tuple[int, ...], device: torch.device) -> Tensor:
    """Random int64 indices in ``[0, high)``; with ``size >> high`` most targets repeat.

    Repeated targets are what make atomic-add or last-writer-wins kernels race on CUDA.
    """
    shape = (size,) if isinstance(size, int) else size
    return torch.randint(0, high, shape, device=device)


def backward_random(out: Tensor) -> None:
    """Backprop a random upstream gradient through ``out``: :func:`detaudit.probes.backward`.

    Every built-in backward probe comes through here, so the runner can put only
    the backward under the mode (:mod:`detaudit.probes._phase`).
    """
    backward(out)


def output_and_grads(
    fn: Callable[..., Tensor], *inputs: Tensor
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``fn`` on copies of ``inputs`` that require grad; return its output and their grads."""
    leaves = tuple(t.detach().requires_grad_() for t in inputs)
    out = fn(*leaves)
    backward_random(out)
    return out.detach(), tuple(leaf.grad for leaf in leaves)


def grads_of(fn: Callable[..., Tensor], *inputs: Tensor) -> tuple[Tensor, ...]:
    """Gradients of ``inputs`` after ``fn(*inputs)`` is backpropagated with a random gradient."""
    return output_and_grads(fn, *inputs)[1]


def grad_of(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Gradient of the single input ``x`` after ``fn(x)`` is backpropagated with a random gradient."""
    return grads_of(fn, x)[0]


def module_grads(
    module: torch.nn.Module, *inputs: Tensor, with_output: bool = False
) -> dict[str, Tensor]:
    """Backprop ``module(*inputs)`` with a random gradient; return the parameter grads.

    Floating-point ``inputs`` are made to require grad and their grads are returned
    as ``input0``, ``input1``, ...; integer inputs (indices) are passed as they are.
    """
    inputs = tuple(t.detach().requires_grad_() if t.is_floating_point() else t for t in inputs)
    out = module(*inputs)
    backward_random(out)
    result = {f"input{i}": t.grad for i, t in enumerate(inputs) if t.requires_grad}
    result.update({name: p.grad for name, p in module.named_parameters()})
    if with_output:
        result["output"] = out.detach()
    return result
