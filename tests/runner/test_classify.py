"""Classification is pure: a raw worker outcome in, one status out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detaudit.catalog import Entry
from detaudit.model.observation import Observation
from detaudit.model.report import Status
from detaudit.runner.classify import classify, drift_of
from detaudit.runner.probing import alert_kernel
from detaudit.runner.protocol import Lost, RunAnswer, RunRequest
from detaudit.runner.spec import Planned

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
RAN = Observation("ran", run="strict")


def planned(device: str, expected: str | None = None) -> Planned:
    request = RunRequest(id="e", probe="m:f", device=device, repeat=3, seed=0)
    return Planned(ENTRY, device, request, expected, "docs 2.13" if expected else None)


def raw(strict=RAN, warn_only=RAN, on=("a", "a", "a"), off=("a", "b", "a"), later=()):
    return RunAnswer(
        id="e",
        device="cuda",
        strict=strict,
        warn_only=warn_only,
        later=tuple(later),
        digests_on=tuple(on),
        digests_off=tuple(off),
        seconds=0.5,
    )


def test_alert_is_raises_with_kernel():
    alert = Observation(
        "alert", kernel="put_", message="put_ does not have ...", exc_type="RuntimeError"
    )
    r = classify(planned("cuda", "raises"), raw(strict=alert))
    assert (r.status, r.kernel, r.drift) == (Status.RAISES, "put_", False)
    assert (r.distinct_off, r.distinct_on, r.bits_repeat) == (2, 1, True)
    assert r.strict is alert  # the worker's record, kept as it is


def test_warning_in_strict_mode_is_warns():
    warned = Observation(
        "ran", warnings=("foo does not have a deterministic implementation",), kernel="foo"
    )
    r = classify(planned("cuda", "raises"), raw(strict=warned))
    assert r.status is Status.WARNS and r.drift is True and r.kernel == "foo"


@pytest.mark.parametrize("device,status", [("cuda", Status.CONVERTS), ("cpu", Status.OK)])
def test_clean_run_converts_only_where_the_condition_applies(device, status):
    r = classify(planned(device, "converts" if device == "cuda" else "ok"), raw())
    assert r.status is status and r.drift is False


def test_other_exception_is_error():
    err = Observation("error", exc_type="ValueError", message="bad shape")
    r = classify(planned("cuda", "raises"), raw(strict=err))
    assert r.status is Status.ERROR and r.message == "ValueError: bad shape" and r.drift is None


def test_isolation_outcomes():
    crashed = Lost(id="e", device="cpu", crashed="worker killed by SIGSEGV", stderr="boom")
    r = classify(planned("cpu"), crashed)
    assert (r.status, r.message, r.stderr) == (Status.CRASHED, "worker killed by SIGSEGV", "boom")
    r = classify(planned("cpu"), Lost(id="e", device="cpu", timeout=5.0, seconds=5.1))
    assert r.status is Status.TIMEOUT and r.message == "still running after 5 s; worker killed"
    skipped = RunAnswer(id="e", device="cuda", skip="no CUDA")
    assert classify(planned("cuda"), skipped).status is Status.SKIPPED


def test_repeatability_is_counted():
    r = classify(planned("cuda"), raw(on=("a",), off=("a",)))
    assert r.bits_repeat is None  # one run cannot show that the bits repeat
    assert (r.runs_mode_on, r.distinct_on, r.runs_mode_off, r.distinct_off) == (1, 1, 1, 1)
    r = classify(planned("cuda"), raw(on=("a", "b", "a", "c"), off=("c", "c")))
    assert r.bits_repeat is False
    assert (r.runs_mode_on, r.distinct_on, r.runs_mode_off, r.distinct_off) == (4, 3, 2, 1)
    assert r.digest == "a"  # the first mode-on result's bits
    r = classify(planned("cuda"), raw(on=(), off=()))
    assert (r.distinct_on, r.distinct_off, r.digest) == (None, None, None)


def test_a_later_mode_on_failure_makes_a_clean_run_an_error():
    failed = Observation("error", exc_type="IndexError", message="boom", run="warn-only 2")
    r = classify(planned("cuda", "converts"), raw(later=[failed]))
    assert r.status is Status.ERROR and r.drift is None
    assert r.message == "the strict run ran, but warn-only 2 failed: IndexError: boom"
    assert r.later[0].run == "warn-only 2"
    # The first warn-only run failing counts too.
    failed_first = replace(failed, run="warn-only 1")
    r = classify(planned("cuda", "converts"), raw(warn_only=failed_first))
    assert r.status is Status.ERROR and "warn-only 1 failed" in r.message


def test_a_mode_off_failure_is_kept_without_changing_the_status():
    failed = Observation("error", exc_type="IndexError", message="boom", run="mode-off 1")
    r = classify(planned("cuda", "converts"), raw(off=(), later=[failed]))
    assert r.status is Status.CONVERTS
    assert [o.run for o in r.later] == ["mode-off 1"]
    assert (r.runs_mode_off, r.distinct_off) == (0, None)  # not observed


def test_a_raising_entry_keeps_raises_when_a_warn_only_run_fails():
    alert = Observation("alert", kernel="put_", message="m", exc_type="RuntimeError")
    failed = Observation("error", exc_type="IndexError", message="boom", run="warn-only 1")
    r = classify(planned("cuda", "raises"), raw(strict=alert, warn_only=failed, on=()))
    assert r.status is Status.RAISES and r.warn_only.outcome == "error"


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


# Every alert name with a space among the alertNotDeterministic call sites of torch 2.14.1
# (libtorch_cuda.so of the Linux wheel, libtorch_cpu.dylib of the macOS arm64 one) and the
# Python-side alert_not_deterministic calls; "kthvalue CUDA" is in builds before 2.10.
MULTI_WORD = (
    "median CUDA with indices output",
    "_histc_cuda with floating point input",
    "kthvalue MPS",
    "kthvalue CUDA",
)
_TAIL = (
    " does not have a deterministic implementation, but you set "
    "'torch.use_deterministic_algorithms(True)'."
)


@pytest.mark.parametrize("name", MULTI_WORD)
@pytest.mark.parametrize(
    "wrap",
    [
        "{}",  # str(RuntimeError) and str(UserWarning) of the alert itself
        "{}\nException raised from alertNotDeterministic at Context.cpp:1 (most recent call first)",
        "backend='inductor' raised:\nRuntimeError: {}",  # an alert quoted by a compile error
        "UserWarning: {}",
    ],
)
def test_alert_kernel_is_the_whole_alert_name(name, wrap):
    # the last word ("output", "input", "MPS", "CUDA") was reported before
    assert alert_kernel(wrap.format(name + _TAIL)) == name
