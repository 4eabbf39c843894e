"""Attention in the scanner: SDPA hits name the backend that ran; the static scan finds the calls.

tests/data/scan_attention/model.py calls ``scaled_dot_product_attention`` three ways
(causal, with a mask, forced to the math backend) and marks the line of each.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

import detaudit
from detaudit.catalog import load_catalog
from detaudit.model.report import Status
from detaudit.scanner.static import Scanner

from ..conftest import DATA
from .test_scan_dynamic import marked_lines

MODEL = DATA / "scan_attention" / "model.py"


def load_model():
    spec = importlib.util.spec_from_file_location("scan_attention", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hits(scan_cache):
    model = load_model()
    with detaudit.scan() as found:
        model.run()
    return [h for h in found.hits if h.entry and h.entry.startswith("sdpa-")]


@pytest.mark.slow  # a dynamic scan of an attention model
def test_dynamic_hits_name_the_backend_that_ran(hits):
    lines = marked_lines(MODEL, ("dynamic",))
    forward = {h.entry: h for h in hits if h.pass_ == "forward"}
    assert set(forward) == set(lines)
    for entry, hit in forward.items():
        assert hit.line == lines[entry], (entry, hit)
        assert hit.device == "cpu"
    # the CPU picks its flash-style kernel; the forced call runs the math backend
    assert forward["sdpa-flash-forward"].op == "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert forward["sdpa-flash-mask-forward"].op == forward["sdpa-flash-forward"].op
    assert forward["sdpa-math-forward"].op == "aten::_safe_softmax"


@pytest.mark.slow  # a dynamic scan of an attention model
def test_backward_hits_are_located_at_the_forward_call(hits):
    lines = marked_lines(MODEL, ("dynamic",))
    backward = {h.entry: h for h in hits if h.pass_ == "backward"}
    # the math backend's backward is bmm and softmax backward: no entry of its own
    assert set(backward) == {"sdpa-flash-backward", "sdpa-flash-mask-backward"}
    assert backward["sdpa-flash-backward"].line == lines["sdpa-flash-forward"]
    assert backward["sdpa-flash-mask-backward"].line == lines["sdpa-flash-mask-forward"]
    for hit in backward.values():
        assert hit.op == "aten::_scaled_dot_product_flash_attention_for_cpu_backward"


@pytest.mark.slow  # a dynamic scan of an attention model
def test_a_clean_attention_hit_is_ok_not_converts(hits):
    # observed entries claim nothing: a run with no alert is `ok`
    assert hits and all(h.here is Status.OK for h in hits)


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_catalog(), torch_version="2.13.0")


def test_static_scan_finds_each_call(scanner):
    findings, skipped = scanner.scan_file(MODEL)
    assert skipped is None
    sdpa = [f for f in findings if f.api == "torch.nn.functional.scaled_dot_product_attention"]
    assert [f.line for f in sdpa] == sorted(marked_lines(MODEL, ("dynamic",)).values())
    plain, masked, _ = sdpa
    # no attn_mask: only the no-mask entries; a mask in a variable may be None: all of them
    assert not any("mask" in e for e in plain.entries)
    assert {"sdpa-flash-mask-forward", "sdpa-flash-forward"} <= set(masked.entries)
    for finding in sdpa:
        assert finding.group == "observed" and finding.claim is None
        assert "is in no docstring" in finding.message


def test_static_scan_finds_flex_attention(scanner):
    source = """\
    from torch.nn.attention.flex_attention import flex_attention
    import torch.nn.attention.flex_attention as fa

    def attend(q, k, v):
        return flex_attention(q, k, v) + fa.flex_attention(q, k, v)
    """
    findings, skipped = scanner.scan_source(textwrap.dedent(source), "x.py")
    assert skipped is None
    assert [(f.line, f.entry) for f in findings] == [
        (5, "flex-attention-eager-forward"),
        (5, "flex-attention-eager-forward"),
    ]
    assert "flex-attention-compiled-backward" in findings[0].entries
