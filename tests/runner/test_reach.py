"""Entries that name the aten op they mean to reach (``reaches``): decomposed, or not.

On CUDA, torch.nn.functional sends interpolate bilinear/trilinear and replicate
padding (and, from torch 2.13, max_pool3d with return_indices=True) to a Python
decomposition when the mode is on, so the strict run never dispatches the
kernel. The condition is CUDA-only (``not input.is_cpu``, ``input.is_cuda``),
so on CPU every such entry reaches its op. A user probe that takes a
decomposition under the mode on CPU shows the flag; tests/test_cuda_reach.py
checks the real thing on a GPU.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from detaudit import audit
from detaudit.catalog import load_catalog
from detaudit.cli.console import reach_summary
from detaudit.model.report import ProbeResult, Status
from detaudit.render import RENDERERS
from detaudit.runner import reach
from detaudit.runner.observe import handle
from detaudit.runner.protocol import RunRequest

from ..conftest import DATA

REACH = DATA / "user" / "reach.yaml"
DECOMPOSED_ON_CUDA = [
    "interpolate-bilinear-backward",
    "interpolate-trilinear-backward",
    "replication-pad1d-backward",
    "replication-pad2d-backward",
    "replication-pad3d-backward",
    "max-pool3d-return-indices-backward",
]


@pytest.fixture(scope="module")
def user():
    report = audit(catalogs=[REACH], builtin=False, device="cpu", repeat=2)
    return report, {r.id: r for r in report.results}


def test_a_probe_that_decomposes_under_the_mode_is_flagged(user):
    r = user[1]["user-fake-decomposition"]
    assert r.status is Status.CONVERTS  # no alert: a status alone would hide the decomposition
    assert r.unreached == ("aten::upsample_bilinear2d_backward",)
    assert r.reached_without_mode is True and r.decomposed
    assert "aten::_unsafe_index" in r.instead  # the decomposition's ops, not the shared ones
    assert "aten::randn" not in r.instead
    assert r.reach_note.startswith("decomposed under the mode: aten::upsample_bilinear2d_backward")


def test_an_op_run_neither_way_is_not_reached_not_decomposed(user):
    r = user[1]["user-never-reaches"]
    assert r.unreached == ("aten::upsample_bicubic2d_backward",)
    assert r.reached_without_mode is False and not r.decomposed
    assert r.reach_note == (
        "not reached: the probe did not dispatch aten::upsample_bicubic2d_backward "
        "with the mode on or off"
    )


def test_an_op_the_strict_run_dispatched_gives_no_flag(user):
    r = user[1]["user-reaches"]
    assert (r.unreached, r.instead, r.reached_without_mode, r.reach_note) == ((), (), None, None)


def test_the_flag_is_in_markdown_html_json_and_the_summary(user):
    report, _ = user
    note = "decomposed under the mode: aten::upsample_bilinear2d_backward did not run"
    markdown = RENDERERS["report"]["md"].render(report)
    assert "## Not reached under the mode (2)" in markdown and note in markdown
    assert "**converts** (drift) (decomposed under the mode)" in markdown  # a raises entry
    html = RENDERERS["report"]["html"].render(report)
    assert "Not reached under the mode (2)" in html and note in html and "↯" in html
    console = Console(width=400)
    with console.capture() as captured:
        reach_summary(console, report)
    assert "not reached under the mode: 2" in captured.get() and note in captured.get()
    data = report.results[0].to_dict()
    again = ProbeResult.from_dict(data)
    assert again.unreached == report.results[0].unreached and again.decomposed


def test_results_without_reaches_keep_their_json_shape():
    r = ProbeResult("x", "torch.x", "raises", "c", "cpu", "forward", Status.OK)
    assert not {"unreached", "instead", "reached_without_mode"} & set(r.to_dict())


@pytest.mark.parametrize("entry_id", DECOMPOSED_ON_CUDA)
def test_on_cpu_the_builtin_entries_reach_their_kernel(entry_id):
    """The decomposition is CUDA-only: on CPU the strict run dispatches the named op."""
    entry = load_catalog().get(entry_id)
    assert entry.reaches
    answer = handle(
        RunRequest(
            id=entry.id,
            probe=entry.probe,
            probe_args=entry.args_dict() or None,
            device="cpu",
            repeat=2,
            seed=0,
            reaches=entry.reaches,
        )
    )
    assert answer.ops is not None and set(answer.ops) == {"strict", "mode-off 1"}
    for op in entry.reaches:
        assert op in answer.ops["strict"] and op in answer.ops["mode-off 1"]
    assert reach.unreached(entry.reaches, answer.ops["strict"]) == ()


@pytest.mark.slow  # an audit of its own
def test_on_cpu_an_audit_of_them_carries_no_flag():
    report = audit(device="cpu", only=DECOMPOSED_ON_CUDA, repeat=2)
    for r in report.results:
        assert r.status is Status.OK, (r.id, r.status, r.message)  # CUDA-only conditions
        assert r.reach_note is None and not r.unreached, (r.id, r.reach_note)


def test_a_request_without_reaches_records_nothing():
    answer = handle(
        RunRequest(
            id="x", probe="detaudit.probes.sampling:interpolate_backward", probe_args={"mode": "bilinear"},
            device="cpu", repeat=1, seed=0,
        )
    )
    assert answer.ops is None


def test_reach_comparisons():
    assert reach.unreached(["aten::a", "aten::b"], ["aten::b"]) == ("aten::a",)
    assert reach.unreached(["aten::a"], None) == ()
    assert reach.instead(["aten::x", "aten::a"], ["aten::a"]) == ("aten::x",)
    assert reach.instead(["aten::x"], None) == ("aten::x",)


def test_a_torch_that_cannot_record_records_nothing_rather_than_flagging(monkeypatch):
    monkeypatch.setattr(reach, "available", lambda: False)  # torch before TorchDispatchMode
    answer = handle(
        RunRequest(
            id="x", probe="detaudit.probes.sampling:interpolate_backward", probe_args={"mode": "bilinear"},
            device="cpu", repeat=1, seed=0, reaches=("aten::upsample_bilinear2d_backward",),
        )
    )
    assert answer.ops is None and answer.strict.outcome == "ran"
