"""Tests of examples/train_step.py, for the pytest plugin: ``python -m pytest examples/pytest --detaudit``."""

from __future__ import annotations

import torch

from examples.train_step import make_batch, make_model


def test_forward_is_reproducible(assert_reproducible):
    """The fixture runs the callable twice from the same seed and compares the bits."""
    model = make_model()
    images, _ = make_batch()
    assert_reproducible(lambda: {"logits": model(images)})


def test_put_overwrites():
    """put_ with accumulate=False raises under --detaudit (deterministic mode from setup on)."""
    target = torch.zeros(4)
    target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    assert target[0] in (1.0, 2.0)
