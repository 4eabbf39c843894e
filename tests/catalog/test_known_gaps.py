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
    assert len(kernels) == len(known.alerts) == 45  # torch 2.14.1's census, each alert once
    for name in (
        "grid_sampler_3d_backward_cuda",
        "upsample_bilinear2d_aa_backward_out_cuda",
        "upsample_bicubic2d_aa_backward_out_cuda",
        "index_reduce_cuda",
        "index_put_with_accumulate_mps",
        "index_reduce_mps",
        "kthvalue MPS",
        "cudnn_grid_sampler_backward",
        "scatter_reduce_cuda_prod_",
        "scatter_cuda_",
        "scatter_reduce_mps",
    ):
        assert name in kernels
    # names no 2.14.1 build has: history, not alerts
    history = {h.kernel for h in known.history}
    for name in (
        "cublas",
        "kthvalue CUDA",
        "reflection_pad2d_backward_cuda",
        "scatter_reduce_cuda",
        "grid_sampler_2d_backward_mps",
    ):
        assert name in history and name not in kernels
    assert all(g.reason for g in known.gaps) and all(h.reason for h in known.history)
    assert known.read and known.alert_not_found


# The ten alerts of torch 2.14.1 the catalogue lacked (issue 19), and the entries that list them.
CENSUS_NEW = {
    "adaptive_avg_pool2d_backward_out_cuda": "adaptive-avg-pool2d-backward",
    "adaptive_avg_pool3d_backward_out_cuda": "adaptive-avg-pool3d-backward",
    "max_pool3d_with_indices_backward_out_cuda": "max-pool3d-backward",
    "fractional_max_pool3d_backward_out_cuda": "fractional-max-pool3d-backward",
    "replication_pad2d_backward_out_cuda": "replication-pad2d-backward",
    "replication_pad3d_backward_out_cuda": "replication-pad3d-backward",
    "scatter_reduce_cuda_prod_": "scatter-reduce-prod",
    "scatter_cuda_": "scatter-src-tensor",
    "cudnn_grid_sampler_backward": "grid-sample-backward",
    "scatter_reduce_mps": "scatter-reduce-prod-mps",
}


@pytest.mark.parametrize("kernel", sorted(CENSUS_NEW))
def test_each_alert_the_catalogue_lacked_is_an_entry_kernel(catalog, known, kernel):
    assert kernel in {a.kernel for a in known.alerts}
    assert kernel in catalog.get(CENSUS_NEW[kernel]).kernels


def test_new_entries_carry_their_kernel_names(catalog):
    assert catalog.get("grid-sample-3d-backward").kernels == ("grid_sampler_3d_backward_cuda",)
    assert catalog.get("interpolate-bilinear-antialias-backward").kernels == (
        "upsample_bilinear2d_aa_backward_out_cuda",
    )
    assert catalog.get("cublas-mm-workspace-unset").kernels == ("cublas",)
    # 2.14.1 alerts only for prod (CUDA) and for sum, mean, prod (MPS): amax/amin list none
    assert catalog.get("scatter-reduce-amax").kernels == ()
    assert catalog.get("scatter-reduce-amin-mps").kernels == ()
    assert catalog.get("scatter-reduce-sum-mps").kernels == ("scatter_reduce_mps",)
    assert catalog.get("index-put-accumulate-true-mps").kernels == (
        "index_put_with_accumulate_mps",
    )
    assert catalog.get("kthvalue-mps").kernels == ("kthvalue MPS",)


def test_a_history_name_that_is_an_alert_is_found(catalog, known):
    twice = Alert("put_", "libtorch_cpu.so: at::native::put_", "why")
    assert uncovered(catalog, dataclasses.replace(known, history=(*known.history, twice))) == [
        "history 'put_': an alert of the build read"
    ]


def test_an_entry_kernel_of_an_older_build_needs_its_history_line(catalog, known):
    fewer = tuple(h for h in known.history if h.kernel != "kthvalue CUDA")
    assert uncovered(catalog, dataclasses.replace(known, history=fewer)) == [
        "entry kthvalue: kernel 'kthvalue CUDA' is not among the alerts read nor their history"
    ]


def test_every_mps_entry_names_its_alert_or_is_listed_as_not_found(catalog, known):
    mps = {e.id for e in catalog if e.id.endswith("-mps")}
    assert mps  # the 2.15.0 MPS entries are there
    named = {e.id for e in catalog if e.id in mps and e.kernels}
    not_found = {i for i in known.alert_not_found if i.endswith("-mps")}
    assert mps == named | not_found
    assert not named & not_found


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
    fewer = tuple(a for a in known.alerts if a.kernel != "put_")
    assert (
        "entry put-accumulate-false: kernel 'put_' is not among the alerts read nor their history"
        in uncovered(catalog, dataclasses.replace(known, alerts=fewer))
    )


def test_an_alert_not_found_without_what_was_searched_is_refused(tmp_path):
    bad = tmp_path / GAPS_FILE
    bad.write_text("alerts: []\ngaps: []\nalert_not_found: [{entry: kthvalue-mps}]\n")
    with pytest.raises(CatalogError, match="alert_not_found must be a list"):
        load_known_gaps(bad)


def test_a_history_name_without_a_reason_is_refused(tmp_path):
    bad = tmp_path / GAPS_FILE
    bad.write_text("alerts: []\ngaps: []\nhistory: [{kernel: a_cuda, file: x.cu}]\n")
    with pytest.raises(CatalogError, match="every history name needs a reason"):
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
