"""Backward probes for the two-way observation: where the alert is, and whether the probe marks it."""

from __future__ import annotations

import torch

import detaudit.probes


class _PutInBackward(torch.autograd.Function):
    """Identity forward; its backward calls put_ with accumulate=False, which alerts on CPU."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        index = torch.zeros(4, dtype=torch.long, device=grad.device)
        return grad.clone().put_(index, torch.ones(4, device=grad.device))


def marked_backward_alerts(device: torch.device) -> torch.Tensor:
    """The alert is in the backward, which detaudit.probes.backward runs: raises both ways."""
    x = torch.randn(64, device=device, requires_grad=True)
    detaudit.probes.backward(_PutInBackward.apply(x))
    return x.grad


def forward_alerts(device: torch.device) -> torch.Tensor:
    """The alert is in the forward: raises with the mode on throughout, runs for the backward only."""
    index = torch.randint(0, 8, (64,), device=device)
    x = torch.zeros(8, device=device).put_(index, torch.randn(64, device=device))
    x.requires_grad_()
    detaudit.probes.backward(x * 2)
    return x.grad


def unmarked_backward(device: torch.device) -> torch.Tensor:
    """The old form: the probe calls .backward() itself, so no backward-only run can observe it."""
    x = torch.randn(64, device=device, requires_grad=True)
    _PutInBackward.apply(x).sum().backward()
    return x.grad


def phase_backward(device: torch.device) -> torch.Tensor:
    """Its own backward call inside detaudit.probes.backward_phase(): raises both ways."""
    x = torch.randn(64, device=device, requires_grad=True)
    loss = _PutInBackward.apply(x).sum()
    with detaudit.probes.backward_phase():
        loss.backward()
    return x.grad


def empty_phase(device: torch.device) -> torch.Tensor:
    """Misuse: marks a phase with nothing in it, then runs its backward unmarked."""
    x = torch.randn(64, device=device, requires_grad=True)
    loss = _PutInBackward.apply(x).sum()
    with detaudit.probes.backward_phase():
        pass
    loss.backward()
    return x.grad


def backward_outside_phase(device: torch.device) -> torch.Tensor:
    """Misuse: marks its forward as the phase; the backward runs after it, with the mode off."""
    x = torch.randn(64, device=device, requires_grad=True)
    with detaudit.probes.backward_phase():
        loss = _PutInBackward.apply(x).sum()
    loss.backward()
    return x.grad


def marked_twice(device: torch.device) -> torch.Tensor:
    """Misuse: wraps detaudit.probes.backward, which marks the phase already, in another phase."""
    x = torch.randn(64, device=device, requires_grad=True)
    with detaudit.probes.backward_phase():
        detaudit.probes.backward(_PutInBackward.apply(x))
    return x.grad
