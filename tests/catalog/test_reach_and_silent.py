"""The catalogue's ``reaches`` and ``silent`` fields, and the entries of issue 19 item 5 on CPU.

The new entries run on this machine's CPU; their statuses come from running the
probes, not from the catalogue. tests/test_cuda_reach.py observes them on a GPU.
"""

from __future__ import annotations

import pytest

from detaudit import audit
from detaudit.catalog import load_catalog
from detaudit.catalog.records import SILENT_BASIS
from detaudit.errors import CatalogError
from detaudit.model.report import Status
from detaudit.scanner.signatures import derive
from detaudit.scanner.static import patterns

SILENT = ["histc-integer", "bincount-no-weights", "median-no-indices"]
NEW = [*SILENT, "max-pool3d-return-indices-backward", "grid-sample-cudnn-backward"]

_ENTRY = """\
raises:
  - id: user-x
    api: torch.histc
    condition: always
    devices: [cpu]
    pass: forward
    probe: "detaudit.probes.reduction:histc"
    source: test
"""


def _load(tmp_path, extra: str):
    path = tmp_path / "user.yaml"
    path.write_text(_ENTRY + extra)
    return load_catalog([path], builtin=False)


def test_reaches_and_silent_load(tmp_path):
    entry = _load(tmp_path, "    reaches: [aten::histc]\n    silent: true\n").get("user-x")
    assert entry.reaches == ("aten::histc",) and entry.silent
    assert entry.to_dict()["reaches"] == ["aten::histc"] and entry.to_dict()["silent"] is True


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("    reaches: [histc]\n", "reaches must be a list of distinct aten op names"),
        ("    reaches: [aten::histc.default]\n", "without overload"),
        ("    reaches: aten::histc\n", "reaches must be a list"),
        ("    silent: yes please\n", "silent must be true or false"),
    ],
)
def test_bad_reaches_or_silent_are_refused(tmp_path, extra, words):
    with pytest.raises(CatalogError, match=words):
        _load(tmp_path, extra)


def test_a_silent_entry_expects_ok_everywhere_and_no_scanner_reports_it():
    catalog = load_catalog()
    for entry_id in SILENT:
        entry = catalog.get(entry_id)
        assert entry.silent and entry.group == "observed" and not entry.claims
        for device in ("cpu", "cuda"):
            assert catalog.expected(entry, device, "2.11.0") == (Status.OK, SILENT_BASIS)
        assert catalog.expected(entry, "cuda", "1.8.0") == (None, None)  # older than any docs
    assert not {p.entry.id for p in patterns(catalog)} & set(SILENT)
    signatures = derive(catalog.select(SILENT), {})
    assert all(not s.ops and "silent" in s.problem for s in signatures.values())


def test_the_new_entries_claim_what_their_bullets_claim():
    catalog = load_catalog()
    maxpool = catalog.get("max-pool3d-return-indices-backward")
    assert catalog.expected(maxpool, "cuda", "2.11.0") == (Status.RAISES, "docs 2.11")  # 2.11 has its own claims key
    assert catalog.expected(maxpool, "cuda", "2.13.0") == (Status.CONVERTS, "docs 2.13")
    cudnn = catalog.get("grid-sample-cudnn-backward")
    assert cudnn.kernels == ("cudnn_grid_sampler_backward",)
    assert dict(cudnn.claims) == dict(catalog.get("grid-sample-backward").claims)


@pytest.fixture(scope="module")
def cpu():
    report = audit(device="cpu", only=NEW, repeat=2)
    return {r.id: r for r in report.results}


@pytest.mark.slow  # an audit of its own
def test_on_cpu_the_new_entries_run_without_an_alert(cpu):
    for entry_id in ("bincount-no-weights", "median-no-indices",
                     "max-pool3d-return-indices-backward", "grid-sample-cudnn-backward"):
        r = cpu[entry_id]
        assert r.status is Status.OK, (entry_id, r.status, r.message)
        assert r.drift is False and r.bits_repeat is True


@pytest.mark.slow  # an audit of its own
def test_on_cpu_integer_histc_is_skipped_with_torchs_words(cpu):
    r = cpu["histc-integer"]  # CPU has no integer histc kernel
    assert r.status is Status.SKIPPED
    assert r.message.startswith("torch: ") and "histogram_cpu" in r.message
