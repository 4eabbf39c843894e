"""The ``observed`` group: entries in no docstring claim nothing, never drift, and check-docs skips them."""

from __future__ import annotations

from pathlib import Path

import pytest

from detaudit.catalog import load_catalog
from detaudit.docs.check import check_docs
from detaudit.docs.docstring import parse_docstring
from detaudit.errors import CatalogError
from detaudit.model.observation import Observation
from detaudit.model.report import Status
from detaudit.model.vocabulary import Device, Group
from detaudit.runner.classify import classify
from detaudit.runner.protocol import RunAnswer
from detaudit.runner.spec import plan

from ..conftest import DATA, run_cli

OBSERVED_ENTRY = """\
observed:
  - id: mine-observed
    api: torch.nn.AvgPool3d
    condition: forced somehow
    devices: [cpu]
    pass: backward
    probe: myprobes:probe
    source: observation
"""


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "myprobes.py").write_text("def probe(device):\n    return None\n")
    return tmp_path


def test_an_observed_entry_claims_nothing_and_expects_nothing(user_dir):
    path = user_dir / "observed.yaml"
    path.write_text(OBSERVED_ENTRY)
    catalog = load_catalog([path], builtin=False)
    entry = catalog.get("mine-observed")
    assert entry.group is Group.OBSERVED
    assert entry.claim_for("2.13.0") == (None, None)
    assert entry.covered == ()
    for device in Device:
        assert catalog.expected(entry, device, "2.13.0") == (None, None)


def test_a_clean_run_of_an_observed_entry_is_ok_and_has_no_drift(user_dir):
    path = user_dir / "observed.yaml"
    path.write_text(OBSERVED_ENTRY)
    catalog = load_catalog([path], builtin=False)
    (planned,) = plan(catalog, (Device.CPU,), "2.13.0", repeat=2, seed=0)
    answer = RunAnswer(
        id="mine-observed",
        device="cpu",
        seconds=0.01,
        strict=Observation("ran", run="strict"),
        digests_on=("a", "a"),
        digests_off=("a", "a"),
    )
    result = classify(planned, answer)
    # nothing documents a deterministic implementation: no alert is `ok`, not `converts`
    assert result.status is Status.OK
    assert result.drift is None and result.expected is None
    assert result.bits_repeat is True
    # the same entry filed under a docs group would claim `converts` on its device
    raises_path = user_dir / "converted.yaml"
    raises_path.write_text(OBSERVED_ENTRY.replace("observed:", "converted:"))
    claimed = load_catalog([raises_path], builtin=False)
    (planned,) = plan(claimed, (Device.CPU,), "2.13.0", repeat=2, seed=0)
    assert classify(planned, answer).status is Status.CONVERTS


def test_an_observed_entry_with_claims_is_one_line_and_exit_2(user_dir):
    path = user_dir / "claims.yaml"
    path.write_text(OBSERVED_ENTRY + '    claims: {"2.13": raises}\n')
    with pytest.raises(CatalogError, match="an observed entry claims nothing"):
        load_catalog([path], builtin=False)
    result = run_cli("catalog", "validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "entry 'mine-observed'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_check_docs_leaves_observed_entries_out(user_dir):
    # an observed entry on an API the docs list must not stand for that docs item
    path = user_dir / "observed.yaml"
    path.write_text(OBSERVED_ENTRY)
    catalog = load_catalog([path])
    text = (DATA / "docstrings" / "torch-2.13.txt").read_text(encoding="utf-8")
    result = check_docs(catalog, parse_docstring(text), "2.13.0", "fixture")
    assert result.findings == ()
    assert "mine-observed" not in dict(result.matched)


def test_the_attention_entries_are_observed_and_claim_nothing():
    attention = [e for e in load_catalog() if e.file.endswith("attention.yaml")]
    ids = {e.id for e in attention}
    for backend in ("math", "flash", "efficient", "cudnn"):
        for pass_ in ("forward", "backward"):
            assert f"sdpa-{backend}-{pass_}" in ids
    for how in ("eager", "compiled"):
        for pass_ in ("forward", "backward"):
            assert f"flex-attention-{how}-{pass_}" in ids
    for entry in attention:
        assert entry.group is Group.OBSERVED and entry.claims == ()
        assert "observed" in entry.source
        assert entry.probe.startswith("detaudit.probes.attention:")


def test_the_silent_cuda_case_is_observed_and_outside_the_census():
    from detaudit.catalog.gaps import load_known_gaps

    entry = load_catalog().get("adaptive-max-pool3d-backward")
    assert entry.group is Group.OBSERVED and entry.claims == () and entry.kernels == ()
    assert Device.CUDA in entry.devices
    # silent: torch 2.14.1 has no alert for it, so only the bits' repeatability can tell
    assert not any("adaptive_max_pool3d" in a.kernel for a in load_known_gaps().alerts)


@pytest.mark.slow  # an audit of its own
def test_the_silent_case_runs_on_cpu_and_its_result_is_its_repeatability():
    from detaudit import audit

    report = audit(device="cpu", only=["adaptive-max-pool3d-backward"])
    (result,) = report.results
    assert result.status is Status.OK, (result.status, result.message)  # observed: never converts
    assert result.expected is None and result.drift is None
    assert result.bits_repeat is True  # the CPU kernel has no atomics
