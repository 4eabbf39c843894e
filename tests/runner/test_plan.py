"""The plan: one request per (entry, device), each with what the docs expect there, attached once."""

from __future__ import annotations

import pytest

from detaudit.catalog import load_catalog
from detaudit.errors import EnvironmentUnsupported, UsageError
from detaudit.model.report import Status
from detaudit.runner.spec import check_timeout, plan, resolve_devices


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_one_planned_probe_per_entry_and_device_in_catalogue_order(catalog):
    planned = plan(catalog, ("cpu", "cuda"), "2.13.0", repeat=4, seed=7)
    assert [p.key for p in planned] == [(e.id, d) for e in catalog for d in ("cpu", "cuda")]
    first = planned[0]
    assert first.request.id == first.entry.id and first.request.device == first.device
    assert (first.request.repeat, first.request.seed, first.request.cost) == (4, 7, None)
    assert first.request.probe == first.entry.probe


def test_expectations_come_from_the_docs_of_this_torch(catalog):
    planned = {p.key: p for p in plan(catalog, ("cpu", "cuda"), "2.13.0", repeat=1, seed=0)}
    put = planned[("put-accumulate-false", "cpu")]
    assert (put.expected, put.expected_from) == (Status.RAISES, "docs 2.13")
    assert planned[("index-add", "cuda")].expected is Status.CONVERTS
    assert planned[("index-add", "cpu")].expected is Status.OK  # the condition names CUDA only
    # put_ with accumulate=True is split by device: the other entry makes the claim.
    split = planned[("put-accumulate-true-cuda", "cpu")]
    assert split.expected is None and split.expected_from == "see put-accumulate-true-cpu"


def test_a_torch_older_than_every_docs_version_expects_nothing(catalog):
    planned = plan(catalog, ("cpu",), "1.8.0", repeat=1, seed=0)
    assert all(p.expected is None for p in planned)


def test_devices_and_timeouts():
    assert resolve_devices("auto", ("cpu",)) == ("cpu",)
    assert resolve_devices("auto", ("cpu", "cuda")) == ("cpu", "cuda")
    assert resolve_devices("auto", ("cpu", "mps")) == ("cpu", "mps")
    assert resolve_devices("auto", ("mps", "cuda", "cpu")) == ("cpu", "cuda", "mps")
    assert resolve_devices("all", ("cpu",)) == ("cpu", "cuda", "mps")
    assert resolve_devices("mps", ("cpu", "mps")) == ("mps",)
    from detaudit.cli.wording import worded

    with pytest.raises(EnvironmentUnsupported, match=r"^device cuda: .* use device cpu") as bad:
        resolve_devices("cuda", ("cpu",))
    assert worded(bad.value).startswith("--device cuda: ")
    assert worded(bad.value).endswith("or use --device cpu")
    with pytest.raises(EnvironmentUnsupported, match=r"^device mps: .*mps\.is_available") as bad:
        resolve_devices("mps", ("cpu", "cuda"))
    assert bad.value.option == "device"
    with pytest.raises(UsageError):
        resolve_devices("tpu", ("cpu", "cuda"))
    check_timeout(0.5)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(UsageError):
            check_timeout(bad)


def test_an_entry_that_compiles_runs_only_under_compile(catalog):
    compiles = [e.id for e in catalog if e.compiles]
    assert compiles == ["flex-attention-compiled-forward", "flex-attention-compiled-backward"]
    eager = {p.key: p.request for p in plan(catalog, ("cpu",), "2.13.0", repeat=1, seed=0)}
    request = eager[("flex-attention-compiled-forward", "cpu")]
    assert request.skip and "audit --compile" in request.skip and request.compile is None
    assert eager[("index-add", "cpu")].skip is None
    compiled = plan(catalog, ("cpu",), "2.13.0", repeat=1, seed=0, compile="inductor")
    requests = {p.key: p.request for p in compiled}
    # With --compile it runs, and is its own compiled observation (no compile of a compile).
    request = requests[("flex-attention-compiled-forward", "cpu")]
    assert request.skip is None and request.compile is None
    assert requests[("index-add", "cpu")].compile == "inductor"
