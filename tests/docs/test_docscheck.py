"""``catalog check-docs``: the docstring's lists against the catalogue's claims for that release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from detaudit.catalog import Catalog, builtin_catalog_files, load_catalog
from detaudit.docs.check import check_docs, devices_named
from detaudit.docs.docstring import parse_docstring
from detaudit.render import RENDERERS

from ..conftest import DATA, check_golden, run_cli_here

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
            if group != "requires":  # a file-level key (torchvision.yaml), not a group
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
        ("max-pool3d-backward", "max-pool3d-return-indices-backward"),  # one bullet, two paths
    )


@pytest.fixture(scope="module")
def without_2_11(tmp_path_factory) -> Catalog:
    """The catalogue as it was before docs 2.11 and 2.12 were read: no "2.11"/"2.12" claims."""

    def edit(group, entries):
        for entry in entries:
            for key in ("2.11", "2.12"):
                (entry.get("claims") or {}).pop(key, None)
        return entries

    return load_catalog(copy_catalogue(tmp_path_factory.mktemp("no-2.11"), edit), builtin=False)


def test_a_release_between_docs_versions_uses_the_older_claims(without_2_11):
    # torch 2.11 is compared with the claims of docs 2.10: MaxPool3d moved in 2.13's docs
    result = check(without_2_11, "2.13", "2.11.0")
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
    result = run_cli_here("catalog", "check-docs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agree" in result.stdout
    assert "docs 2." in result.stdout


def test_cli_finds_a_removed_entry(tmp_path):
    def edit(group, entries):
        # both entries of the MaxPool3d bullet (return_indices False and True)
        gone = ("max-pool3d-backward", "max-pool3d-return-indices-backward")
        return [e for e in entries if e["id"] not in gone]

    paths = copy_catalogue(tmp_path, edit)
    args = ["catalog", "check-docs", "--no-builtin", *(a for p in paths for a in ("--catalog", p))]
    text = run_cli_here(*args)
    assert text.returncode == 1, text.stderr
    assert "missing from the catalogue (1)" in text.stdout
    assert "torch.nn.MaxPool3d when attempting to differentiate a CUDA tensor" in text.stdout
    result = run_cli_here(*args, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(f["kind"], f["api"], f["docs"]) for f in report["findings"]] == [
        ("missing", "torch.nn.MaxPool3d", "converted")
    ]
    assert len(report["docs"]["converted"]) == 23 and len(report["docs"]["raises"]) == 25


def test_cli_checks_a_given_docstring(tmp_path):
    fixture = str(DOCSTRINGS / "torch-1.11.txt")
    ok = run_cli_here("catalog", "check-docs", "--docstring", fixture, "--torch-version", "1.11.0")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    drift = run_cli_here("catalog", "check-docs", "--docstring", fixture, "--torch-version", "2.13.0")
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
    result = run_cli_here("catalog", "check-docs", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty; give the docstring's text"),
        (b"\n  \n", "the file is empty; give the docstring's text"),
        (
            b"Sets a flag.\n\n    * :func:`torch.foo` when called\n",
            "no use_deterministic_algorithms lists in it",
        ),
        (b"The following " * 30_000, "no use_deterministic_algorithms lists in it"),
        (b"caf\xe9: The following\n", "not UTF-8 text (byte 0xe9 at offset 3); save it as UTF-8"),
    ],
    ids=["empty", "blank", "no-lists", "30000-followings", "latin-1"],
)
def test_cli_a_docstring_file_it_cannot_use_is_one_line(tmp_path, content, message):
    """Today: "57 findings" and exit 1 (every entry unlisted), or exit 4 on latin-1."""
    path = tmp_path / "doc.txt"
    path.write_bytes(content)
    result = run_cli_here("catalog", "check-docs", "--docstring", str(path), "--torch-version", "2.13.0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"detaudit: error: --docstring {path}: {message}"), line


@pytest.mark.parametrize("fmt", sorted(RENDERERS["docs-check"]))
def test_golden(builtin, fmt, request):
    renderer = RENDERERS["docs-check"][fmt]
    check_golden(
        request, f"docs-check{renderer.extension}", renderer.render(check(builtin, "2.13"))
    )


# ------------------------- the full text of every minor release 1.10 to 2.15 (official wheels)

FULL_TEXTS = (
    "1.10.2", "1.11.0", "1.12.1", "1.13.1", "2.0.1", "2.1.2", "2.2.2", "2.3.1", "2.4.1", "2.5.1",
    "2.6.0", "2.7.1", "2.8.0", "2.9.1", "2.10.0", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0",
)  # fmt: skip


def test_every_minor_release_is_read_and_is_a_claims_key(builtin):
    minors = [".".join(v.split(".")[:2]) for v in FULL_TEXTS]
    assert minors == [f"1.{m}" for m in range(10, 14)] + [f"2.{m}" for m in range(16)]
    # a claims key is a docstring read: the catalogue's docs versions are exactly these
    assert list(builtin.docs_versions) == minors


@pytest.mark.parametrize(
    "entry_id,version,claim",
    [
        # 2.1 already lists them (the claims started at 2.2 before every release was read)
        ("scatter-src-tensor", "2.1", "converted"),
        ("scatter-reduce-sum", "2.1", "converted"),
        ("scatter-reduce-prod", "2.1", "raises"),
        ("resize-quantized", "2.1", "raises"),
        ("resize-fill", "2.1", "converted"),
        ("resize-fill", "2.2", None),  # from 2.2 a paragraph of its own, outside the lists
        ("scatter-src-tensor", "2.0", None),
        # ReplicationPad2d moved in 2.2; 1d and 3d in 2.8 (not 2.9)
        ("replication-pad2d-backward", "2.1", "raises"),
        ("replication-pad2d-backward", "2.2", "converted"),
        ("replication-pad1d-backward", "2.7", "raises"),
        ("replication-pad1d-backward", "2.8", "converted"),
        ("replication-pad3d-backward", "2.8", "converted"),
    ],
)
def test_claims_that_were_off_by_a_release(builtin, entry_id, version, claim):
    claims = dict(builtin.get(entry_id).claims)
    assert claims.get(version) == claim


def full(version: str):
    return parse_docstring((DOCSTRINGS / f"torch-{version}.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", FULL_TEXTS)
def test_the_catalogue_agrees_with_every_full_docstring(builtin, version, request):
    fixture = str(DOCSTRINGS / f"torch-{version}.txt")
    result = run_cli_here("catalog", "check-docs", "--docstring", fixture, "--torch-version", version)
    assert result.returncode == 0, result.stdout + result.stderr
    # the catalogue has read this release: its claims, not an older release's, are compared
    major, minor = version.split(".")[:2]
    assert f"compared with the catalogue's claims as of docs {major}.{minor}\n" in result.stdout
    check_golden(
        request,
        f"docs-check-{version}.txt",
        RENDERERS["docs-check"]["text"].render(
            check_docs(builtin, full(version), version, "fixture")
        ),
    )


@pytest.mark.parametrize("version", FULL_TEXTS)
def test_every_full_docstring_item_stands_for_an_entry(builtin, version):
    result = check_docs(builtin, full(version), version, "fixture")
    assert {index for _, index in result.matched} == set(range(len(result.docs.expanded())))


def test_a_raises_entry_pairs_with_a_raises_bullet(builtin):
    # 2.15 lists scatter_reduce in both lists: sum/mean converted, every reduction raises
    result = check_docs(builtin, full("2.15.0"), "2.15.0", "fixture")
    items, matched = result.docs.expanded(), dict(result.matched)
    for entry_id in ("scatter-reduce-prod", "scatter-reduce-amax", "scatter-reduce-amin"):
        assert items[matched[entry_id]].group == "raises", entry_id
        assert items[matched[entry_id]].condition == "when called on CUDA or MPS tensor"
    for entry_id in ("scatter-reduce-sum", "scatter-reduce-mean"):
        assert items[matched[entry_id]].group == "converted", entry_id


def test_a_group_change_is_reported_on_the_bullet_of_the_docs_group(tmp_path):
    def edit(group, entries):
        for entry in entries:
            if entry["id"] == "scatter-reduce-prod":
                entry["claims"]["2.15"] = "converted"  # a maintainer misled into "prod converts"
        return entries

    catalog = load_catalog(copy_catalogue(tmp_path, edit), builtin=False)
    result = check_docs(catalog, full("2.15.0"), "2.15.0", "fixture")
    (finding,) = result.findings
    # prod contradicts the converted bullet's reduce='sum' or reduce='mean': the raises bullet
    assert (finding.kind, finding.condition, finding.docs, finding.catalog, finding.entries) == (
        "group",
        "when called on CUDA or MPS tensor",
        "raises",
        "converted",
        ("scatter-reduce-prod",),
    )
    assert finding.fix == 'set "2.15": raises in the claims of scatter-reduce-prod'
    assert finding.bullet == "torch.Tensor.scatter_reduce when called on CUDA or MPS tensor"
    assert finding.line == 80


def test_the_widened_bullet_is_not_missing_on_a_catalogue_without_mps(tmp_path):
    def edit(group, entries):
        return [
            e for e in entries if not e["id"].startswith("scatter-reduce-") or "mps" not in e["id"]
        ]

    catalog = load_catalog(copy_catalogue(tmp_path, edit), builtin=False)
    result = check_docs(catalog, full("2.15.0"), "2.15.0", "fixture")
    (finding,) = result.findings
    # the CUDA entries stand for it; what the catalogue lacks is an entry on MPS
    assert (finding.kind, finding.devices, finding.docs) == ("devices", ("cuda", "mps"), "raises")
    assert finding.entries == ("scatter-reduce-prod", "scatter-reduce-amax", "scatter-reduce-amin")
    assert "on mps with claims" in finding.fix and '"2.15": raises' in finding.fix


def test_a_bullet_naming_three_classes_is_three_items(tmp_path):
    def edit(group, entries):
        return [e for e in entries if e["id"] != "max-pool3d-backward-mps"]

    catalog = load_catalog(copy_catalogue(tmp_path, edit), builtin=False)
    result = check_docs(catalog, full("2.15.0"), "2.15.0", "fixture")
    (finding,) = result.findings
    assert (finding.kind, finding.api, finding.entries) == ("missing", "torch.nn.MaxPool3d", ())
    assert finding.condition == "when attempting to differentiate an MPS tensor"
    assert finding.bullet == (
        "torch.nn.MaxPool2d, torch.nn.MaxPool3d, and torch.nn.AvgPool3d "
        "when attempting to differentiate an MPS tensor"
    )
    assert finding.fix == (
        'add an entry for torch.nn.MaxPool3d on mps with claims {"2.15": raises} and a probe'
    )
    # the CUDA MaxPool3d entry (converted) does not stand for the MPS bullet
    assert dict(result.matched)["max-pool3d-backward"] != (
        result.docs.expanded().index(
            next(
                i
                for i in result.docs.expanded()
                if i.api == "torch.nn.MaxPool3d" and "MPS" in i.condition
            )
        )
    )


def test_an_mps_condition_is_not_read_as_cuda(tmp_path):
    def edit(group, entries):
        return [e for e in entries if e["id"] != "kthvalue-mps"]

    catalog = load_catalog(copy_catalogue(tmp_path, edit), builtin=False)
    result = check_docs(catalog, full("2.15.0"), "2.15.0", "fixture")
    # the CUDA kthvalue entry (listed up to 2.9) is not paired with the MPS bullet
    (finding,) = result.findings
    assert (finding.kind, finding.api, finding.entries, finding.devices) == (
        "missing",
        "torch.kthvalue",
        (),
        ("mps",),
    )


def test_devices_a_condition_names():
    assert devices_named("when called on CUDA or MPS tensor") == ("cuda", "mps")
    assert devices_named("when called on a CPU or CUDA tensor") == ("cpu", "cuda")
    assert devices_named("when attempting to differentiate an MPS tensor") == ("mps",)
    assert devices_named("when accumulate=False") == ()


@pytest.mark.parametrize("version,devices", [("2.14.1", "cpu, cuda"), ("2.15.0", "cpu, cuda, mps")])
def test_a_condition_naming_no_device_covers_every_device_of_the_docstring(
    builtin, version, devices
):
    result = check_docs(builtin, full(version), version, "fixture")
    assert result.devices == tuple(devices.split(", "))
    items = result.docs.expanded()
    assert {items[i].api for i in result.unnamed} >= {"torch.nn.MaxUnpool2d", "torch.Tensor.put_"}
    text = RENDERERS["docs-check"]["text"].render(result)
    assert f"each is read as covering every device this docstring names ({devices})" in text


def test_entries_without_claims_are_not_compared_and_are_counted(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(
        "raises:\n"
        "  - id: my-mm\n"
        "    api: torch.mm\n"
        "    condition: when called on CUDA tensor without CUBLAS_WORKSPACE_CONFIG\n"
        "    devices: [cuda]\n"
        "    pass: forward\n"
        "    probe: detaudit.probes.reduction:histc\n"
        "    source: PyTorch's source\n"
        # a second entry under a bullet that already has one (grid_sample 2-D and 3-D)
        "  - id: my-grid-sample-3d-backward\n"
        "    api: torch.nn.functional.grid_sample\n"
        "    condition: when attempting to differentiate a CUDA tensor with 5-D input\n"
        "    devices: [cuda]\n"
        "    pass: backward\n"
        "    probe: detaudit.probes.sampling:grid_sample_backward\n"
        "    source: test\n"
        '    claims: {"2.13": raises, "2.14": raises, "2.15": raises}\n',
        encoding="utf-8",
    )
    catalog = load_catalog([user])
    for version in ("2.13.0", "2.14.1", "2.15.0"):
        result = check_docs(catalog, full(version), version, "fixture")
        assert result.findings == (), version
        # my-mm, and the built-in entries no docstring lists (cuBLAS: ``claims: {}``)
        assert result.not_compared == tuple(e.id for e in catalog if not e.claims)
        assert "my-mm" in result.not_compared
        matched = dict(result.matched)
        assert matched["my-grid-sample-3d-backward"] == matched["grid-sample-backward"]
    text = RENDERERS["docs-check"]["text"].render(result)
    n = len(result.not_compared)
    assert f"not compared: {n} entries without docs claims (not from the docs): " in text
    assert "my-mm" in text.split("not compared:")[1]


def test_every_finding_says_what_to_change(builtin):
    result = check(builtin, "1.11", "2.13.0")
    assert result.findings
    for finding in result.findings:
        assert finding.entries or finding.kind == "missing"
        assert '"2.13"' in finding.fix, finding
    text = RENDERERS["docs-check"]["text"].render(result)
    assert text.count("    fix: ") == len(result.findings)
    (kthvalue,) = [f for f in result.findings if f.api == "torch.kthvalue"]
    assert kthvalue.fix == 'add "2.13": raises to the claims of kthvalue'
    (nd,) = [f for f in result.findings if "scatter-add-nd" in f.entries]
    # the n-D entry stands for 1.11's n-D raises bullet, not the 1-D converted one
    assert (nd.kind, nd.docs, nd.catalog) == ("group", "raises", "converted")


def test_a_release_the_catalogue_has_not_read_says_so(without_2_11):
    result = check(without_2_11, "2.13", "2.11.0")
    text = RENDERERS["docs-check"]["text"].render(result)
    assert 'the catalogue has no claims from docs 2.11 (claims key "2.11")' in text
    (pool,) = result.findings
    assert pool.fix == (
        'set "2.11": converted in the claims of max-pool3d-backward, '
        "max-pool3d-return-indices-backward"
    )


@pytest.mark.parametrize("version", ["2.15.0a0+git1234abc", "2.15.0.dev20260901", "2.15.0rc1"])
def test_a_pre_release_is_compared_with_the_release_before_it(builtin, version):
    # a 2.15 pre-release is built before 2.15's docs are final: docs 2.14, and labelled so
    result = check_docs(builtin, full("2.14.1"), version, "fixture")
    assert result.basis == "pre-release of 2.15, compared with docs 2.14"
    assert result.findings == ()
    text = RENDERERS["docs-check"]["text"].render(result)
    assert f"torch {version} is a pre-release of 2.15: its docs are not final" in text
    # the release itself reads its own docs
    assert check_docs(builtin, full("2.15.0"), "2.15.0", "fixture").basis == "docs 2.15"


@pytest.mark.parametrize("version", [v for v in FULL_TEXTS if v < "2.10" or v.startswith("1.")])
def test_the_cublas_paragraph_is_a_list_of_raises_items_up_to_2_9(builtin, version):
    docs = full(version)
    assert [(i.api, i.group) for i in docs.cublas] == [
        ("torch.mm", "raises"),
        ("torch.mv", "raises"),
        ("torch.bmm", "raises"),
    ]
    result = check_docs(builtin, docs, version, "fixture")
    matched, items = dict(result.matched), docs.expanded()
    for op in ("mm", "mv", "bmm"):
        assert items[matched[f"cublas-{op}-workspace-unset"]].api == f"torch.{op}"
    # the sparse-dense bmm bullet stays with its own entry
    assert items[matched["bmm-sparse-dense"]].group == "converted"


@pytest.mark.parametrize("version", ["2.10.0", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0"])
def test_from_2_10_no_cublas_paragraph_and_no_cublas_claim(builtin, version):
    assert full(version).cublas == ()
    for op in ("mm", "mv", "bmm"):
        entry = builtin.get(f"cublas-{op}-workspace-unset")
        assert entry.claim_for(version, builtin.docs_versions)[0] is None
        assert builtin.expected(entry, "cuda", version)[0] is None
    assert builtin.expected(builtin.get("cublas-mm-workspace-unset"), "cuda", "2.9.1") == (
        "raises",
        "docs 2.9",
    )
