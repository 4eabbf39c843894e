"""The backward phase: the mode is switched on for the marked backward only, and always put back."""

from __future__ import annotations

import pytest
import torch

from detaudit import torchstate
from detaudit.probes import _phase, backward, backward_phase


@pytest.fixture(autouse=True)
def mode_restored():
    saved = torchstate.snapshot()
    yield
    torchstate.restore(saved)


def _mode() -> tuple[bool, bool]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )


def test_outside_an_observation_the_phase_leaves_the_mode_alone():
    for mode in [(False, False), (True, False), (True, True)]:
        torchstate.set_deterministic_algorithms(*mode)
        with backward_phase():
            assert _mode() == mode


def test_in_a_backward_only_observation_the_phase_is_strict_and_put_back():
    torchstate.set_deterministic_algorithms(False, False)
    with _phase.backward_only() as marks:
        assert _mode() == (False, False)
        with backward_phase():
            assert _mode() == (True, False)
        assert _mode() == (False, False)
        with backward_phase():
            pass
    assert marks.marked == 2


def test_the_mode_is_put_back_when_the_backward_raises():
    torchstate.set_deterministic_algorithms(False, False)
    x = torch.randn(8, requires_grad=True)
    out = x.put(torch.tensor([0, 0, 1]), torch.ones(3))  # its backward calls put_: an alert
    with _phase.backward_only(), pytest.raises(RuntimeError, match="put_ does not have"):
        backward(out)
    assert _mode() == (False, False)
    assert not _phase._ACTIVE


def test_backward_gives_the_gradients_of_a_random_upstream_gradient():
    """The same bits as ``(out * randn_like(out)).sum().backward()``, the probes' old helper."""
    grads = []
    for marked in (False, True):
        torch.manual_seed(0)
        x = torch.randn(16, requires_grad=True)
        out = x.square()
        if marked:
            with _phase.backward_only():
                backward(out)
        else:
            (out * torch.randn_like(out)).sum().backward()
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def _graph() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(8, requires_grad=True)
    return x, (x * 2).sum()


def test_a_phase_that_holds_the_backward_is_no_misuse():
    with _phase.backward_only() as marks:
        x, loss = _graph()
        with backward_phase():
            torch.autograd.grad(loss, [x])
        backward(x.square())
    assert (marks.marked, marks.inside, marks.outside) == (2, 2, 0)
    assert marks.misuse() is None


def test_a_probe_that_marks_nothing_is_unmarked_not_a_misuse():
    with _phase.backward_only() as marks:
        _graph()[1].backward()
    assert marks.outside == 1 and marks.misuse() is None


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("empty", ["1 marked phase ran no backward", "1 backward call"]),
        ("outside", ["1 marked phase ran no backward", "ran outside every marked phase"]),
        ("twice", ["1 phase marked inside another", "marked twice"]),
        ("grad outside", ["2 backward calls", "torch.autograd.grad"]),
    ],
)
def test_each_misuse_of_the_phase_is_named(how, named):
    with _phase.backward_only() as marks:
        x, loss = _graph()
        if how == "empty":
            with backward_phase():
                pass
            loss.backward()
        elif how == "outside":
            with backward_phase():
                x, loss = _graph()  # the forward marked, not the backward
            loss.backward()
        elif how == "twice":
            with backward_phase():
                backward(x.square())
        else:
            backward(x.square())
            torch.autograd.grad(loss, [x], retain_graph=True)
            torch.autograd.grad(loss, [x])
    misuse = marks.misuse()
    assert misuse is not None and misuse.startswith("the probe misuses")
    for words in named:
        assert words in misuse, misuse


def test_the_counting_ends_with_the_observation():
    original = torch.autograd.backward, torch.autograd.grad
    with _phase.backward_only() as marks:
        assert torch.autograd.backward is not original[0]
    assert (torch.autograd.backward, torch.autograd.grad) == original
    _graph()[1].backward()
    assert marks.outside == 0
