"""Each entry's aten signature is derived from what its probe dispatches; data fills the gaps."""

from __future__ import annotations

import json

import pytest
import torch

from detaudit.catalog import Condition, load_catalog
from detaudit.errors import CatalogError
from detaudit.model.observation import DispatchedOp
from detaudit.scanner.matching import Matcher
from detaudit.scanner.signatures import (
    ProbeTrace,
    cache_dir,
    derive,
    load_signatures,
    op_key,
    trace_probes,
)

from ..conftest import USER_CATALOG


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def signatures(scan_cache, catalog):
    return load_signatures(catalog, torch.__version__)


def conditions(sig, index: int = 0) -> dict[str, object]:
    return {k: c.to_data() for k, c in sig.ops[index].conditions}


def test_every_builtin_entry_gets_a_signature(catalog, signatures):
    assert set(signatures) == {e.id for e in catalog}
    # the composite math backward has no op of its own (ops: []), nor has max_pool3d with
    # return_indices=True on CPU; flex_attention is a higher-order op that a dispatch mode
    # cannot trace; silent entries (PyTorch's tests: no alert) are never a finding
    flex = [e.id for e in catalog if e.id.startswith("flex-attention-")]
    silent = [e.id for e in catalog if e.silent]
    # the 2.1 fill-memory entries raise no alert to trace: ops: [] (catalog/fill.yaml)
    fill = [e.id for e in catalog if e.id.endswith("-fill")]
    assert len(fill) == 5
    assert sorted(s.entry for s in signatures.values() if not s.ops) == sorted(
        ["sdpa-math-backward", "max-pool3d-return-indices-backward", *flex, *silent, *fill]
    )
    assert "ops: []" in signatures["sdpa-math-backward"].problem
    for sig in signatures.values():
        assert sig.pass_ == catalog.get(sig.entry).pass_


def test_ops_named_like_the_api(signatures):
    sig = signatures["adaptive-avg-pool2d-backward"]
    assert [o.op for o in sig.ops] == ["aten::_adaptive_avg_pool2d_backward.default"]
    assert sig.ops_from == "named like the api"
    assert sig.parents == ("aten::_adaptive_avg_pool2d.default",)
    # ctc's backward also runs log_softmax's backward: the name picks the right one
    assert [o.op for o in signatures["ctc-loss-backward"].ops] == [
        "aten::_ctc_loss_backward.Tensor"
    ]
    assert [o.op for o in signatures["resize-quantized"].ops] == ["aten::resize.default"]


def test_ops_that_produce_the_probe_result(signatures):
    sig = signatures["interpolate-bilinear-backward"]
    assert [o.op for o in sig.ops] == ["aten::upsample_bilinear2d_backward.default"]
    assert sig.ops_from == "produces the probe's result"
    assert [o.op for o in signatures["getitem-index-list-backward"].ops] == [
        "aten::index_put.default"
    ]
    # MaxUnpool1d runs max_unpool2d on an unsqueezed input
    assert [o.op for o in signatures["max-unpool1d"].ops] == ["aten::max_unpool2d.default"]
    assert [o.op for o in signatures["conv-transpose3d"].ops] == ["aten::convolution.default"]


def test_sibling_conditions_are_derived(signatures):
    assert conditions(signatures["put-accumulate-false"]) == {"accumulate": False}
    assert conditions(signatures["put-accumulate-true-cuda"]) == {"accumulate": True}
    assert conditions(signatures["scatter-reduce-prod"]) == {"reduce": "prod"}
    assert conditions(signatures["conv2d"]) == {
        "input.ndim": 4,
        "transposed": False,
        "weight.ndim": 4,
    }
    assert conditions(signatures["scatter-add-1d"])["self.ndim"] == 1
    assert signatures["scatter-add-1d"].conditions_from == "sibling probes"


def test_catalogue_conditions_replace_derived_ones(signatures):
    assert conditions(signatures["scatter-add-nd"]) == {"self.ndim": {"min": 2}}
    assert conditions(signatures["embedding-bag-max-backward"]) == {"mode": 2}
    assert conditions(signatures["bincount"]) == {"weights": {"given": True}}
    assert signatures["bincount"].conditions_from == "catalogue"


def test_matcher_groups_equal_signatures_and_names_the_device_entry(catalog, signatures):
    matcher = Matcher(catalog, signatures)

    def get(values):
        return lambda arg, part: (values.get(f"{arg}.{part}" if part else arg), True)

    put_true = matcher.match("aten::put.default", "forward", get({"accumulate": True}))
    assert put_true == ("put-accumulate-true-cpu", "put-accumulate-true-cuda")
    assert matcher.shown(put_true, "cpu") == "put-accumulate-true-cpu"
    assert matcher.shown(put_true, "cuda") == "put-accumulate-true-cuda"
    assert matcher.match("aten::put.default", "backward", get({"accumulate": False})) == ()
    # index_select's backward and repeat_interleave's reach the same aten op
    assert matcher.match("aten::index_add.default", "backward", get({})) == (
        "index-select-backward",
        "repeat-interleave-backward",
    )
    assert matcher.match("aten::scatter_add.default", "forward", get({"self.ndim": 3})) == (
        "scatter-add-nd",
    )


