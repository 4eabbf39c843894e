"""Traces of two torch versions whose ops differ under the same user lines (decompositions)
are aligned by user line: the same results are no divergence, a different one is named.

One torch is installed here, so run B's "other torch" is simulated: its program really runs
other aten ops on one line (clamp_min for relu, as a torch that decomposes it would) and its
header's torch version is edited to another release. With one torch, the same traces are
different paths (control flow in that line)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from detaudit.render.divergence import render_text
from detaudit.trace.compare import Cause, compare_traces
from detaudit.trace.format import load_trace
from detaudit.trace.recorder import record


def _step(other_ops: bool, other_bits: bool) -> None:
    """One training step; ``other_ops`` runs other aten ops with the same bits on one line (as a
    torch that decomposes relu would), ``other_bits`` other ops with other bits on another."""
    torch.manual_seed(0)
    x = torch.randn(256, requires_grad=True)
    y = torch.clamp_min(x, 0) if other_ops else torch.relu(x)
    z = y / 10 if other_bits else y * 0.1
    (z * z).sum().backward()


def _trace(folder: Path, name: str, *, torch_version: str | None = None, **how: bool) -> Path:
    path = folder / f"{name}.trace"
    with record(path):
        _step(**how)
    if torch_version is not None:  # as if recorded by another torch (see the docstring)
        header, rest = path.read_text().split("\n", 1)
        data = json.loads(header)
        data["environment"]["torch"] = torch_version
        path.write_text(json.dumps(data) + "\n" + rest)
    return path


def test_other_ops_with_the_same_results_are_no_divergence(tmp_path):
    a = load_trace(_trace(tmp_path, "a", other_ops=False, other_bits=False))
    b = load_trace(_trace(tmp_path, "b", torch_version="2.99.0", other_ops=True, other_bits=False))
    assert [r["op"] for r in map(a.op, range(len(a.lines)))] != [
        r["op"] for r in map(b.op, range(len(b.lines)))
    ]  # the op sequences really differ
    comparison = compare_traces(a, b)
    assert comparison.aligned_by == "location"
    assert comparison.divergence is None
    assert render_text(comparison).startswith("Same results: every user line produced the same")
    assert comparison.to_dict()["aligned_by"] == "location"


def test_the_first_line_whose_result_differs_is_named(tmp_path):
    a = load_trace(_trace(tmp_path, "a", other_ops=False, other_bits=False))
    b = load_trace(_trace(tmp_path, "b", torch_version="2.99.0", other_ops=True, other_bits=True))
    comparison = compare_traces(a, b)
    d = comparison.divergence
    assert comparison.aligned_by == "location"
    assert d is not None and d.cause is Cause.KERNEL
    line = _step.__code__.co_firstlineno + 6  # z = y / 10 if other_bits else y * 0.1
    assert d.location.endswith(f"test_align_by_line.py:{line}")
    assert d.pass_ == "forward" and d.op == "aten::mul.Tensor"
    assert d.details[0].startswith("aligned by user line: under the same lines")
    assert "(aligned by user line, the op sequences differ)" in d.sentence


def test_lines_that_differ_are_still_different_paths(tmp_path):
    a = tmp_path / "a.trace"
    with record(a):
        _step(False, False)
    b = tmp_path / "b.trace"
    with record(b):
        _step(False, False)
        torch.ones(3).sum()  # one more line in run B
    header, rest = b.read_text().split("\n", 1)
    data = json.loads(header)
    data["environment"]["torch"] = "2.99.0"  # another torch, yet the lines part: paths
    b.write_text(json.dumps(data) + "\n" + rest)
    comparison = compare_traces(load_trace(a), load_trace(b))
    assert comparison.aligned_by == "sequence"
    assert comparison.divergence is not None and comparison.divergence.cause is Cause.PATHS


def test_the_html_page_says_how_it_aligned(tmp_path):
    from detaudit.render.divergence_html import render

    a = load_trace(_trace(tmp_path, "a", other_ops=False, other_bits=False))
    b = load_trace(_trace(tmp_path, "b", torch_version="2.99.0", other_ops=True, other_bits=True))
    page = render(compare_traces(a, b))
    assert "(aligned by user line, the op sequences differ)" in page
    assert "around the divergence" not in page  # op by op context would pair unrelated ops


def test_with_one_torch_other_ops_on_a_line_are_different_paths(tmp_path):
    a = load_trace(_trace(tmp_path, "a", other_ops=False, other_bits=False))
    b = load_trace(_trace(tmp_path, "b", other_ops=True, other_bits=False))
    comparison = compare_traces(a, b)
    assert comparison.aligned_by == "sequence"
    assert comparison.divergence is not None and comparison.divergence.cause is Cause.PATHS
