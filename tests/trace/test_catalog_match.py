"""compare names the catalogue entry the scan would for the divergent op call (its signatures)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from detaudit.catalog import load_catalog
from detaudit.trace.compare import Cause, compare_traces
from detaudit.trace.format import load_trace
from detaudit.trace.recorder import catalogue_matcher, record


def _program() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear").sum().backward()
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4))
    torch.nn.functional.nll_loss(logits.log_softmax(1), target).backward()
    torch.zeros(5).index_add_(0, torch.tensor([0, 1]), torch.ones(2))


@pytest.fixture(scope="module")
def matched(tmp_path_factory, scan_cache) -> Path:
    path = tmp_path_factory.mktemp("cat") / "a.trace"
    with record(path, matcher=catalogue_matcher(load_catalog())):
        _program()
    return path


def _ops(path: Path) -> dict[str, dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return {r["op"]: r for r in lines if r["k"] == "op"}


def test_the_recorder_names_the_entries_the_scan_matches(matched: Path) -> None:
    ops = _ops(matched)
    # named by the scan's signature, not by the op's name (the API is interpolate)
    assert "interpolate-bilinear-backward" in ops["aten::upsample_bilinear2d_backward"]["cat"]
    assert ops["aten::nll_loss2d_forward"]["cat"] == ["nll-loss"]
    assert ops["aten::index_add_"]["cat"] == ["index-add"]
    assert "cat" not in ops["aten::upsample_bilinear2d"]  # the forward pass has no entry


def _kernel_divergence(path: Path, op: str, folder: Path) -> Path:
    """B: ``path`` with the outputs of ``op`` changed, as a nondeterministic kernel would
    (an edited copy of the real trace: only that op's out differs)."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if f'"op":"{op}"' in line:
            lines[i] = re.sub(r'"out":\[(-?\d+)', lambda m: f'"out":[{int(m[1]) + 1}', line)
            break
    other = folder / "b.trace"
    other.write_text("".join(lines))
    return other


def test_compare_names_the_matched_entry_of_the_divergent_op(matched: Path, tmp_path) -> None:
    b = _kernel_divergence(matched, "aten::upsample_bilinear2d_backward", tmp_path)
    d = compare_traces(load_trace(matched), load_trace(b), catalog=load_catalog()).divergence
    assert d.cause is Cause.KERNEL and d.op == "aten::upsample_bilinear2d_backward"
    assert any(c.startswith("interpolate-bilinear-backward: ") for c in d.catalogued)
    assert "(on cuda, not cpu)" in d.catalogued[0]


def test_without_matching_compare_falls_back_to_the_op_name(tmp_path: Path) -> None:
    a = tmp_path / "a.trace"
    with record(a):
        _program()
    assert json.loads(a.read_text().splitlines()[0])["catalog_match"] is False
    b = _kernel_divergence(a, "aten::index_add_", tmp_path)
    d = compare_traces(load_trace(a), load_trace(b), catalog=load_catalog()).divergence
    assert any(c.startswith("index-add: ") for c in d.catalogued)  # named like the API
    b = _kernel_divergence(a, "aten::upsample_bilinear2d_backward", tmp_path)
    d = compare_traces(load_trace(a), load_trace(b), catalog=load_catalog()).divergence
    assert d.catalogued == ()  # interpolate is not named like the op: only the signature knows
