"""Probes for nn.Embedding and nn.EmbeddingBag(mode='max'), both backward."""

from __future__ import annotations

import torch
from torch import Tensor

from detaudit.probes._common import colliding_index, module_grads


def embedding_backward(device: torch.device) -> Tensor:
    """Weight gradient of ``nn.Embedding`` with few distinct indices, each repeated many times.

    That shape (few long segments; 8192 indices, past the 3072 that the short-input
    kernel takes) is what selects the atomic accumulate kernel of
    https://github.com/pytorch/pytorch/pull/170589, which deterministic mode gates
    off (https://github.com/pytorch/pytorch/pull/187682).
    """
    embedding = torch.nn.Embedding(16, 32).to(device)
    return module_grads(embedding, colliding_index(16, 8192, device))["weight"]


def embedding_bag_max_backward(device: torch.device) -> Tensor:
    """Weight gradient of ``nn.EmbeddingBag(mode='max')``; bags share rows, so the maxima collide."""
    bag = torch.nn.EmbeddingBag(64, 32, mode="max").to(device)
    return module_grads(bag, colliding_index(64, (1024, 16), device))["weight"]
