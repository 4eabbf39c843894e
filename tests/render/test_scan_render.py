"""Scan renderers are pure: a result in, a string out; golden files pin their output.

tests/data/scan/result.json is the JSON of a real scan of tests/data/scan/model.py
(torch 2.13.0+cpu, with the two hand-made GPU reports), frozen: an input, never
rewritten. The outputs are under tests/data/golden; regenerate them with
``pytest tests/render/test_scan_render.py --update-golden``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from detaudit.catalog import load_catalog
from detaudit.render import RENDERERS
from detaudit.render.scan import render_json, render_text, summary
from detaudit.scanner.records import Hit, ScanResult, StaticResult
from detaudit.scanner.static import Scanner

from ..conftest import DATA, check_golden

RESULT = DATA / "scan" / "result.json"


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return ScanResult.from_dict(json.loads(RESULT.read_text()), source=str(RESULT))


@pytest.fixture(scope="module")
def static_result():
    scanner = Scanner(load_catalog(), torch_version="2.13.0")
    findings, _ = scanner.scan_source((DATA / "scan" / "model.py").read_bytes(), "model.py")
    # A broken file is parsed (and reported) only when it names a catalogued API.
    _, skipped = scanner.scan_source(b"def f(:\n    histc(x)\n", "broken.py")
    return StaticResult(tuple(findings), (skipped,), 2)


# The golden files keep the names they had before the registry: scan.text, static.json, ...
@pytest.mark.parametrize("fmt", sorted(RENDERERS["scan"]))
def test_dynamic_golden(result, fmt, request):
    check_golden(request, f"scan.{fmt}", RENDERERS["scan"][fmt].render(result))


@pytest.mark.parametrize("fmt", sorted(RENDERERS["static"]))
def test_static_golden(static_result, fmt, request):
    check_golden(request, f"static.{fmt}", RENDERERS["static"][fmt].render(static_result))


def test_json_gives_back_the_result_it_was_read_from(result):
    assert render_json(result) == RESULT.read_text()


def test_text_names_every_hit_and_the_reports(result):
    text = render_text(result)
    for hit in result.hits:
        assert f"{hit.entry} " in text and hit.where in text
    assert "[1] torch 2.11.0+cu130 · cuda · NVIDIA H100 80GB HBM3 (sm_90): cuda results of" in text
    assert text.rstrip().endswith(
        "[2]: this op raises: put-accumulate-false (tests/data/scan/model.py:31, put_); "
        "4 not in this report: adaptive-avg-pool2d-backward, interpolate-bilinear-backward, "
        "index-add, embedding-bag-max-backward"
    )


def test_hits_a_report_has_no_result_for_are_listed_with_the_docs_claim(result):
    claimed = tuple(
        replace(
            h,
            elsewhere=tuple(
                replace(e, claim="raises", claim_from="docs 2.10") if e.status is None else e
                for e in h.elsewhere
            ),
        )
        for h in result.hits
    )
    quiet = tuple(
        replace(
            h,
            elsewhere=tuple(
                replace(e, status=None, claim="raises", claim_from="docs 2.10")
                for e in h.elsewhere
            ),
        )
        for h in claimed
    )
    text = render_text(replace(result, hits=quiet))
    assert "– (docs 2.10: raises)" in text
    assert "– : not known" in text
    assert "none of them raises" not in text
    assert "[2]: none of the ops it has a result for raises; 5 not in this report: " in text
    assert "[1]: none of the ops it has a result for raises; 5 not in this report: " in text
    assert "index-add (docs 2.10: raises)" in text
    back = ScanResult.from_dict(json.loads(render_json(replace(result, hits=claimed))))
    assert back.hits == claimed


def test_uncatalogued_and_unobserved_hits(result):
    alert = Hit(
        entry=None,
        entries=(),
        api="",
        group="",
        op="aten::mm",
        pass_="forward",
        device="cuda",
        calls=3,
        file="train.py",
        line=7,
        function="step",
        located="call",
        here="raises",
        kernel="cublas",
    )
    text = render_text(replace(result, hits=(alert,), reports=()))
    assert "(not catalogued)  aten::mm" in text
    assert "1 op raises here: aten::mm (train.py:7, cublas)" in text
    unobserved = replace(
        result, observed=False, hits=tuple(replace(h, here=None) for h in result.hits)
    )
    assert "alerts not observed" in summary(unobserved)[0]
    assert summary(replace(result, hits=(), devices=())) == [
        "scanned on no device: no catalogued op ran and no op raised the alert"
    ]
