"""``catalog check-docs``: the docstring's lists against the catalogue's claims for that release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from detaudit.catalog import Catalog, builtin_catalog_files, load_catalog
from detaudit.docs.check import check_docs
from detaudit.docs.docstring import parse_docstring
from detaudit.render import RENDERERS

from ..conftest import DATA, check_golden, run_cli

DOCSTRINGS = DATA / "docstrings"
RELEASES = {"1.11": "1.11.0", "2.0": "2.0.0", "2.13": "2.13.0"}


@pytest.fixture(scope="module")
def builtin() -> Catalog:
    return load_catalog()


def check(catalog: Catalog, docs_version: str, torch_version: str | None = None):
    text = (DOCSTRINGS / f"torch-{docs_version}.txt").read_text(encoding="utf-8")
    return check_docs(
        catalog, parse_docstring(text), torch_version or RELEASES[docs_version], "fixture"
    )


def copy_catalogue(folder: Path, edit) -> list[str]:
    """Copy the built-in YAML files into ``folder``, letting ``edit(group, entries)`` change them."""
    paths = []
    for source in builtin_catalog_files():
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        for group, entries in data.items():
            data[group] = edit(group, entries)
        target = folder / source.name
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(str(target))
    return paths


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_the_catalogue_agrees_with_each_fixture_docstring(builtin, version):
    result = check(builtin, version)
    assert result.findings == ()
    assert result.basis == f"docs {version}"
    # every docs item (interpolate's modes apart) stands for at least one entry
    assert {index for _, index in result.matched} == set(range(len(result.docs.expanded())))


def test_entries_split_by_condition_share_one_item(builtin):
    new = dict(check(builtin, "2.13").matched)
    old = dict(check(builtin, "1.11").matched)
    # 2.13 lists scatter_add_ once; 1.11 lists it in both lists, split by input dimension
    assert new["scatter-add-1d"] == new["scatter-add-nd"]
    assert old["scatter-add-1d"] != old["scatter-add-nd"]
    items = parse_docstring((DOCSTRINGS / "torch-1.11.txt").read_text()).expanded()
    assert items[old["scatter-add-1d"]].group == "converted"
    assert items[old["scatter-add-nd"]].group == "raises"
    # sum and mean are one docs line, two entries; interpolate is one bullet, four entries
    assert new["scatter-reduce-sum"] == new["scatter-reduce-mean"]
    modes = {
        new[f"interpolate-{m}-backward"] for m in ("linear", "bilinear", "bicubic", "trilinear")
    }
    assert len(modes) == 4


def test_docs_of_another_release_disagree(builtin):
    # the seed's era docstring checked as if it documented torch 2.13
    result = check(builtin, "1.11", "2.13.0")
    kinds = {(f.kind, f.api) for f in result.findings}
    assert ("group", "torch.nn.MaxPool3d") in kinds  # raises in 1.11, converted in 2.13
    assert ("group", "torch.Tensor.scatter_add_") in kinds
    assert ("missing", "torch.kthvalue") in kinds  # 2.13's claims no longer list it
    assert ("unlisted", "torch.nn.MaxUnpool2d") in kinds  # not yet in 1.11's docs
    assert ("unlisted", "torch.Tensor.resize_") in kinds
    (pool,) = [f for f in result.findings if f.api == "torch.nn.MaxPool3d"]
    assert (pool.docs, pool.catalog, pool.entries) == (
        "raises",
        "converted",
        ("max-pool3d-backward",),
    )


def test_a_release_between_docs_versions_uses_the_older_claims(builtin):
    # torch 2.11 is compared with the claims of docs 2.10: MaxPool3d moved in 2.13's docs
    result = check(builtin, "2.13", "2.11.0")
    assert result.basis == "docs 2.10"
    assert [(f.kind, f.api, f.docs, f.catalog) for f in result.findings] == [
        ("group", "torch.nn.MaxPool3d", "converted", "raises")
    ]


def test_an_entry_matches_only_items_for_its_devices(tmp_path):
    def edit(group, entries):
        for entry in entries:
            if entry["id"] == "put-accumulate-true-cuda":
                entry["devices"] = ["cpu"]  # the docs' condition says CUDA
        return entries

    catalog = load_catalog(copy_catalogue(tmp_path, edit), builtin=False)
    result = check(catalog, "2.13")
    found = {(f.kind, f.condition, f.docs, f.catalog, f.entries) for f in result.findings}
    # its wording is the CUDA item's, but a CPU entry cannot stand for a CUDA-only item ...
    cuda = "when accumulate=True and called on a CUDA tensor"
    assert ("missing", cuda, "raises", None, ()) in found
    # ... so it stands for the closest CPU item, whose group it contradicts
    cpu = "with accumulate=True when called on a CPU tensor"
    assert ("group", cpu, "converted", "raises", ("put-accumulate-true-cuda",)) in found
    assert len(found) == 2


def test_cli_agrees_on_the_installed_torch():
    result = run_cli("catalog", "check-docs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agree" in result.stdout
    assert "docs 2." in result.stdout


def test_cli_finds_a_removed_entry(tmp_path):
    def edit(group, entries):
        return [e for e in entries if e["id"] != "max-pool3d-backward"]

    paths = copy_catalogue(tmp_path, edit)
    args = ["catalog", "check-docs", "--no-builtin", *(a for p in paths for a in ("--catalog", p))]
    text = run_cli(*args)
    assert text.returncode == 1, text.stderr
    assert "missing from the catalogue (1)" in text.stdout
    assert "torch.nn.MaxPool3d when attempting to differentiate a CUDA tensor" in text.stdout
    result = run_cli(*args, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(f["kind"], f["api"], f["docs"]) for f in report["findings"]] == [
        ("missing", "torch.nn.MaxPool3d", "converted")
    ]
    assert len(report["docs"]["converted"]) == 23 and len(report["docs"]["raises"]) == 25


def test_cli_checks_a_given_docstring(tmp_path):
    fixture = str(DOCSTRINGS / "torch-1.11.txt")
    ok = run_cli("catalog", "check-docs", "--docstring", fixture, "--torch-version", "1.11.0")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    drift = run_cli("catalog", "check-docs", "--docstring", fixture, "--torch-version", "2.13.0")
    assert drift.returncode == 1
    assert "group differs" in drift.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--docstring", "x.txt"], "needs --torch-version"),
        (["--torch-version", "2.0.0"], "goes with --docstring"),
        (["--docstring", "no-such-file.txt", "--torch-version", "2.0.0"], "no-such-file.txt"),
        (["--docstring", __file__, "--torch-version", "two"], "expected a version"),
    ],
)
def test_cli_bad_input_is_one_line(args, message):
    result = run_cli("catalog", "check-docs", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", sorted(RENDERERS["docs-check"]))
def test_golden(builtin, fmt, request):
    renderer = RENDERERS["docs-check"][fmt]
    check_golden(
        request, f"docs-check{renderer.extension}", renderer.render(check(builtin, "2.13"))
    )
