"""Third-party catalogue files (``requires:``) and the ``remedy:`` text of entries."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from detaudit.catalog import load_catalog
from detaudit.catalog.load import builtin_catalog_dir
from detaudit.errors import CatalogError

TORCHVISION_YAML = builtin_catalog_dir() / "torchvision.yaml"
HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None
TV_IDS = {
    "tv-roi-align-backward",
    "tv-roi-pool-backward",
    "tv-ps-roi-align-backward",
    "tv-ps-roi-pool-backward",
    "tv-deform-conv2d-backward",
}


def test_every_raises_entry_has_a_remedy():
    catalog = load_catalog()
    missing = [e.id for e in catalog if e.group == "raises" and not e.remedy]
    assert missing == []
    assert "reshape(-1, C)" in catalog.get("nll-loss").remedy


def test_the_remedy_is_advice_not_a_fact_so_not_in_the_hash(tmp_path):
    text = TORCHVISION_YAML.read_text().replace("requires: torchvision", "requires: json")
    first = tmp_path / "a" / "tv.yaml"
    first.parent.mkdir()
    first.write_text(text)
    second = tmp_path / "b" / "tv.yaml"
    second.parent.mkdir()
    second.write_text(text.replace("no deterministic CUDA kernel exists", "nothing to do"))
    a = load_catalog([first], builtin=False)
    b = load_catalog([second], builtin=False)
    assert a.get("tv-roi-align-backward").remedy != b.get("tv-roi-align-backward").remedy
    assert a.hash == b.hash
    assert a.get("tv-roi-align-backward").to_dict()["remedy"].startswith("no deterministic")


def test_a_file_whose_requirement_is_met_loads_its_entries(tmp_path):
    # the built-in torchvision.yaml, required module swapped for one that is always there
    copy = tmp_path / "tv.yaml"
    copy.write_text(TORCHVISION_YAML.read_text().replace("requires: torchvision", "requires: json"))
    catalog = load_catalog([copy], builtin=False)
    assert {e.id for e in catalog} == TV_IDS
    assert catalog.skipped == ()
    roi = catalog.get("tv-roi-align-backward")
    assert roi.group == "observed" and roi.match.ops == ("torchvision::_roi_align_backward",)
    assert roi.claim_for("2.13.0", catalog.docs_versions) == (None, None)


def test_a_file_whose_requirement_is_missing_is_skipped_with_the_reason(tmp_path):
    copy = tmp_path / "tv.yaml"
    copy.write_text(
        TORCHVISION_YAML.read_text().replace(
            "requires: torchvision", "requires: [json, detaudit_no_such_module]"
        )
    )
    # builtin=False: with torchvision installed the built-in file would bring the same ids
    catalog = load_catalog([copy], builtin=False)
    assert not TV_IDS & {e.id for e in catalog}
    assert catalog.skipped == ((str(copy), "detaudit_no_such_module is not installed"),)


def test_the_builtin_torchvision_file_follows_the_installed_torchvision():
    catalog = load_catalog()
    ids = {e.id for e in catalog}
    if HAVE_TORCHVISION:
        assert ids >= TV_IDS and catalog.skipped == ()
    else:
        assert not TV_IDS & ids
        assert catalog.skipped == ((str(TORCHVISION_YAML), "torchvision is not installed"),)


@pytest.mark.parametrize("bad", ["requires: 3", "requires: []", "requires: [torch vision]"])
def test_a_bad_requires_is_a_catalogue_problem(tmp_path, bad):
    copy = tmp_path / "tv.yaml"
    copy.write_text(TORCHVISION_YAML.read_text().replace("requires: torchvision", bad))
    with pytest.raises(CatalogError, match="requires must be a module name"):
        load_catalog([copy], builtin=False)


def test_a_remedy_must_be_text(tmp_path):
    copy = tmp_path / "tv.yaml"
    copy.write_text(
        TORCHVISION_YAML.read_text()
        .replace("requires: torchvision", "requires: json")
        .replace('remedy: "no deterministic CUDA kernel exists: run it on CPU', 'remedy: [1]  # "')
    )
    with pytest.raises(CatalogError, match="'remedy' must be a non-empty string"):
        load_catalog([copy], builtin=False)


def test_user_entries_for_any_namespace_op(tmp_path):
    """A user's entry for a library's op: `ops:` takes any ``namespace::op``."""
    (tmp_path / "mylib.yaml").write_text(
        "observed:\n"
        "  - id: mylib-scatter-backward\n"
        "    api: mylib.scatter\n"
        "    condition: on CUDA\n"
        "    devices: [cuda]\n"
        "    pass: backward\n"
        "    probe: detaudit.probes.torchvision:roi_align_backward\n"
        "    source: mylib/csrc/scatter.cu\n"
        '    match: {ops: ["mylib::_scatter_backward"]}\n'
    )
    catalog = load_catalog([tmp_path / "mylib.yaml"], builtin=False)
    assert catalog.get("mylib-scatter-backward").match.ops == ("mylib::_scatter_backward",)


def test_the_file_is_shipped_beside_the_others():
    assert Path(TORCHVISION_YAML).is_file()