def test_op_key_joins_in_place_and_out_variants():
    assert op_key("aten::put_.default") == "aten::put.default"
    assert op_key("aten::index_add.out") == "aten::index_add.default"
    assert op_key("aten::scatter_.src") == "aten::scatter.src"
    assert op_key("aten::scatter.src_out") == "aten::scatter.src"
    assert op_key("aten::__and__.Tensor") == "aten::__and__.Tensor"


def test_derive_is_pure_over_traces(catalog):
    def record(op, pass_="forward", produced=False, **features):
        return DispatchedOp(op, pass_, features=features, tensor_inputs=True, produced=produced)

    harness = (record("aten::mul.Tensor"), record("aten::sum.default"))
    traces = {e.id: ProbeTrace(records=harness) for e in catalog}
    traces["histc"] = ProbeTrace(records=(*harness, record("aten::histc.default")))
    traces["kthvalue"] = ProbeTrace(error="RuntimeError: no")
    sigs = derive(catalog, traces)
    assert [o.op for o in sigs["histc"].ops] == ["aten::histc.default"]
    assert "did not run: RuntimeError: no" in sigs["kthvalue"].problem
    assert "no op of its own" in sigs["nll-loss"].problem  # mul and sum are everyone's


def test_the_trace_cache_holds_typed_records_and_a_bad_one_is_traced_again(
    catalog, tmp_path, monkeypatch
):
    monkeypatch.setenv("DETAUDIT_CACHE_DIR", str(tmp_path))
    one = catalog.select(["histc"])
    first = load_signatures(one, torch.__version__)
    assert [o.op for o in first["histc"].ops] == ["aten::histc.default"]
    (path,) = cache_dir().glob("traces-*.json")
    cached = json.loads(path.read_text(encoding="utf-8"))
    histc = [r for r in cached["histc"]["records"] if r["op"] == "aten::histc.default"]
    assert histc and histc[0]["pass"] == "forward" and histc[0]["produced"] is True
    # a record whose op is not a string is no trace: the probe is traced again
    path.write_text(json.dumps({"histc": {"records": [{"op": 1, "pass": "forward"}]}}))
    assert load_signatures(one, torch.__version__) == first
    assert json.loads(path.read_text(encoding="utf-8")) == cached


@pytest.mark.slow  # waits for a hanging probe's timeout
def test_a_crashing_or_hanging_probe_costs_only_its_entry(scan_cache):
    catalog = load_catalog([USER_CATALOG], builtin=False)
    # 4 s count from a worker's hello. A worker's first trace (user-put here) pays
    # about 2 s, 3+ s on a loaded machine, for torch's first dispatch under a mode:
    # the pool gives a first request the worker's start-up time on top.
    traces = trace_probes(catalog, timeout=4)
    assert traces["user-abort"].crashed and traces["user-hang"].timeout
    assert traces["user-abort"].records is None
    sigs = derive(catalog, traces)
    assert "did not run" in sigs["user-abort"].problem
    assert [o.op for o in sigs["user-put"].ops] == ["aten::put.default"]


def test_condition_semantics():
    assert Condition(values=(False,)).test(False) and not Condition(values=(False,)).test(0)
    assert Condition(values=(2,)).test(2) and not Condition(values=(2,)).test(True)
    assert Condition(min=2).test(3) and not Condition(min=2).test(1)
    assert Condition(given=True).test(object()) and not Condition(given=True).test(None)
    assert not Condition(given=True).test("x", present=False)
    assert not Condition(values=("sum",)).test("sum", present=False)


@pytest.mark.parametrize(
    "match,message",
    [
        ("{aten: {mode: {maybe: 1}}}", "expected a value"),
        ("{ops: [put_]}", "ops must be a list like"),
        ("{call: {mode: max}}", "call needs a signature"),
        ("{signature: 'a, b=x', call: {b: 1}}", "must be a literal"),
        ("{signature: 'a, b=1', call: {c: 1}}", "'c' is not a parameter"),
        ("{aten: {'a b': 1}}", "is not an argument name"),
        ("{calls: {}}", "unknown key 'calls'"),
    ],
)
def test_bad_match_field_is_a_catalogue_error(tmp_path, match, message):
    (tmp_path / "p.py").write_text("def probe(device):\n    return None\n")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "raises:\n  - id: mine\n    api: torch.histc\n    condition: c\n    devices: [cuda]\n"
        f"    pass: forward\n    probe: p:probe\n    source: s\n    match: {match}\n"
    )
    with pytest.raises(CatalogError) as info:
        load_catalog([path], builtin=False)
    assert len(info.value.problems) == 1
    assert message in info.value.problems[0] and f"{path}:2: entry 'mine'" in info.value.problems[0]
