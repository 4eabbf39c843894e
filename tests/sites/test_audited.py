"""The census an audit report carries: taken in the parent without importing torch, in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from detaudit.catalog import load_catalog
from detaudit.errors import ReportError
from detaudit.model.report import AlertCensus, Report
from detaudit.model.reportfile import load_report
from detaudit.model.vocabulary import Device
from detaudit.render import RENDERERS
from detaudit.sites.audited import NOT_INSTALLED, summarize
from detaudit.sites.census import Census, Site

from ..conftest import DATA


def _report() -> Report:
    return load_report(DATA / "reports" / "fixture-gpu.json")


def test_unprobed_is_by_name_and_device():
    report = _report()
    catalog = load_catalog()
    ids = {e.id: e.kernels for e in catalog if e.kernels}
    probed = next(r for r in report.results if r.device == "cuda" and r.id in ids)
    kernel = ids[probed.id][0]
    census = Census(
        "2.14.1",
        "test",
        (
            Site(kernel, "f", "lib", Device.CUDA, "0x1"),
            Site("never_probed_cuda", "f", "lib", Device.CUDA, "0x2"),
            Site(kernel, "f", "lib", Device.MPS, "0x3"),  # same name on MPS: CUDA probed it
        ),
        ("lib",),
        ("lib",),
    )
    summary = summarize(census, catalog, report.results)
    assert summary.taken and kernel in summary.names and "cublas" in summary.names
    assert "never_probed_cuda" in summary.unprobed and kernel not in summary.unprobed
    assert "never_probed_cuda" in summary.line


def test_without_the_extra_the_report_says_not_taken_never_nothing_missing():
    summary = summarize(NOT_INSTALLED, load_catalog(), ())
    assert summary.line == "census not taken (install detaudit[sites])"
    report = replace(_report(), census=summary)
    for fmt, renderer in RENDERERS["report"].items():
        text = renderer.render(report)
        assert "census not taken (install detaudit[sites])" in text, fmt
        assert "every one of the" not in text


def test_every_format_names_the_unprobed_and_json_round_trips():
    census = AlertCensus(True, ("a_cuda", "b_cuda"), ("b_cuda",))
    report = replace(_report(), census=census)
    for fmt, renderer in RENDERERS["report"].items():
        assert "b_cuda" in renderer.render(report), fmt
    again = Report.from_dict(json.loads(RENDERERS["report"]["json"].render(report)))
    assert again.census == census


def test_reports_without_a_census_still_load_and_a_bad_one_is_refused():
    data = json.loads(RENDERERS["report"]["json"].render(_report()))
    assert "census" not in data and Report.from_dict(data).census is None
    data["census"] = {"taken": "yes"}
    with pytest.raises(ReportError, match="census"):
        Report.from_dict(data, source="r.json")


@pytest.mark.slow  # reads the installed torch's libraries
def test_the_parent_takes_the_census_without_importing_torch(tmp_path):
    """Nor LIEF, once the census is cached: the next audit reads one file."""
    code = (
        "import sys; from detaudit.sites.audited import take_for_audit; c = take_for_audit(None); "
        "print(type(c).__name__, 'torch' in sys.modules, 'lief' in sys.modules)"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    have_extra = all(__import__("importlib").util.find_spec(m) for m in ("lief", "capstone"))
    for imports_lief in (have_extra, False):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        kind, torch_imported, lief_imported = done.stdout.split()
        assert torch_imported == "False"
        assert lief_imported == str(imports_lief)
        assert kind == ("Census" if have_extra else "str")


@pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("lief", "capstone")),
    reason='the sites extra is missing: pip install "detaudit[sites]"',
)
@pytest.mark.slow  # reads the installed torch's libraries
def test_an_audit_carries_the_census_of_its_torch(tmp_path, monkeypatch):
    from detaudit.api import audit

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    report = audit(device="cpu", only=["put-accumulate-false"], repeat=1)
    census = report.census
    assert census is not None and census.taken, census
    assert "put_" in census.names and "put_" not in census.unprobed
    assert "quantized_resize_cpu_" in census.unprobed  # in the build, not probed by this audit
    assert audit(device="cpu", only=["put-accumulate-false"], repeat=1, census=False).census == (
        AlertCensus(taken=False, why="--no-census")
    )


@pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("lief", "capstone")),
    reason='the sites extra is missing: pip install "detaudit[sites]"',
)
def test_the_next_audit_of_the_same_files_reads_the_cached_census(
    fake_torch, tmp_path, monkeypatch
):
    from detaudit.sites import audited, census, fetch

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "_python_torch_dir", lambda python: fake_torch)
    first = audited.take_for_audit(None)
    assert isinstance(first, Census) and "fake_kernel_backward_cuda" in first.names

    def refuse(build):
        raise AssertionError("read the libraries again")

    monkeypatch.setattr(census, "take_census", refuse)
    assert audited.take_for_audit(None) == first
    (fake_torch / "lib" / "libtorch_cuda.so").write_bytes(b"\x7fELF changed")
    assert audited.take_for_audit(None) == "census failed: AssertionError: read the libraries again"
