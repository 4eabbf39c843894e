"""Precision of the static scan's "raises" findings on real-code shapes (tests/data/scan_precision).

A finding that raises is one the SARIF output gives level ``error``: the torch 2.13 docs
claim the op raises and the call meets the condition literally. Every such finding must be
on a line marked ``# raises: ENTRY`` (precision), and every marked line must be found
(recall). The issue measured 35% on a sample of real libraries before these rules.
"""

from __future__ import annotations

import json
import re

import pytest

from detaudit.catalog import load_catalog
from detaudit.render.sarif import render as sarif
from detaudit.scanner.records import StaticResult
from detaudit.scanner.static import Scanner, python_files

from ..conftest import DATA

TREE = DATA / "scan_precision"


@pytest.fixture(scope="module")
def scanned():
    scanner = Scanner(load_catalog(), torch_version="2.13.0")
    findings, marked = [], set()
    for path in python_files([TREE]):
        found, skipped = scanner.scan_file(path)
        assert skipped is None
        findings += found
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.search(r"# raises: ([\w.-]+)$", line)
            if match:
                marked.add((path.name, number, match.group(1)))
    return findings, marked


def test_every_raising_finding_is_a_marked_line_and_every_marked_line_is_found(scanned):
    findings, marked = scanned
    raising = {(f.file.rpartition("/")[2], f.line, f.entry) for f in findings if f.raises}
    true = raising & marked
    precision = len(true) / len(raising)
    recall = len(true) / len(marked)
    assert (precision, recall) == (1.0, 1.0), (sorted(raising - marked), sorted(marked - raising))
    assert len(marked) == 9  # the fixture's forms, so that a lost marker shows


def test_non_literal_conditions_are_checks_at_a_lower_sarif_level(scanned):
    findings, _ = scanned
    checks = [f for f in findings if f.unchecked]
    assert {(f.entry, f.unchecked) for f in checks} == {
        ("nll-loss", ("reduction",)),
        ("interpolate-linear-backward", ("mode",)),
    }
    assert all("is not a literal" in f.message for f in checks)
    document = json.loads(sarif(StaticResult(tuple(findings), (), 5)))
    levels = {
        (r["locations"][0]["physicalLocation"]["region"]["startLine"], r["level"])
        for r in document["runs"][0]["results"]
    }
    for f in findings:
        expected = (
            "error"
            if f.raises
            else ("warning" if f.claim == "raises" or not f.unchecked else "note")
        )
        assert (f.line, expected) in levels


def test_the_issues_false_positives_are_gone():
    scanner = Scanner(load_catalog(), torch_version="2.13.0")
    source = b"""\
import torch
import torch.multiprocessing
import torch.nn.functional as F
from torch import nn

def loss(logits, y):
    return F.cross_entropy(logits, y) + nn.CrossEntropyLoss()(logits.view(-1, 10), y)

def share(x):
    torch.multiprocessing.Queue().put(x)

def one_hot(y):
    return torch.zeros(4, 10).scatter_(1, y[:, None], 1)

@torch.no_grad()
def post_process(masks, size):
    return F.interpolate(masks, size=size, mode="bilinear")
"""
    findings, skipped = scanner.scan_source(source, "issue.py")
    assert skipped is None and findings == []


def test_the_forms_are_still_found_with_their_evidence():
    scanner = Scanner(load_catalog(), torch_version="2.13.0")
    source = b"""\
import torch
import torch.nn.functional as F
from torch import nn

x = torch.randn(2, 5, 8, 8)
a = F.cross_entropy(x, t)
b = nn.NLLLoss()(x.permute(0, 3, 1, 2), t)
crit = nn.CrossEntropyLoss()
c = crit(x.float(), t)
d = torch.zeros(3, 4).scatter_(1, i, src)
"""
    findings, _ = scanner.scan_source(source, "forms.py")
    assert [(f.line, f.entry) for f in findings] == [
        (6, "nll-loss"),
        (7, "nll-loss"),
        (8, "nll-loss"),
        (10, "scatter-src-tensor"),
    ]
