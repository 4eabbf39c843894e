"""first_difference: bitwise equality over nested results, and the path of the first difference."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from detaudit.repro.bitwise import first_difference


def _with_element(t: torch.Tensor, index: tuple, value: float) -> torch.Tensor:
    t = t.clone()
    t[index] = value
    return t


def test_equal_nested_results_have_no_difference():
    def make() -> dict:
        return {
            "logits": [torch.arange(6.0).reshape(2, 3), np.arange(4, dtype=np.float32)],
            "meta": ("run", 3, 0.5, None, True, b"x"),
        }

    assert first_difference(make(), make()) is None


def test_path_and_element_of_the_first_difference():
    logits = torch.arange(60, dtype=torch.float32).reshape(6, 10) / 7
    a = {"logits": [torch.zeros(1), torch.zeros(1), torch.zeros(1), logits]}
    b = {"logits": [torch.zeros(1), torch.zeros(1), torch.zeros(1), logits.clone()]}
    b["logits"][3] = _with_element(logits, (2, 5), 0.1235)
    b["logits"][3][4, 1] = 0.0  # a later difference is not the one reported
    assert (
        first_difference(a, b) == "result['logits'][3]: tensor element [2, 5]: 3.5714285 != 0.1235"
    )


@pytest.mark.parametrize(
    "a, b, message",
    [
        (torch.tensor(0.0), torch.tensor(-0.0), "result: tensor: 0.0 != -0.0"),
        (torch.ones(2, 3), torch.ones(3, 2), "result: tensor shape (2, 3) != (3, 2)"),
        (
            torch.ones(2),
            torch.ones(2, dtype=torch.float64),
            "result: tensor dtype torch.float32 != torch.float64",
        ),
        (
            torch.tensor([True, False]),
            torch.tensor([True, True]),
            "result: tensor element [1]: False != True",
        ),
        (
            torch.ones(2, dtype=torch.bfloat16),
            torch.tensor([1.0, 1.0078125], dtype=torch.bfloat16),
            "result: tensor element [1]: 1.0 != 1.0078125",
        ),
        (
            torch.ones(2, dtype=torch.float16),
            torch.tensor([1.0, 1.001], dtype=torch.float16),
            "result: tensor element [1]: 1.0 != 1.001",
        ),
        (
            torch.ones(1, dtype=torch.complex64),
            torch.ones(1, dtype=torch.complex64) * 1j,
            "result: tensor element [0]: (1+0j) != 1j",
        ),
        (np.ones((2, 2)), np.eye(2), "result: array element [0, 1]: 1.0 != 0.0"),
        (np.float32(0.1), np.float32(0.2), "result: array: 0.1 != 0.2"),
        (np.ones(2, np.float32), np.ones(2, np.float64), "result: array dtype float32 != float64"),
        (0.0, -0.0, "result: 0.0 != -0.0"),
        ([1, 2], [1, 2, 3], "result: length 2 != 3"),
        ((1,), [1], "result: type tuple != list"),
        (torch.ones(1), np.ones(1), "result: type Tensor != ndarray"),
        (
            {"a": 1},
            {"b": 1},
            "result: keys differ: only in the first ['a'], only in the second ['b']",
        ),
        ("x", "y", "result: 'x' != 'y'"),
    ],
)
def test_messages(a, b, message):
    assert first_difference(a, b) == message


def test_nan_with_the_same_bits_is_equal_and_other_payloads_are_not():
    nan = torch.tensor([float("nan")])
    other = (nan.view(torch.int32) + 1).view(torch.float32)
    assert first_difference(nan, nan.clone()) is None
    assert first_difference(float("nan"), float("nan")) is None
    assert first_difference(nan, other) == (
        "result: tensor element [0]: nan != nan (bits 0x7fc00000 != 0x7fc00001)"
    )


def test_tensor_views_and_autograd_compare_by_value():
    x = torch.randn(3, 4)
    assert first_difference(x.t(), x.t().contiguous()) is None
    assert first_difference(x.requires_grad_() * 2, x.detach() * 2) is None
    z = torch.randn(3, dtype=torch.complex64)
    assert first_difference(z.conj(), z.conj().resolve_conj()) is None
    assert first_difference(torch.empty(0, 3), torch.empty(0, 3)) is None


def test_sparse_tensors_compare_densely():
    a = torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), check_invariants=True)
    b = torch.sparse_coo_tensor([[0, 1]], [1.0, 3.0], (3,), check_invariants=True)
    assert first_difference(a, b) == "result: tensor element [1]: 2.0 != 3.0"


def test_dataclasses_and_plain_objects_compare_member_by_member():
    @dataclasses.dataclass
    class Out:
        loss: torch.Tensor
        step: int

    class Box:
        def __init__(self, value: object) -> None:
            self.value = value

    assert first_difference(Out(torch.ones(1), 1), Out(torch.ones(1), 1)) is None
    assert first_difference(Out(torch.ones(1), 1), Out(torch.zeros(1), 1)) == (
        "result.loss: tensor element [0]: 1.0 != 0.0"
    )
    assert first_difference(Box([1.5]), Box([1.5])) is None  # two objects, same contents
    assert first_difference(Box([1.5]), Box([2.5]), "out") == "out.value[0]: 1.5 != 2.5"


def test_object_arrays_and_cycles():
    a = np.array([{"k": 1}, 2], dtype=object)
    b = np.array([{"k": 2}, 2], dtype=object)
    assert first_difference(a, b) == "result[0]['k']: 1 != 2"
    loop_a: list = [1]
    loop_a.append(loop_a)
    loop_b: list = [1]
    loop_b.append(loop_b)
    assert first_difference(loop_a, loop_b) is None


def test_comparing_plain_python_does_not_import_torch():
    code = (
        "import sys; from detaudit.repro.bitwise import first_difference as f; "
        "print(f({'a': [1.0]}, {'a': [2.0]}), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "result['a'][0]: 1.0 != 2.0 False"
