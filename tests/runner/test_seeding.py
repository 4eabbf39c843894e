"""``seed_all``: every generator a probe may draw from starts from the seed, as torch.manual_seed would."""

from __future__ import annotations

import random

import numpy
import pytest
import torch

from detaudit.runner import probing


@pytest.fixture(autouse=True)
def _fresh_check():
    probing._cpu_only.cache_clear()
    yield
    probing._cpu_only.cache_clear()


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(numpy.random.random()), torch.rand(4).tolist()


def test_the_streams_are_those_of_torch_manual_seed():
    probing.seed_all(123)
    ours = _draws()
    random.seed(123)
    numpy.random.seed(123)
    torch.manual_seed(123)
    assert ours == _draws()
    probing.seed_all(124)
    assert _draws() != ours


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only path is this machine's")
def test_a_torch_with_only_the_cpu_seeds_its_one_generator(monkeypatch):
    assert probing._cpu_only() is True
    called = []
    monkeypatch.setattr(torch, "manual_seed", lambda seed: called.append(seed))
    probing.seed_all(5)
    assert called == []
    assert torch.initial_seed() == 5


@pytest.mark.parametrize(
    "available",
    ["torch.cuda.is_available", "torch.backends.mps.is_available", "torch.xpu.is_available"],
)
def test_any_other_device_leaves_the_seeding_to_torch(monkeypatch, available):
    monkeypatch.setattr(available, lambda: True)
    called = []
    monkeypatch.setattr(torch, "manual_seed", lambda seed: called.append(seed))
    probing.seed_all(7)
    assert called == [7]


def test_a_check_this_torch_lacks_leaves_the_seeding_to_torch(monkeypatch):
    def missing() -> bool:
        raise AttributeError("no such backend in this torch")

    monkeypatch.setattr("torch.backends.mps.is_available", missing)
    assert probing._cpu_only() is False
