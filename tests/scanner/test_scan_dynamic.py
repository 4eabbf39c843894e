"""The dynamic scan finds the catalogued ops a model runs, with their lines and what raises where.

tests/data/scan/model.py runs five catalogued ops and marks the line each
one is reported at; tests/data/reports/scan-gpu.json is a HAND-MADE
CUDA-like report (statuses written to look like an H100 audit, not measured).
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import pytest
import torch

import detaudit
from detaudit import torchstate
from detaudit.render.scan import render_json, render_text, summary
from detaudit.scanner.matching import Matcher
from detaudit.scanner.records import ScanResult

from ..conftest import DATA, run_cli

MODEL = DATA / "scan" / "model.py"
SCAN_GPU = DATA / "reports" / "scan-gpu.json"
FIXTURE_GPU = DATA / "reports" / "fixture-gpu.json"
FIVE = {
    "adaptive-avg-pool2d-backward",
    "interpolate-bilinear-backward",
    "index-add",
    "put-accumulate-false",
    "embedding-bag-max-backward",
}


def marked_lines(path: Path, kinds: tuple[str, ...]) -> dict[str, int]:
    """entry -> line number, from the ``# KIND: ENTRY`` markers of ``path``."""
    lines = {}
    for number, text in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"# (\w+): ([\w.-]+)$", text)
        if match and match.group(1) in kinds:
            lines[match.group(2)] = number
    return lines


