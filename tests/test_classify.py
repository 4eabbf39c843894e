"""Classification is pure: a raw worker outcome in, one status out."""

from __future__ import annotations

import pytest

from detaudit.catalog import Entry
from detaudit.results import Status
from detaudit.runner.classify import classify, drift_of
from detaudit.runner.worker import alert_kernel

ENTRY = Entry(
    id="e",
    api="torch.x",
    group="raises",
    condition="c",
    devices=("cuda",),
    pass_="forward",
    probe="m:f",
    source="s",
)
RAN = {"outcome": "ran", "warnings": []}


def raw(strict=RAN, warn_only=RAN, on=("a", "a", "a"), off=("a", "b", "a")):
    return {
        "strict": strict,
        "warn_only": warn_only,
        "digests_on": list(on),
        "digests_off": list(off),
        "seconds": 0.5,
    }


def test_alert_is_raises_with_kernel():
    alert = {
        "outcome": "alert",
        "kernel": "put_",
        "message": "put_ does not have ...",
        "exc_type": "RuntimeError",
    }
    r = classify(ENTRY, "cuda", raw(strict=alert), expected="raises")
    assert (r.status, r.kernel, r.drift) == (Status.RAISES, "put_", False)
    assert r.varies_without_mode is True and r.repeatable is True


def test_warning_in_strict_mode_is_warns():
    warned = {
        "outcome": "ran",
        "warnings": ["foo does not have a deterministic implementation"],
        "kernel": "foo",
    }
    r = classify(ENTRY, "cuda", raw(strict=warned), expected="raises")
    assert r.status is Status.WARNS and r.drift is True and r.kernel == "foo"


@pytest.mark.parametrize("device,status", [("cuda", Status.CONVERTS), ("cpu", Status.OK)])
def test_clean_run_converts_only_where_the_condition_applies(device, status):
    r = classify(ENTRY, device, raw(), expected="converts" if device == "cuda" else "ok")
    assert r.status is status and r.drift is False


def test_other_exception_is_error():
    err = {"outcome": "error", "exc_type": "ValueError", "message": "bad shape"}
    r = classify(ENTRY, "cuda", raw(strict=err), expected="raises")
    assert r.status is Status.ERROR and r.message == "ValueError: bad shape" and r.drift is None


def test_isolation_outcomes():
    assert classify(ENTRY, "cpu", {"crashed": "worker killed by SIGSEGV"}).status is Status.CRASHED
    assert classify(ENTRY, "cpu", {"timeout": 5.0, "seconds": 5.1}).status is Status.TIMEOUT
    assert classify(ENTRY, "cuda", {"skip": "no CUDA"}).status is Status.SKIPPED


def test_repeatability_needs_two_samples():
    r = classify(ENTRY, "cuda", raw(on=("a",), off=("a",)))
    assert r.repeatable is None and r.varies_without_mode is None
    r = classify(ENTRY, "cuda", raw(on=("a", "b"), off=("c", "c")))
    assert r.repeatable is False and r.varies_without_mode is False


def test_drift_of():
    assert drift_of(Status.CONVERTS, "raises") is True
    assert drift_of(Status.RAISES, "raises") is False
    assert drift_of(Status.RAISES, None) is None
    assert drift_of(Status.ERROR, "raises") is None


@pytest.mark.parametrize(
    "message,kernel",
    [
        ("put_ does not have a deterministic implementation, but you set ...", "put_"),
        (
            "avg_pool3d_backward_cuda does not have a deterministic implementation...",
            "avg_pool3d_backward_cuda",
        ),
        (
            (
                "Deterministic behavior was enabled with either `torch.use_deterministic_algorithms(True)` or "
                "`at::Context::setDeterministicAlgorithms(true)`, but this operation is not deterministic because "
                "it uses CuBLAS and you have CUDA >= 10.2."
            ),
            "cublas",
        ),
        ("The size of tensor a (3) must match the size of tensor b (4)", None),
    ],
)
def test_alert_kernel(message, kernel):
    assert alert_kernel(message) == kernel
