"""Probes for NLLLoss (forward) and CTCLoss (backward)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from detaudit.probes._common import grad_of


def nll_loss(device: torch.device) -> Tensor:
    """``nn.NLLLoss`` (mean) on a 4-D input.

    Only the 2-D (spatial) CUDA kernel, ``nll_loss2d_forward``, sums the picked values
    with atomics and alerts; a plain (N, C) input would take the deterministic path.
    """
    x = torch.randn(4, 8, 64, 64, device=device)
    target = torch.randint(0, 8, (4, 64, 64), device=device)
    return torch.nn.NLLLoss()(x, target)


def ctc_loss_backward(device: torch.device) -> Tensor:
    """Gradient of ``nn.CTCLoss`` w.r.t. the logits, through the native (not cuDNN) kernel.

    int64 targets on the same device keep cuDNN's CTC out of the way.
    """
    steps, batch, classes, max_target = 50, 16, 20, 20
    logits = torch.randn(steps, batch, classes, device=device)
    targets = torch.randint(1, classes, (batch, max_target), device=device)
    input_lengths = torch.full((batch,), steps, dtype=torch.long, device=device)
    target_lengths = torch.randint(10, max_target + 1, (batch,), device=device)
    ctc = torch.nn.CTCLoss()
    return grad_of(
        lambda t: ctc(F.log_softmax(t, 2), targets, input_lengths, target_lengths), logits
    )