def load_model():
    spec = importlib.util.spec_from_file_location("scan_model", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def scanned(scan_cache, model):
    before = torchstate.snapshot()
    with detaudit.scan(reports=[SCAN_GPU, FIXTURE_GPU]) as found:
        model.run()
    return found.result, before, torchstate.snapshot()


def by_entry(result: ScanResult) -> dict[str, object]:
    return {hit.entry: hit for hit in result.hits}


def test_lists_the_five_ops_at_their_lines(scanned):
    result, _, _ = scanned
    hits = by_entry(result)
    assert set(hits) == FIVE
    expected = marked_lines(MODEL, ("dynamic", "both"))
    for entry, hit in hits.items():
        assert Path(hit.file).resolve() == MODEL.resolve(), hit
        assert hit.line == expected[entry], (entry, hit.line)
        assert hit.device == "cpu" and hit.calls == 1


def test_backward_ops_point_at_their_forward_line(scanned):
    hits = by_entry(scanned[0])
    backward = {e for e, h in hits.items() if h.pass_ == "backward"}
    assert backward == {
        "adaptive-avg-pool2d-backward",
        "interpolate-bilinear-backward",
        "embedding-bag-max-backward",
    }
    assert {hits[e].located for e in backward} == {"forward"}
    assert hits["adaptive-avg-pool2d-backward"].op == "aten::_adaptive_avg_pool2d_backward"
    assert hits["index-add"].op == "aten::index_add_" and hits["index-add"].located == "call"


def test_put_raises_here_and_the_rest_does_not(scanned):
    result, _, _ = scanned
    hits = by_entry(result)
    assert hits["put-accumulate-false"].here == "raises"
    assert hits["put-accumulate-false"].kernel == "put_"
    assert {e for e, h in hits.items() if h.here == "ok"} == FIVE - {"put-accumulate-false"}
    assert [h.entry for h in result.raising_here()] == ["put-accumulate-false"]


def test_reports_say_what_raises_on_their_gpu(scanned):
    result, _, _ = scanned
    assert [r.device for r in result.reports] == ["cuda", "cuda"]
    on_h100 = {h.entry for h in result.raising_in(0)}
    assert on_h100 == FIVE - {"index-add"}
    index_add = by_entry(result)["index-add"]
    assert [(e.report, e.status) for e in index_add.elsewhere] == [(0, "converts"), (1, None)]
    # the other fixture lists only put_ among the five
    assert {h.entry for h in result.raising_in(1)} == {"put-accumulate-false"}
    lines = summary(result)
    assert (
        lines[0].startswith("scanned on cpu (torch ")
        and "1 op raises here: put-accumulate-false" in lines[0]
    )
    assert lines[1].startswith(
        "on torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90) [1]: these 4 ops raise:"
    )


def test_user_flags_are_unchanged(scanned):
    _, before, after = scanned
    # entering a TorchDispatchMode imports torch._dynamo, and with it Inductor's config:
    # a flag the snapshot did not hold before may appear, at torch's default
    assert {k: after[k] for k in before} == before
    assert after.get("inductor.deterministic", False) is False


def test_strict_mode_of_the_user_is_kept_and_the_code_runs_to_the_end(scan_cache, model):
    saved = torchstate.snapshot()
    try:
        torchstate.set_deterministic_algorithms(True, warn_only=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with detaudit.scan() as found:
                model.run()  # put_ raises in strict mode: under the scan it warns
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torchstate.restore(saved)
    assert "put-accumulate-false" in {h.entry for h in found.result.raising_here()}
    # the user asked for the alerts themselves, so they still see them
    assert any(
        "put_ does not have a deterministic implementation" in str(w.message) for w in caught
    )


def test_strict_mode_turned_on_by_the_scanned_code_does_not_stop_it(scan_cache, model):
    saved = torchstate.snapshot()
    try:
        with detaudit.scan() as found:
            torchstate.set_deterministic_algorithms(True, warn_only=False)  # as the code might
            model.run()
        after = torchstate.snapshot()
    finally:
        torchstate.restore(saved)
    assert after["use_deterministic_algorithms"] == saved["use_deterministic_algorithms"]
    assert [h.entry for h in found.result.raising_here()] == ["put-accumulate-false"]


def test_alert_in_backward_is_attributed_to_its_op(scan_cache):
    class Scatter(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            out = torch.zeros(16)
            out.put_(torch.tensor([1, 1]), grad[:2])  # the alert
            return out

    x = torch.randn(16, requires_grad=True)
    with detaudit.scan() as found:
        Scatter.apply(x).sum().backward()
        torch.zeros(4).index_add_(0, torch.tensor([0, 0]), torch.ones(2))  # no alert on CPU
    alerts = [h for h in found.hits if h.kernel]
    assert len(alerts) == 1
    hit = alerts[0]
    # put-accumulate-false is a forward entry: in backward, put_ is an op no entry
    # matches, reported because it alerted
    assert (hit.entry, hit.op, hit.pass_, hit.here) == (None, "aten::put_", "backward", "raises")
    assert hit.file.endswith("test_scan_dynamic.py")
    assert "out.put_(" in Path(__file__).read_text().splitlines()[hit.line - 1]


@pytest.mark.slow  # scans that run a script in a process of their own
def test_an_uncatalogued_op_that_alerts_is_a_hit(scan_cache, model, tmp_path):
    (tmp_path / "mine.py").write_text(
        "import torch\n\ndef histc(device):\n    return torch.histc(torch.randn(64, device=device))\n"
    )
    (tmp_path / "mine.yaml").write_text(
        "raises:\n  - id: my-histc\n    api: torch.histc\n    condition: on CUDA\n"
        "    devices: [cuda]\n    pass: forward\n    probe: mine:histc\n    source: test\n"
    )
    with detaudit.scan(catalogs=[tmp_path / "mine.yaml"], builtin=False) as found:
        model.run()
    (hit,) = found.hits
    assert (hit.entry, hit.op, hit.here, hit.kernel) == (None, "aten::put_", "raises", "put_")
    assert hit.line == marked_lines(MODEL, ("both",))["put-accumulate-false"]


def test_json_round_trip(scanned):
    result = scanned[0]
    assert ScanResult.from_dict(json.loads(render_json(result))) == result


# --------------------------------------------------------------------------- command line


@pytest.mark.slow  # scans that run a script in a process of their own
def test_cli_runs_a_script_with_its_arguments(scan_cache):
    result = run_cli(
        "scan", "--report", str(SCAN_GPU), "--fail-on", "raises", str(MODEL), "a1", "b2"
    )
    assert result.returncode == 1, result.stderr
    assert "model ran: " in result.stdout and result.stdout.split("model ran: ")[1].split()[
        1:3
    ] == ["a1", "b2"]
    assert "1 op raises here: put-accumulate-false" in result.stdout
    assert "these 4 ops raise: adaptive-avg-pool2d-backward" in result.stdout


@pytest.mark.slow  # scans that run a script in a process of their own
def test_cli_python_form_json_output_and_fail_on_none(scan_cache, tmp_path):
    out = tmp_path / "scan.json"
    result = run_cli(
        "scan", "--format", "json", "-o", str(out), "--fail-on", "none", "--", "python", str(MODEL)
    )
    assert result.returncode == 0, result.stderr
    data = ScanResult.from_dict(json.loads(out.read_text()))
    assert {h.entry for h in data.hits} == FIVE


@pytest.mark.slow  # scans that run a script in a process of their own
def test_cli_bad_input_is_exit_2_in_one_line(scan_cache, tmp_path):
    failing = tmp_path / "fails.py"
    failing.write_text(
        "import torch\ntorch.zeros(3).put_(torch.tensor([0, 0]), torch.ones(2))\nraise ValueError('boom')\n"
    )
    result = run_cli("scan", "--fail-on", "none", str(failing))
    assert result.returncode == 2
    assert "ValueError: boom" in result.stderr and "exited with code 1" in result.stderr
    assert "put-accumulate-false" in result.stdout  # what ran before the failure is reported
    for args in (
        ["nope.py"],
        ["--report", str(tmp_path / "nope.json"), str(MODEL)],
        ["--", "python", "-X"],
    ):
        result = run_cli("scan", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_mode_matches_by_matcher_match(scan_cache, model, monkeypatch):
    """One implementation of matching: what Matcher.match answers is what the scan reports."""
    answers = []
    real = Matcher.match

    def spy(self, op, pass_, get):
        entries = real(self, op, pass_, get)
        answers.append((pass_, entries))
        return entries

    monkeypatch.setattr(Matcher, "match", spy)
    with detaudit.scan() as found:
        model.run()
    assert {h.entry for h in found.hits} == FIVE
    assert {(h.pass_, h.entries) for h in found.hits} == {a for a in answers if a[1]}

    def stub(self, op, pass_, get):
        return ("index-add",) if (op, pass_) == ("aten::put.default", "forward") else ()

    monkeypatch.setattr(Matcher, "match", stub)
    with detaudit.scan() as found:
        model.run()
    assert [(h.entries, h.op, h.kernel) for h in found.hits] == [
        (("index-add",), "aten::put_", "put_")
    ]


CHECKPOINTED = DATA / "checkpoint" / "checkpointed.py"  # not in scan/: the static tests read that


@pytest.mark.parametrize("kind", ["reentrant", "nonreentrant", "sequential"])
def test_checkpoint_recomputation_is_not_a_backward_op(scan_cache, kind):
    # scatter_add recomputed in backward used to show as gather-nd-backward (gather's
    # backward is a scatter_add) at the line of the node being run
    spec = importlib.util.spec_from_file_location("scan_checkpointed", CHECKPOINTED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with detaudit.scan() as found:
        module.run(kind)
    lines = marked_lines(CHECKPOINTED, ("forward", "backward"))
    seen = {(h.entry, h.pass_, h.line, h.located, h.calls) for h in found.hits}
    assert seen == {
        ("scatter-add-nd", "forward", lines["scatter-add-nd"], "call", 1),
        (
            "interpolate-bilinear-backward",
            "backward",
            lines["interpolate-bilinear-backward"],
            "forward",
            1,
        ),
    }
    assert all(Path(h.file).resolve() == CHECKPOINTED.resolve() for h in found.hits)


LIBRARY = '''
import torch


def add_rows(x, index):
    return x.index_add(0, index, x)  # library line
'''
USER = '''
import torch
import fakelib


def step():
    x = torch.ones(3, 2)
    return fakelib.add_rows(x, torch.tensor([0, 0, 1]))  # user line
'''


def _line(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def test_a_hit_in_a_library_names_the_users_call_site(scan_cache, tmp_path, monkeypatch):
    from detaudit.frames import Frames
    from detaudit.scanner import dynamic

    library, program = tmp_path / "site", tmp_path / "program"
    library.mkdir()
    program.mkdir()
    (library / "fakelib.py").write_text(LIBRARY)
    (program / "user.py").write_text(USER)
    monkeypatch.syspath_prepend(str(library))
    monkeypatch.syspath_prepend(str(program))
    monkeypatch.chdir(tmp_path)
    # the temporary folder counts as an installed library, like site-packages
    monkeypatch.setattr(dynamic, "Frames", lambda: Frames(library=[library]))
    import user

    with detaudit.scan() as found:
        user.step()
    (hit,) = [h for h in found.hits if h.entry == "index-add"]
    assert hit.where == f"site/fakelib.py:{_line(LIBRARY, 'library line')}"
    assert hit.via == f"program/user.py:{_line(USER, 'user line')}"
    assert f"{hit.where} via {hit.via}" in render_text(found.result)
    data = found.result.to_dict()
    assert ScanResult.from_dict(data).hits == found.result.hits
    # without the folder among the libraries, its line is the user's own: no via
    monkeypatch.setattr(dynamic, "Frames", Frames)
    with detaudit.scan() as found:
        user.step()
    (hit,) = [h for h in found.hits if h.entry == "index-add"]
    assert hit.via is None and "via" not in hit.to_dict()


def test_scans_written_before_via_still_load(scanned):
    result, _, _ = scanned
    old = result.to_dict()
    for hit in old["hits"]:
        hit.pop("via", None)
    assert all(h.via is None for h in ScanResult.from_dict(old).hits)


def test_a_report_without_a_result_gives_its_torchs_docs_claim(scanned):
    result, _, _ = scanned
    (seen,) = [e for e in by_entry(result)["index-add"].elsewhere if e.report == 1]
    assert seen.status is None
    # torch 2.11: its own docs are read now (every minor release has a claims key)
    assert (seen.claim, seen.claim_from) == ("converts", "docs 2.11")


# ------------------------------------------------- a call several entries match (issue 18)

MM_ENTRIES = ("cublas-mm-workspace-4096-8", "cublas-mm-workspace-unset")


def _with_results(tmp_path, *added: tuple[str, str, str, str | None]) -> Path:
    """scan-gpu.json plus HAND-MADE cuda results: (id, api, status, kernel) each."""
    from dataclasses import replace

    from detaudit.model.report import Status
    from detaudit.model.reportfile import load_report
    from detaudit.render import RENDERERS

    report = load_report(SCAN_GPU)
    base = next(r for r in report.results if r.device == "cuda" and r.id == "index-add")
    more = tuple(
        replace(
            base, id=entry, api=api, status=Status(status), kernel=kernel, expected=None,
            drift=None,
        )
        for entry, api, status, kernel in added
    )  # fmt: skip
    path = tmp_path / "hand-made-gpu.json"
    both = replace(report, results=report.results + more)
    path.write_text(RENDERERS["report"]["json"].render(both))
    return path


@pytest.fixture
def cublas_report(tmp_path) -> Path:
    """Both torch.mm entries: unset raises, :4096:8 converts."""
    return _with_results(
        tmp_path,
        (MM_ENTRIES[0], "torch.mm", "converts", None),
        (MM_ENTRIES[1], "torch.mm", "raises", "CuBLAS"),
    )


MM_SCRIPT = "import torch\ntorch.mm(torch.ones(4, 4), torch.ones(4, 4))\n"


def test_a_call_several_entries_match_shows_each_ones_result(scan_cache, cublas_report):
    """It read the -4096-8 entry alone and said torch.mm converts where the unset one raises."""
    import torch

    with detaudit.scan(reports=[cublas_report]) as found:
        torch.mm(torch.ones(4, 4), torch.ones(4, 4))
    (hit,) = [h for h in found.hits if h.op == "aten::mm"]
    assert hit.entries == MM_ENTRIES
    assert [(e.report, e.entry, e.status, e.kernel) for e in hit.elsewhere] == [
        (0, "cublas-mm-workspace-unset", "raises", "CuBLAS"),  # the worst first
        (0, "cublas-mm-workspace-4096-8", "converts", None),
    ]
    assert found.result.raising_in(0) == [hit] and found.result.raises_anywhere()
    text = render_text(found.result)
    assert "raises (cublas-mm-workspace-unset), converts (cublas-mm-workspace-4096-8)" in text
    assert "this op raises: cublas-mm-workspace-unset (" in text and ", CuBLAS)" in text
    assert ScanResult.from_dict(json.loads(render_json(found.result))) == found.result


@pytest.mark.slow  # scans that run a script in a process of their own
def test_cli_the_worst_of_the_matched_entries_decides_fail_on(scan_cache, cublas_report, tmp_path):
    script = tmp_path / "mm.py"
    script.write_text(MM_SCRIPT)
    result = run_cli("scan", "--report", str(cublas_report), "--fail-on", "raises", str(script))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "this op raises: cublas-mm-workspace-unset" in result.stdout


def test_only_the_entries_for_the_reports_device_are_read(scan_cache, tmp_path):
    """A report audits every entry on every device: the CPU entry's cuda ``ok`` says nothing."""
    import torch

    report = _with_results(
        tmp_path,
        ("put-accumulate-true-cpu", "torch.Tensor.put_", "ok", None),
        ("put-accumulate-true-cuda", "torch.Tensor.put_", "raises", "put_"),
    )
    with detaudit.scan(reports=[report]) as found:
        torch.zeros(5).put_(torch.tensor([0, 0]), torch.ones(2), accumulate=True)
    (hit,) = found.hits
    assert hit.entries == ("put-accumulate-true-cpu", "put-accumulate-true-cuda")
    assert [(e.entry, e.status) for e in hit.elsewhere] == [("put-accumulate-true-cuda", "raises")]
