"""A real audit of the built-in catalogue on this machine's CPU, through the Python API."""

from __future__ import annotations

import json
import os

import pytest
import torch

from detaudit import Report, Status, audit
from detaudit.render import RENDERERS
from detaudit.torchstate import snapshot

# The whole built-in catalogue audited on this CPU: the longest test there is.
pytestmark = pytest.mark.slow

CUDA_ONLY_PROBED = ("avg-pool3d-backward", "index-add", "histc", "conv2d", "nll-loss")


@pytest.fixture(scope="module")
def report() -> Report:
    return audit(device="cpu")


def result(report: Report, entry_id: str):
    (found,) = [r for r in report.results if r.id == entry_id and r.device == "cpu"]
    return found


@pytest.mark.parametrize(
    "entry_id,kernel",
    [
        ("put-accumulate-false", "put_"),
        ("max-unpool2d", "max_unpooling2d_forward_out"),
        ("max-unpool3d", "max_unpooling3d_forward_out"),
    ],
)
def test_raises_on_cpu_with_kernel(report, entry_id, kernel):
    r = result(report, entry_id)
    assert r.status is Status.RAISES
    assert r.kernel == kernel
    assert "does not have a deterministic implementation" in r.message
    # warn-only mode ran the op and warned, naming the same kernel
    assert r.warn_only.outcome == "ran"
    assert r.warn_only.kernel == kernel


@pytest.mark.parametrize(
    "entry_id",
    [
        "index-copy",
        "index-put-accumulate-true-cpu",
        "put-accumulate-true-cpu",
        "getitem-index-list-backward",
    ],
)
def test_converts_on_cpu(report, entry_id):
    r = result(report, entry_id)
    assert r.status is Status.CONVERTS
    assert r.kernel is None
    assert r.bits_repeat is True
    assert r.runs_mode_on == 5 and r.runs_mode_off == 5  # the default number of runs
    assert r.distinct_on == 1


def test_cuda_only_entries_are_ok_or_skipped_on_cpu(report):
    from detaudit.catalog import load_catalog

    cuda_only = {e.id for e in load_catalog() if e.devices == ("cuda",)}
    assert set(CUDA_ONLY_PROBED) <= cuda_only
    for r in report.results:
        if r.id in cuda_only:
            assert r.status in (Status.OK, Status.SKIPPED), (r.id, r.status)


@pytest.mark.parametrize(
    "entry_id",
    [
        "grid-sample-3d-backward",
        "interpolate-bilinear-antialias-backward",
        "interpolate-bicubic-antialias-backward",
        "cublas-mm-workspace-unset",
        "cublas-bmm-workspace-4096-8",
        "cublas-linear-workspace-unset",
    ],
)
def test_source_driven_entries_run_ok_on_cpu(report, entry_id):
    # CUDA-only conditions: on the CPU the probe runs without an alert and returns bits
    r = result(report, entry_id)
    assert r.status is Status.OK, (r.status, r.message)
    assert r.strict.outcome == "ran" and r.kernel is None
    assert r.runs_mode_on == 5 and r.digest


def test_every_entry_has_one_cpu_result(report):
    from detaudit.catalog import load_catalog

    assert [r.id for r in report.results] == [e.id for e in load_catalog()]
    assert report.devices == ("cpu",)
    assert all(r.device == "cpu" for r in report.results)


def test_no_result_errors_on_cpu(report):
    bad = [
        (r.id, r.status.value, r.message)
        for r in report.results
        if r.status in (Status.ERROR, Status.CRASHED, Status.TIMEOUT)
    ]
    assert bad == []


def test_expected_and_drift_are_consistent(report):
    for r in report.results:
        if r.expected is None or not r.status.observed:
            assert r.drift is None
        else:
            assert r.drift == (r.status.value != r.expected)


def test_environment_describes_this_torch(report):
    env = report.environment
    assert env.torch == torch.__version__
    assert env.torch_git == torch.version.git_version
    assert env.torch_path == os.path.dirname(torch.__file__)  # the torch the workers imported
    assert env.numpy is not None
    assert env.catalog_hash and len(env.catalog_hash) == 16
    from detaudit.cli.output import report_stem

    assert report_stem(report) == f"detaudit-torch{torch.__version__}-cpu"


def test_json_round_trips(report):
    text = RENDERERS["report"]["json"].render(report)
    again = Report.from_dict(json.loads(text))
    assert again == report
    assert RENDERERS["report"]["json"].render(again) == text


