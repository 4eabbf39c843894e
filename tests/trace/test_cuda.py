"""The same causes on a GPU: fingerprints on the device, the CUDA generator's state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detaudit.trace.compare import compare_traces
from detaudit.trace.format import load_trace
from detaudit.trace.recorder import record

from .test_real_causes import line_of, twice_json

pytestmark = pytest.mark.cuda


def test_a_cuda_op_is_recorded_with_its_device_and_compares_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        torch.manual_seed(0)
        with record(tmp_path / f"{name}.trace"):
            x = torch.randn(64, 64, device="cuda", requires_grad=True)
            (x @ x).relu().sum().backward()
    a, b = load_trace(tmp_path / "a.trace"), load_trace(tmp_path / "b.trace")
    assert any('"dev":"cuda:0"' in line for line in a.lines)
    assert compare_traces(a, b).identical


def test_unseeded_cuda_dropout_is_rng() -> None:
    code, result = twice_json("cuda_dropout.py")
    assert code == 1
    d = result["divergence"]
    assert d["cause"] == "rng" and d["op"].startswith("aten::")
    line = line_of("cuda_dropout.py", "loss = model(x)")
    assert d["location"] == f"examples/repro/cuda_dropout.py:{line}"
