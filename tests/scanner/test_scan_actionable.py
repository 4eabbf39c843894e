"""The dynamic scan a CUDA user can act on: the docs' CUDA claim on a CPU machine, raising rows
first, one line per quiet group, remedies, and ``--fail-on raises`` by default.

The two examples under examples/scan/ are the issue's "done when": a segmentation step
(bilinear interpolate backward + a 4-D NLLLoss) exits 1 on a CPU machine, a resnet-style
step (conv + linear + cross_entropy on 2-D logits) exits 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detaudit.model.vocabulary import Status
from detaudit.render.scan import quiet_groups, render_text
from detaudit.scanner.records import Elsewhere, Hit, ReportRef, ScanResult

from ..conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SEGMENTATION = "examples/scan/segmentation_step.py"
RESNET = "examples/scan/resnet_step.py"


def _table_entries(text: str) -> list[str]:
    """The entry column of the table's rows (between the header and the first blank line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    rows = []
    for line in lines[start + 1 :]:
        if not line or not line[0].isalnum() or line.startswith("cuda claim:"):
            break
        rows.append(line.split()[0])
    return rows


def test_segmentation_step_raises_on_cuda_per_the_docs_and_exits_1(scan_cache):
    done = run_cli("scan", SEGMENTATION, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert _table_entries(out) == ["interpolate-bilinear-backward", "nll-loss"]
    header = next(line for line in out.splitlines() if line.startswith("entry "))
    assert "cuda claim (docs 2.13)" in header
    assert "not an observation" in out
    assert (
        "on cuda (docs 2.13, a claim): these 2 ops raise: interpolate-bilinear-backward "
        f"({SEGMENTATION}:26), nll-loss ({SEGMENTATION}:35)"
    ) in out
    # quiet ones are one line per group, after the raising rows
    assert f"2 ops convert on cuda (docs 2.13): conv2d ×2 ({SEGMENTATION}:24, +1 more)" in out
    assert "what to do:\n  interpolate-bilinear-backward: mode='nearest'" in out
    assert "  nll-loss: only spatial (4-D) input alerts" in out


def test_resnet_step_exits_0_by_default_and_1_under_fail_on_any(scan_cache):
    done = run_cli("scan", RESNET, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no catalogued op raises here, in a report, or per the docs" in done.stdout
    assert "3 ops convert on cuda (docs 2.13): conv2d ×3" in done.stdout
    # the linear layer's cuBLAS entries: no docs claim, the remedy says what to set
    cublas = next(line for line in done.stdout.splitlines() if "cublas" in line)
    assert "CUBLAS_WORKSPACE_CONFIG=:4096:8" in cublas
    assert "nll" not in done.stdout  # cross_entropy on 2-D logits runs the 2-D kernel
    anything = run_cli("scan", "--fail-on", "any", RESNET, cwd=ROOT)
    assert anything.returncode == 1


def test_all_lists_every_row(scan_cache):
    done = run_cli("scan", "--all", RESNET, cwd=ROOT)
    assert done.returncode == 0
    rows = _table_entries(done.stdout)
    assert rows.count("conv2d") == 3 and len(rows) == 4
    assert "(--all lists every op)" not in done.stdout


def test_json_keeps_the_claims(scan_cache, tmp_path):
    out = tmp_path / "scan.json"
    done = run_cli("scan", "--format", "json", "-o", str(out), SEGMENTATION, cwd=ROOT)
    assert done.returncode == 1
    data = json.loads(out.read_text())
    result = ScanResult.from_dict(data)
    assert result.claim_device == "cuda"
    claims = {h.entry: (h.claim, h.claim_from) for h in result.hits}
    assert claims["nll-loss"] == ("raises", "docs 2.13")
    assert claims["conv2d"] == ("converts", "docs 2.13")
    assert {h.entry for h in result.raising_by_claim()} == {
        "interpolate-bilinear-backward",
        "nll-loss",
    }


def test_device_names_the_device_whose_claims_are_shown(scan_cache):
    done = run_cli("scan", "--device", "mps", SEGMENTATION, cwd=ROOT)
    # only the 2.15 docs list interpolate's MPS backward; conv2d and nll-loss are CUDA entries
    assert done.returncode == 0, done.stdout
    assert "on mps (docs 2.13, a claim): no op raises" in done.stdout
    assert "3 ops are not for mps: no alert there (docs 2.13): conv2d ×2" in done.stdout
    assert "1 op is in no docs list of torch 2.13.0+cpu for mps" in done.stdout


def _hit(entry: str, claim: Status | None, elsewhere=(), here=Status.OK) -> Hit:
    return Hit(
        entry=entry,
        entries=(entry,),
        api="torch.x",
        group="raises",
        op=f"aten::{entry}",
        pass_="backward",
        device="cpu",
        calls=1,
        file="m.py",
        line=3,
        function="f",
        located="forward",
        here=here,
        elsewhere=tuple(elsewhere),
        claim=claim,
        claim_from="docs 2.13",
    )


REF = ReportRef(title="gpu", source="gpu.json", device="cuda", torch="2.13.0+cu130")


def test_a_reports_observation_overrides_the_docs_claim():
    observed = _hit("a", Status.RAISES, [Elsewhere(0, "a", Status.CONVERTS)])
    claimed = _hit("b", Status.RAISES, [Elsewhere(0, "b", None, claim=Status.RAISES)])
    result = ScanResult("2.13.0", ("cpu",), True, (observed, claimed), (REF,), claim_device="cuda")
    assert not result.raises_somewhere(observed)
    assert result.raises_somewhere(claimed)
    assert result.raising_by_claim() == [claimed]
    assert quiet_groups(result) == ["1 op converts on cuda in a report: a ×1 (m.py:3)"]
    assert _table_entries(render_text(result)) == ["b"]


def test_a_scan_that_raises_nowhere_fails_only_under_any():
    quiet = _hit("c", Status.CONVERTS)
    result = ScanResult("2.13.0", ("cpu",), True, (quiet,), claim_device="cuda")
    assert not result.raises_anywhere()
    text = render_text(result)
    assert "1 op converts on cuda (docs 2.13): c ×1 (m.py:3)" in text
    assert "no catalogued op raises" in text


@pytest.mark.parametrize("every", [False, True])
def test_text_rendering_is_pure(every):
    result = ScanResult("2.13.0", ("cpu",), True, (_hit("d", Status.RAISES),), claim_device="cuda")
    assert render_text(result, every=every) == render_text(result, every=every)
    assert _table_entries(render_text(result, every=every)) == ["d"]
