"""The static scan finds calls of catalogued APIs with ast, resolving imports, and never runs them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detaudit.catalog import load_catalog
from detaudit.scanner.static import Scanner, patterns, python_files, scan_static

from ..conftest import DATA, run_cli
from .test_scan_dynamic import FIVE, MODEL, marked_lines

# The text each static finding's column points at: the start of the call.
CALL_TEXT = {
    "adaptive-avg-pool2d-backward": "nn.AdaptiveAvgPool2d(",
    "embedding-bag-max-backward": "EmbeddingBag(32",
    "interpolate-bilinear-backward": "F.interpolate(",
    "index-add": "target.index_add_(",
    "put-accumulate-false": "scratch.put_(",
}


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_catalog(), torch_version="2.13.0")


def found(scanner: Scanner, source: str) -> list[tuple[int, str, tuple[str, ...]]]:
    findings, skipped = scanner.scan_source(textwrap.dedent(source), "x.py")
    assert skipped is None
    return [(f.line, f.entry, f.unchecked) for f in findings]


def test_finds_the_five_at_line_and_column(scanner):
    findings, skipped = scanner.scan_file(MODEL)
    assert skipped is None
    lines = MODEL.read_text().splitlines()
    expected = marked_lines(MODEL, ("static", "both"))
    assert {f.entry for f in findings} == FIVE
    for finding in findings:
        line = expected[finding.entry]
        assert finding.line == line, finding
        assert finding.col == lines[line - 1].index(CALL_TEXT[finding.entry]) + 1, finding
        assert finding.unchecked == ()
    put = next(f for f in findings if f.entry == "put-accumulate-false")
    assert put.claim == "raises" and put.claim_from == "docs 2.13"
    assert put.message == (
        "torch.Tensor.put_ raises under deterministic mode when accumulate=False (docs 2.13)"
    )


def test_aliases_are_resolved(scanner):
    source = """\
        import torch
        import torch.nn as tnn
        import torch.nn.functional as Fn
        from torch import nn
        from torch.nn import AdaptiveAvgPool2d as Pool
        from torch.nn.functional import interpolate as up
        a = torch.nn.AdaptiveAvgPool2d(3)
        b = tnn.AdaptiveAvgPool2d(3)
        c = nn.AdaptiveAvgPool2d(3)
        d = Pool(3)
        e = Fn.interpolate(x, mode="bicubic")
        f = up(x, None, 2, "trilinear")
        g = torch.bincount(x, w)
        h = torch.Tensor.put_(x, i, v)
        """
    assert [(line, entry) for line, entry, _ in found(scanner, source)] == [
        (7, "adaptive-avg-pool2d-backward"),
        (8, "adaptive-avg-pool2d-backward"),
        (9, "adaptive-avg-pool2d-backward"),
        (10, "adaptive-avg-pool2d-backward"),
        (11, "interpolate-bicubic-backward"),
        (12, "interpolate-trilinear-backward"),
        (13, "bincount"),
        (14, "put-accumulate-false"),
    ]


def test_arguments_select_the_entry(scanner):
    source = """\
        import torch
        import torch.nn.functional as F
        F.interpolate(x, scale_factor=2)  # nearest: not listed
        F.interpolate(x, mode=mode)       # unknown mode: every mode, flagged unchecked
        x.put_(i, v, accumulate=True)
        x.put_(i, v, True)
        x.index_put_((i,), v)
        torch.bincount(x)                 # no weights
        torch.bincount(x, weights=None)
        torch.bincount(x, minlength=3, weights=w)
        torch.median(x)                   # no indices
        x.median(0)
        x.scatter_reduce(0, i, s, "amax")
        x.scatter_reduce(0, i, s, reduce="prod")
        torch.nn.EmbeddingBag(4, 2)       # mode='mean'
        torch.nn.EmbeddingBag(4, 2, None, 2.0, False, "max")
        """
    result = found(scanner, source)
    findings, _ = scanner.scan_source(textwrap.dedent(source), "x.py")
    # One finding per call, naming every entry it may be; the first that raises speaks for it.
    assert [(f.line, f.entries, f.unchecked) for f in findings if f.line in (4, 5)] == [
        (
            4,
            (
                "interpolate-linear-backward",
                "interpolate-bilinear-backward",
                "interpolate-bicubic-backward",
                "interpolate-trilinear-backward",
                "interpolate-backward-mps",  # 2.15's MPS bullet: "in some cases", any mode
            ),
            ("mode",),
        ),
        (5, ("put-accumulate-true-cuda", "put-accumulate-true-cpu"), ()),
    ]
    # 2.15's MPS bullets name interpolate "in some cases" and EmbeddingBag in any mode, and
    # 2.15 lists scatter_reduce amax on CUDA: the scan names those entries on lines 3, 13, 15
    # (as it names kthvalue, unlisted from 2.10: an entry without a claim is still a candidate)
    assert [(line, e) for line, e, _ in result if line != 4] == [
        (3, "interpolate-backward-mps"),
        (5, "put-accumulate-true-cuda"),
        (6, "put-accumulate-true-cuda"),
        (7, "index-put-accumulate-false"),
        (10, "bincount"),
        (12, "median-with-indices"),
        (13, "scatter-reduce-amax"),
        (14, "scatter-reduce-prod"),
        (15, "embedding-bag-backward-mps"),
        (16, "embedding-bag-max-backward"),
    ]
    # An entry the docs of the scanned torch do not list says so, never "listed" under them.
    (mps,) = [f for f in findings if f.line == 3]
    assert mps.claim is None and mps.claim_from == "docs 2.13"
    assert "not in the docs 2.13 lists" in mps.message and "deterministic mode" not in mps.message


def test_modules_and_locals_are_not_tensors(scanner):
    source = """\
        import asyncio
        import numpy as np
        import torch.distributed as dist
        from mylib import interpolate
        asyncio.gather(a, b)
        np.median(x)
        dist.gather(t)
        interpolate(x, mode="bilinear")
        def bincount(x): return x
        bincount(x)
        """
    assert found(scanner, source) == []


def test_a_file_that_does_not_parse_is_reported_and_skipped(tmp_path):
    (tmp_path / "a_broken.py").write_text("def f(:\n    torch.histc(x)\n")
    (tmp_path / "a_broken_unrelated.py").write_text("def f(:\n    pass\n")  # not even parsed
    (tmp_path / "b_good.py").write_text("import torch\ntorch.histc(x)\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.py").write_text("import torch\ntorch.histc(x)\n")
    result = scan_static([tmp_path])
    assert result.files == 3
    assert [(s.file, s.line) for s in result.skipped] == [(str(tmp_path / "a_broken.py"), 1)]
    assert "does not parse" in result.skipped[0].error
    assert [(f.file, f.line, f.col, f.entry) for f in result.findings] == [
        (str(tmp_path / "b_good.py"), 2, 1, "histc")
    ]


def test_only_operators_lack_a_pattern():
    catalog = load_catalog()
    recognised = {p.entry.id for p in patterns(catalog)}
    silent = {e.id for e in catalog if e.silent}  # PyTorch's tests: no alert, so no finding
    unrecognised = {e.id for e in catalog} - recognised
    assert silent and unrecognised == {"getitem-index-list-backward", *silent}


def test_cli_prints_like_a_linter_and_exits_1(tmp_path):
    result = run_cli("scan", "--static", str(DATA / "scan"))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{DATA / 'scan' / 'model.py'}:") for line in lines)
    assert any(":31:9: put-accumulate-false torch.Tensor.put_ raises" in line for line in lines)

    clean = tmp_path / "clean.py"
    clean.write_text("import torch\nprint(torch.ones(2))\n")
    assert run_cli("scan", "--static", str(clean)).returncode == 0
    as_json = run_cli("scan", "--static", "--format", "json", "--fail-on", "raises", str(MODEL))
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert {f["entry"] for f in data["findings"]} == FIVE and data["files"] == 1
    assert run_cli("scan", "--static", "--fail-on", "none", str(MODEL)).returncode == 0
    missing = run_cli("scan", "--static", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_the_static_scan_never_imports_torch():
    code = (
        "import sys, detaudit\n"
        "result = detaudit.scan_static([sys.argv[1]])\n"
        "assert result.findings and 'torch' not in sys.modules, sorted(sys.modules)\n"
    )
    root = DATA.parent.parent  # the detaudit under test, not an installed one
    done = subprocess.run(
        [sys.executable, "-c", code, str(MODEL)],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr


def _torch_sample(step: int = 12) -> list[Path]:
    """Every STEP-th file of the installed torch's package, found without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    return list(python_files([Path(spec.origin).parent]))[::step]


