"""catalog/known_gaps.yaml against the catalogue: every alert read is covered or a known gap."""

from __future__ import annotations

import dataclasses

import pytest

from detaudit.catalog import load_catalog
from detaudit.catalog.gaps import Alert, load_known_gaps, uncovered
from detaudit.catalog.load import GAPS_FILE, builtin_catalog_dir, builtin_catalog_files
from detaudit.errors import CatalogError


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def known():
    return load_known_gaps()


def test_every_alert_read_is_covered_or_a_known_gap(catalog, known):
    assert uncovered(catalog, known) == []


def test_the_gaps_file_is_data_not_catalogue_entries():
    assert GAPS_FILE not in {f.name for f in builtin_catalog_files()}


def test_the_source_list_is_there(known):
    kernels = {a.kernel for a in known.alerts}
    assert len(kernels) == len(known.alerts)  # each alert once
    for name in (
        "cublas",
        "grid_sampler_3d_backward_cuda",
        "upsample_bilinear2d_aa_backward_out_cuda",
        "upsample_bicubic2d_aa_backward_out_cuda",
        "index_reduce_cuda",
        "index_put_with_accumulate_mps",
        "index_reduce_mps",
        "kthvalue MPS",
    ):
        assert name in kernels
    assert all(g.reason for g in known.gaps)
    assert known.read and known.alert_not_found


def test_new_entries_carry_their_kernel_names(catalog):
    assert catalog.get("grid-sample-3d-backward").kernels == ("grid_sampler_3d_backward_cuda",)
    assert catalog.get("interpolate-bilinear-antialias-backward").kernels == (
        "upsample_bilinear2d_aa_backward_out_cuda",
    )
    assert catalog.get("cublas-mm-workspace-unset").kernels == ("cublas",)
    assert catalog.get("scatter-reduce-amax").kernels == ("scatter_reduce_cuda",)
    assert catalog.get("scatter-reduce-amin").kernels == ("scatter_reduce_cuda",)
    assert catalog.get("index-put-accumulate-true-mps").kernels == (
        "index_put_with_accumulate_mps",
    )
    assert catalog.get("kthvalue-mps").kernels == ("kthvalue MPS",)


def test_every_mps_entry_names_its_alert_or_is_listed_as_not_found(catalog, known):
    mps = {e.id for e in catalog if e.id.endswith("-mps")}
    assert mps  # the 2.15.0 MPS entries are there
    named = {e.id for e in catalog if e.id in mps and e.kernels}
    assert mps == named | set(known.alert_not_found)
    assert not named & set(known.alert_not_found)


def test_an_alert_not_found_entry_that_is_missing_or_has_kernels_is_found(catalog, known):
    listed = (*known.alert_not_found, "no-such-entry", "kthvalue-mps")
    assert uncovered(catalog, dataclasses.replace(known, alert_not_found=listed)) == [
        "alert_not_found 'no-such-entry': no such entry",
        "alert_not_found 'kthvalue-mps': the entry lists kernels",
    ]


def test_an_uncovered_alert_a_covered_gap_and_an_unknown_kernel_are_each_found(catalog, known):
    extra = Alert("made_up_cuda", "aten/src/ATen/native/cuda/MadeUp.cu")
    assert uncovered(catalog, dataclasses.replace(known, alerts=(*known.alerts, extra))) == [
        "alert 'made_up_cuda': no entry lists it and it is no known gap"
    ]
    covered_gap = Alert("put_", "aten/src/ATen/native/TensorAdvancedIndexing.cpp", "why")
    problems = uncovered(catalog, dataclasses.replace(known, gaps=(*known.gaps, covered_gap)))
    assert problems == [
        "gap 'put_': entry put-accumulate-false, put-accumulate-true-cuda covers it"
    ]
    fewer = tuple(a for a in known.alerts if a.kernel != "cublas")
    assert (
        "entry cublas-mm-workspace-unset: kernel 'cublas' is not among the alerts read"
        in uncovered(catalog, dataclasses.replace(known, alerts=fewer))
    )


def test_an_alert_not_found_without_what_was_searched_is_refused(tmp_path):
    bad = tmp_path / GAPS_FILE
    bad.write_text("alerts: []\ngaps: []\nalert_not_found: [{entry: kthvalue-mps}]\n")
    with pytest.raises(CatalogError, match="alert_not_found must be a list"):
        load_known_gaps(bad)


def test_a_gap_without_a_reason_is_refused(tmp_path):
    bad = tmp_path / GAPS_FILE
    bad.write_text("alerts: [{kernel: a_cuda, file: x.cu}]\ngaps: [{kernel: a_cuda, file: x.cu}]\n")
    with pytest.raises(CatalogError, match="every gap needs a reason"):
        load_known_gaps(bad)


def test_a_key_given_twice_is_refused_with_its_file_line_and_key(tmp_path):
    # the built-in file had read, not_read and alerts twice; PyYAML kept the last silently
    bad = tmp_path / GAPS_FILE
    bad.write_text("alerts: []\ngaps: []\nalerts: [{kernel: a_cuda, file: x.cu}]\n")
    with pytest.raises(CatalogError) as caught:
        load_known_gaps(bad)
    assert caught.value.problems == [
        f"{bad}:3: YAML error: duplicate key 'alerts' (first at line 1)"
    ]


def test_the_built_in_file_has_each_section_once():
    text = (builtin_catalog_dir() / GAPS_FILE).read_text(encoding="utf-8")
    keys = [line.split(":")[0] for line in text.splitlines() if line[:1].isalpha()]
    assert sorted(keys) == sorted(set(keys))
    assert {"read", "not_read", "alerts", "gaps"} <= set(keys)