def test_api_leaves_callers_torch_flags_alone():
    """Neither way: the caller's flags stay as they were, and do not reach the audit."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True  # something a caller might have set
    try:
        before = snapshot()
        report = audit(device="cpu", only=["put-accumulate-false", "index-copy"], repeat=1)
        assert snapshot() == before
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.backends.cudnn.benchmark = False
    statuses = {r.id: r.status for r in report.results}
    # The audit ran under its own strict mode although the caller's was off.
    assert statuses == {"put-accumulate-false": Status.RAISES, "index-copy": Status.CONVERTS}


def test_api_keeps_callers_deterministic_mode_on():
    """A caller in warn-only mode keeps it, and the audit's strict run still raises."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        before = snapshot()
        report = audit(device="cpu", only=["put-accumulate-false"], repeat=1)
        assert snapshot() == before
    finally:
        torch.use_deterministic_algorithms(False)
    (result,) = report.results
    assert result.status is Status.RAISES  # not "warns": the caller's warn_only did not leak
    assert result.warn_only is not None and result.warn_only.outcome == "ran"


# --------------------------------------------------------------------------- attention (observed)

SDPA_RUN_ON_CPU = (
    "sdpa-math-forward",
    "sdpa-math-backward",
    "sdpa-flash-forward",
    "sdpa-flash-backward",
    "sdpa-flash-mask-forward",
    "sdpa-flash-mask-backward",
)


@pytest.mark.parametrize("entry_id", SDPA_RUN_ON_CPU)
def test_sdpa_math_and_cpu_flash_run_and_classify(report, entry_id):
    r = result(report, entry_id)
    # observed: nothing documents a deterministic implementation, so no alert is `ok`
    assert r.status is Status.OK, (r.status, r.message)
    assert r.expected is None and r.drift is None
    assert r.group == "observed"
    assert r.runs_mode_on == 5 and r.distinct_on is not None


@pytest.mark.parametrize(
    "entry_id", ["sdpa-efficient-backward", "sdpa-cudnn-forward", "sdpa-cudnn-mask-backward"]
)
def test_a_backend_without_a_cpu_kernel_is_skipped_with_torchs_reason(report, entry_id):
    r = result(report, entry_id)
    assert r.status is Status.SKIPPED
    assert r.message.startswith("SDPBackend.")
    assert "cannot run float32" in r.message and "on cpu" in r.message
    # torch's own words, after "torch:"
    assert "torch: No viable backend for scaled_dot_product_attention" in r.message


def test_flex_attention_on_cpu(report):
    assert result(report, "flex-attention-eager-forward").status is Status.OK
    backward = result(report, "flex-attention-eager-backward")
    assert backward.status is Status.SKIPPED
    assert "torch: FlexAttention does not support backward on CPU" in backward.message
    compiled = result(report, "flex-attention-compiled-forward")
    assert compiled.status is Status.SKIPPED
    assert "run it with `detaudit audit --compile`" in compiled.message


def test_the_report_shows_the_observed_group(report):
    markdown = RENDERERS["report"]["md"].render(report)
    assert "### observed (not in the docs: known only by running it)" in markdown
    assert "### observed (seed group)" not in markdown
    html = RENDERERS["report"]["html"].render(report)
    assert "not in the docs: known only by running it</span>" in html


def test_every_backward_entry_is_observed_two_ways_and_they_agree_on_cpu(report):
    backward = [r for r in report.results if r.pass_.value == "backward" and r.status.observed]
    assert backward
    assert all(r.backward_only is not None for r in backward)
    # A clean backward-only run is named as the strict one is: ``ok`` for an observed entry
    # (no docs claim a deterministic implementation), never ``converts``.
    differ = [(r.id, r.status.value, r.backward_only_status) for r in backward if r.two_ways_differ]
    assert differ == []


def test_the_terminal_summary_ends_on_the_raises_at_80_by_24(report):
    """What ``detaudit audit`` leaves on an 80x24 terminal names every raise (issue 23)."""
    from rich.console import Console

    from detaudit.cli.console import summary

    console = Console(width=80, highlight=False, soft_wrap=False)
    with console.capture() as captured:
        summary(console, report)
    last = [*captured.get().splitlines(), *(["wrote PATH"] * 3)][-24:]  # json, md, html
    raising = [r for r in report.results if r.status is Status.RAISES]
    assert raising
    for r in raising:
        assert any(line.split()[:1] == [r.id] and r.kernel in line for line in last), r.id