@pytest.mark.slow  # scans a large tree twice
def test_the_prefilter_never_drops_a_finding():
    """Skipping files (and lines) that name no catalogued API finds what a full walk finds."""
    catalog = load_catalog()
    fast = Scanner(catalog, torch_version="2.13.0")
    full = Scanner(catalog, torch_version="2.13.0", prefilter=False)
    root = DATA.parent.parent
    files = [
        *python_files([DATA / "scan", FORMS, root / "detaudit", root / "tests"]),
        *_torch_sample(),
    ]
    total = 0
    for path in files:
        found, skipped = fast.scan_file(path)
        reference, reference_skipped = full.scan_file(path)
        assert found == reference, path
        assert skipped is None or skipped == reference_skipped, path
        total += len(found)
    assert total > 5  # the sample holds findings, so the comparison compares something


def test_the_prefilter_keeps_calls_split_over_lines_and_renamed_imports():
    source = textwrap.dedent(
        """\
        from torch.nn import (AdaptiveAvgPool2d  # renamed below
            as Pool)
        a = Pool(3)
        b = x.put_ \\
            (i, v)
        c = f(x.index_add  # a comment between the name and its call
              (0, i, s))
        """
    ).encode()
    catalog = load_catalog()
    fast, _ = Scanner(catalog, torch_version="2.13.0").scan_source(source, "x.py")
    full, _ = Scanner(catalog, torch_version="2.13.0", prefilter=False).scan_source(source, "x.py")
    assert fast == full
    assert [(f.line, f.entry) for f in fast] == [
        (3, "adaptive-avg-pool2d-backward"),
        (4, "put-accumulate-false"),
        (6, "index-add"),
    ]
    # A name that is neither called nor renamed on import: the file is not even parsed.
    assert Scanner(catalog).scan_source(b"def f(:\n    x = nn.Conv2d\n", "x.py") == ([], None)


FORMS = DATA / "scan_forms"


def test_functional_and_class_forms_are_found_one_finding_per_call(scanner):
    findings, skipped = scanner.scan_file(FORMS / "forms.py")
    assert skipped is None
    expected = {
        number: tuple(line.partition("# static: ")[2].split(","))
        for number, line in enumerate((FORMS / "forms.py").read_text().splitlines(), 1)
        if "# static: " in line and not line.startswith("``")
    }
    assert {f.line: f.entries for f in findings} == expected
    assert len(findings) == len(expected)


def test_everyday_put_resize_and_relative_imports_give_no_finding(scanner):
    findings, skipped = scanner.scan_file(FORMS / "everyday.py")
    assert skipped is None and findings == []
