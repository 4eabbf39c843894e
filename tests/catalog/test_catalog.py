"""The catalogue: the seed's lists are complete, ids are stable, bad files are one line each."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from detaudit.catalog import Catalog, Entry, load_catalog, parse_version
from detaudit.catalog.yamlfile import load_yaml
from detaudit.errors import CatalogError
from detaudit.render import RENDERERS

from ..conftest import check_golden, run_cli_here

PROBES = Path(__file__).resolve().parents[2] / "detaudit" / "probes"


@pytest.fixture(scope="module")
def builtin() -> Catalog:
    return load_catalog()


# --------------------------------------------------------------------------- the seed's lists

# (api, number of entries, group): one entry per condition the seed names.
SEED_CONVERTED = {
    "torch.nn.Conv1d": 1,
    "torch.nn.Conv2d": 1,
    "torch.nn.Conv3d": 1,
    "torch.nn.ConvTranspose1d": 1,
    "torch.nn.ConvTranspose2d": 1,
    "torch.nn.ConvTranspose3d": 1,
    "torch.bmm": 1,
    "torch.Tensor.__getitem__": 1,
    "torch.Tensor.index_put": 2,
    "torch.Tensor.put_": 1,
    "torch.Tensor.scatter_add_": 1,
    "torch.gather": 1,
    "torch.index_add": 1,
    "torch.index_select": 1,
    "torch.repeat_interleave": 1,
    "torch.Tensor.index_copy": 1,
}
SEED_RAISES = {
    "torch.nn.AvgPool3d": 1,
    "torch.nn.AdaptiveAvgPool2d": 1,
    "torch.nn.AdaptiveAvgPool3d": 1,
    "torch.nn.MaxPool3d": 1,
    "torch.nn.AdaptiveMaxPool2d": 1,
    "torch.nn.FractionalMaxPool2d": 1,
    "torch.nn.FractionalMaxPool3d": 1,
    "torch.nn.functional.interpolate": 4,
    "torch.nn.ReflectionPad1d": 1,
    "torch.nn.ReflectionPad2d": 1,
    "torch.nn.ReflectionPad3d": 1,
    "torch.nn.ReplicationPad1d": 1,
    "torch.nn.ReplicationPad2d": 1,
    "torch.nn.ReplicationPad3d": 1,
    "torch.nn.NLLLoss": 1,
    "torch.nn.CTCLoss": 1,
    "torch.nn.EmbeddingBag": 1,
    "torch.Tensor.scatter_add_": 1,
    "torch.gather": 1,
    "torch.Tensor.put_": 2,
    "torch.histc": 1,
    "torch.bincount": 1,
    "torch.kthvalue": 1,
    "torch.median": 1,
    "torch.nn.functional.grid_sample": 1,
}


@pytest.mark.parametrize("group,expected", [("converted", SEED_CONVERTED), ("raises", SEED_RAISES)])
def test_every_seed_op_is_in_its_seed_group(builtin, group, expected):
    seed_entries = [e for e in builtin if e.group == group and e.source == "seed"]
    counts: dict[str, int] = {}
    for entry in seed_entries:
        counts[entry.api] = counts.get(entry.api, 0) + 1
    assert counts == expected


def test_seed_conditions_split_as_the_seed_splits_them(builtin):
    interpolate = {e.condition for e in builtin if e.api == "torch.nn.functional.interpolate"}
    for mode in ("linear", "bilinear", "bicubic", "trilinear"):
        assert any(f"'{mode}'" in c or f" {mode}" in c for c in interpolate), mode
    put = {(e.group, e.devices) for e in builtin if e.api == "torch.Tensor.put_"}
    assert put == {("converted", ("cpu",)), ("raises", ("cpu", "cuda")), ("raises", ("cuda",))}


def test_newer_docs_entries_are_there(builtin):
    apis = {e.api for e in builtin}
    for api in (
        "torch.nn.MaxUnpool1d",
        "torch.nn.MaxUnpool2d",
        "torch.nn.MaxUnpool3d",
        "torch.cumsum",
        "torch.Tensor.scatter",
        "torch.Tensor.scatter_reduce",
        "torch.Tensor.resize_",
        "torch.nn.Embedding",
    ):
        assert api in apis, api


def test_claims_follow_the_docstring_matrix(builtin):
    # a few moves recorded in shared/reference/docstring_matrix.md
    def claim(entry_id: str, version: str):
        return builtin.get(entry_id).claim_for(version, builtin.docs_versions)

    assert claim("max-pool3d-backward", "2.10.0") == ("raises", "docs 2.10")
    assert claim("max-pool3d-backward", "2.13.0+cpu") == ("converted", "docs 2.13")
    assert claim("kthvalue", "2.4.1") == ("raises", "docs 2.4")
    assert claim("kthvalue", "2.11.0+cu130") == (None, "docs 2.11")
    # a pre-release is compared with the release before it, and says so
    assert claim("max-pool3d-backward", "2.13.0a0+git1234") == (
        "raises",
        "pre-release of 2.13, compared with docs 2.12",
    )
    assert claim("max-pool3d-backward", "2.13.0.dev20260101") == (
        "raises",
        "pre-release of 2.13, compared with docs 2.12",
    )
    assert claim("embedding-backward", "2.14.0rc2") == (
        None,
        "pre-release of 2.14, compared with docs 2.13",
    )
    assert claim("max-unpool2d", "1.11.0") == (None, "docs 1.11")
    assert claim("max-unpool2d", "1.13.1") == ("raises", "docs 1.13")
    assert claim("scatter-add-nd", "1.11.0")[0] == "raises"
    assert claim("scatter-add-nd", "1.13.1")[0] == "converted"
    assert claim("cumsum-cuda-float", "2.14.1") == ("converted", "docs 2.14")
    assert claim("index-copy", "1.9.0") == (None, None)  # older than any docs read


def test_expected_per_device(builtin):
    put_cpu = builtin.get("put-accumulate-true-cpu")
    assert builtin.expected(put_cpu, "cpu", "2.13.0") == ("converts", "docs 2.13")
    # on CUDA the sibling entry with the same probe makes the claim
    assert builtin.expected(put_cpu, "cuda", "2.13.0") == (None, "see put-accumulate-true-cuda")
    avg = builtin.get("avg-pool3d-backward")
    assert builtin.expected(avg, "cpu", "2.13.0") == ("ok", "docs 2.13")
    assert builtin.expected(avg, "cuda", "2.13.0") == ("raises", "docs 2.13")


def test_ids_are_unique_and_stable_looking(builtin):
    ids = [e.id for e in builtin]
    assert len(ids) == len(set(ids))
    assert all(i == i.lower() and " " not in i for i in ids)


def test_every_entry_has_a_probe_and_every_probe_an_entry(builtin):
    used = {e.probe for e in builtin}
    for file, _ in builtin.skipped:  # a file whose `requires:` is missing still names its probes
        data = load_yaml(Path(file).read_text(), file)
        used |= {raw["probe"] for group, items in data.items() if group != "requires" for raw in items}
    defined = set()
    for path in PROBES.glob("*.py"):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                defined.add(f"detaudit.probes.{path.stem}:{node.name}")
    assert used == defined


def test_parse_version():
    assert parse_version("2.11.0+cu130") == (2, 11)
    assert parse_version("2.14.0a0+git1234") == (2, 14)
    with pytest.raises(ValueError):
        parse_version("nightly")


def test_catalog_list_json_shape():
    result = run_cli_here("catalog", "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["entries"]
    assert len(entries) == len(load_catalog())
    for key in ("id", "api", "group", "condition", "devices", "pass", "source"):
        assert key in entries[0]
    assert {e["group"] for e in entries} == {"converted", "raises", "observed"}


def test_catalog_list_text_names_every_entry():
    result = run_cli_here("catalog", "list")
    assert result.returncode == 0
    for entry in load_catalog():
        assert entry.id in result.stdout


def test_no_builtin_without_files_is_usage_error():
    result = run_cli_here("catalog", "list", "--no-builtin")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0


# --------------------------------------------------------------------------- bad catalogues

GOOD_ENTRY = """\
  - id: mine
    api: torch.Tensor.put_
    condition: when accumulate=False
    devices: [cpu]
    pass: forward
    probe: myprobes:probe
    source: me
"""

BAD = {
    "syntax": ("raises:\n\t- id: mine\n", "YAML error", 2),
    # PyYAML alone keeps the last of two equal keys: the catalogue's loader refuses them
    "duplicate-key": (
        "raises:\n" + GOOD_ENTRY + "    pass: backward\n",
        "YAML error: duplicate key 'pass' (first at line 6)",
        9,
    ),
    "duplicate-group": (
        "raises:\n" + GOOD_ENTRY + "raises:\n" + GOOD_ENTRY.replace("mine", "other"),
        "YAML error: duplicate key 'raises' (first at line 1)",
        9,
    ),
    "unknown-key": ("raises:\n" + GOOD_ENTRY + "    devies: [cpu]\n", "unknown key 'devies'", 2),
    "missing-field": (
        "raises:\n" + GOOD_ENTRY.replace("    pass: forward\n", ""),
        "missing field 'pass'",
        2,
    ),
    "duplicate-id": ("raises:\n" + GOOD_ENTRY + GOOD_ENTRY, "duplicate id", 9),
    "unknown-group": ("explodes:\n" + GOOD_ENTRY, "unknown group 'explodes'", 1),
    "compiles-not-bool": (
        "raises:\n" + GOOD_ENTRY + "    compiles: yes please\n",
        "compiles must be true or false",
        2,
    ),
    "unresolved-probe": (
        "raises:\n" + GOOD_ENTRY.replace("myprobes:probe", "myprobes:nothing"),
        "does not resolve",
        2,
    ),
    "missing-module": (
        "raises:\n" + GOOD_ENTRY.replace("myprobes:probe", "nomodule:probe"),
        "no module 'nomodule'",
        2,
    ),
    "bad-device": ("raises:\n" + GOOD_ENTRY.replace("[cpu]", "[tpu]"), "devices must be", 2),
    "bad-pass": (
        "raises:\n" + GOOD_ENTRY.replace("pass: forward", "pass: sideways"),
        "pass must be",
        2,
    ),
    "bad-claims": ("raises:\n" + GOOD_ENTRY + "    claims: {2.10: raises}\n", "quoted", 2),
    "not-a-mapping": ("- just a list\n", "expected a mapping", None),
    "bad-kernels": ("raises:\n" + GOOD_ENTRY + "    kernels: put_\n", "kernels must be", 2),
    "bad-env": (
        "raises:\n" + GOOD_ENTRY + "    env: {CUBLAS_WORKSPACE_CONFIG: 4096}\n",
        "env must map",
        2,
    ),
    "slow-start-not-bool": (
        "raises:\n" + GOOD_ENTRY + "    slow_start: very\n",
        "slow_start must be true or false",
        2,
    ),
    "args-not-a-mapping": (
        "raises:\n" + GOOD_ENTRY + "    args: [sum]\n",
        "args must be a mapping of parameter names",
        2,
    ),
    "args-nested": (
        "raises:\n" + GOOD_ENTRY + "    args: {reduce: {how: sum}}\n",
        "args must be a mapping of parameter names",
        2,
    ),
    # Both would pass a name check and then fail in every audit: the def is read.
    "args-unknown-parameter": (
        "raises:\n" + GOOD_ENTRY + "    args: {reduce: sum}\n",
        "probe() has no parameter 'reduce'",
        2,
    ),
    "args-missing": (
        "raises:\n" + GOOD_ENTRY.replace("myprobes:probe", "myprobes:reduced"),
        "reduced() needs args 'reduce'",
        2,
    ),
}


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "myprobes.py").write_text(
        "def probe(device):\n    return None\n\n\n"
        "def reduced(device, reduce, *, scale=1.0):\n    return reduce\n"
    )
    return tmp_path


def test_good_user_catalog_validates(user_dir):
    path = user_dir / "good.yaml"
    path.write_text("raises:\n" + GOOD_ENTRY)
    result = run_cli_here("catalog", "validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "1 entries" in result.stdout


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_catalog_is_one_line_and_exit_2(user_dir, case):
    text, message, line = BAD[case]
    path = user_dir / f"{case}.yaml"
    path.write_text(text)
    result = run_cli_here("catalog", "validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in lines[0]
    assert str(path) in lines[0]
    if line is not None:
        assert f"{path}:{line}:" in lines[0]
    if case not in ("syntax", "duplicate-key", "duplicate-group", "unknown-group", "not-a-mapping"):
        assert "entry 'mine'" in lines[0]


def test_args_are_read_and_the_old_form_still_is(user_dir):
    path = user_dir / "args.yaml"
    path.write_text(
        "raises:\n"
        + GOOD_ENTRY
        + GOOD_ENTRY.replace("mine", "mine-sum").replace("myprobes:probe", "myprobes:reduced")
        + "    args: {reduce: sum, scale: 2}\n"
        + GOOD_ENTRY.replace("mine", "mine-list").replace("myprobes:probe", "myprobes:reduced")
        + "    args: {reduce: [1, 2]}\n"
    )
    catalog = load_catalog([path], builtin=False)
    plain, summed, listed = (catalog.get(i) for i in ("mine", "mine-sum", "mine-list"))
    assert plain.probe_args == () and "args" not in plain.to_dict()
    assert summed.probe_args == (("reduce", "sum"), ("scale", 2))
    assert summed.to_dict()["args"] == {"reduce": "sum", "scale": 2}
    assert listed.args_dict() == {"reduce": [1, 2]} and hash(listed)
    assert plain.probe_call != summed.probe_call != listed.probe_call


def test_one_probe_function_serves_the_variants(builtin):
    reductions = [e for e in builtin if e.probe == "detaudit.probes.scatter:scatter_reduce"]
    assert {dict(e.probe_args)["reduce"] for e in reductions} == {"sum", "mean", "prod", "amax", "amin"}


def test_bad_catalog_fails_the_audit_too(user_dir, tmp_path):
    path = user_dir / "dup.yaml"
    path.write_text("raises:\n" + GOOD_ENTRY + GOOD_ENTRY)
    result = run_cli_here("audit", "--catalog", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "duplicate id" in result.stderr
    assert not (tmp_path / "out").exists()


def test_kernels_env_and_empty_claims_are_read(user_dir):
    path = user_dir / "env.yaml"
    path.write_text(
        "raises:\n"
        + GOOD_ENTRY
        + '    kernels: [put_, "median CUDA with indices output"]\n'
        + '    env: {CUBLAS_WORKSPACE_CONFIG: null, OTHER: ":4096:8"}\n'
        + "    claims: {}\n"
    )
    (entry,) = load_catalog([path], builtin=False)
    assert entry.kernels == ("put_", "median CUDA with indices output")
    assert entry.env == (("CUBLAS_WORKSPACE_CONFIG", None), ("OTHER", ":4096:8"))
    # claims: {} is "no docstring lists it": no claim, where a missing key claims the group
    assert entry.claim_for("2.13.0", ("2.13",)) == (None, "docs 2.13")
    assert entry.to_dict()["env"] == {"CUBLAS_WORKSPACE_CONFIG": None, "OTHER": ":4096:8"}


def test_cublas_entries_claim_raises_up_to_2_9_and_nothing_from_2_10(builtin):
    # the docstring's cuBLAS paragraph (1.10 to 2.9) names mm, mv and bmm; the check and the
    # paragraph are gone from 2.10
    for op in ("mm", "mv", "bmm"):
        entry = builtin.get(f"cublas-{op}-workspace-unset")
        assert builtin.expected(entry, "cuda", "1.13.1") == ("raises", "docs 1.13")
        assert builtin.expected(entry, "cuda", "2.9.1") == ("raises", "docs 2.9")
        assert builtin.expected(entry, "cuda", "2.10.0") == (None, "docs 2.10")
        assert builtin.expected(entry, "cuda", "2.13.0") == (None, "docs 2.13")
    # F.linear and the :4096:8 runs are in no docstring: they claim nothing in any release
    for entry_id in ("cublas-linear-workspace-unset", "cublas-mm-workspace-4096-8"):
        entry = builtin.get(entry_id)
        assert entry.claims == () and entry.unlisted
        assert builtin.expected(entry, "cuda", "2.9.1") == (None, "docs 2.9")
    assert dict(builtin.get("cublas-bmm-workspace-unset").env) == {"CUBLAS_WORKSPACE_CONFIG": None}
    assert dict(builtin.get("cublas-bmm-workspace-4096-8").env) == {
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8"
    }


def test_user_entry_clashing_with_builtin_id(user_dir):
    path = user_dir / "clash.yaml"
    path.write_text("raises:\n" + GOOD_ENTRY.replace("id: mine", "id: put-accumulate-false"))
    with pytest.raises(CatalogError, match=r"duplicate id.*first defined at"):
        load_catalog([path])


def test_user_entry_without_claims_claims_its_group(user_dir):
    path = user_dir / "good.yaml"
    path.write_text("raises:\n" + GOOD_ENTRY)
    catalog = load_catalog([path], builtin=False)
    entry = catalog.get("mine")
    assert isinstance(entry, Entry)
    assert entry.claim_for("2.13.0") == ("raises", "catalog")
    assert entry.probe_path == str(user_dir.resolve())


def test_unknown_only_id_is_a_catalog_error(builtin):
    with pytest.raises(CatalogError, match="unknown entry id 'nope'"):
        builtin.select(["nope"])


def test_dedent_guard():
    # the GOOD_ENTRY text above is valid YAML on its own
    assert textwrap.dedent(GOOD_ENTRY).startswith("- id: mine")


@pytest.mark.parametrize("fmt", sorted(RENDERERS["catalog-list"]))
def test_catalog_list_golden(fmt, request):
    """The built-in catalogue's listing; its folder (where this checkout is) as ``<catalog>``."""
    from detaudit.catalog import builtin_catalog_dir

    renderer = RENDERERS["catalog-list"][fmt]
    text = renderer.render(load_catalog()).replace(str(builtin_catalog_dir()), "<catalog>")
    check_golden(request, f"catalog-list{renderer.extension}", text)


# ------------------------------------------------------------ claims for every docs text read

DOCS_TEXTS = Path(__file__).resolve().parents[1] / "data" / "docstrings"


def test_every_docs_release_read_is_a_claims_key(builtin):
    # the matrix's sampled releases and the full texts of tests/data/docstrings
    matrix = {"1.10", "1.11", "1.13", "2.0", "2.4", "2.10", "2.13", "2.14"}
    texts = {
        ".".join(p.stem.removeprefix("torch-").split(".")[:2]) for p in DOCS_TEXTS.glob("*.txt")
    }
    assert texts >= {"2.0", "2.2", "2.4", "2.6", "2.9", "2.13", "2.14", "2.15"}
    assert set(builtin.docs_versions) == matrix | texts


def test_claims_of_the_full_texts(builtin):
    def claim(entry_id: str, version: str):
        return builtin.get(entry_id).claim_for(version, builtin.docs_versions)

    # ReplicationPad1d/3d moved between 2.4.1 and 2.9.1; kthvalue still listed in 2.9.1
    assert claim("replication-pad1d-backward", "2.6.0") == ("raises", "docs 2.6")
    assert claim("replication-pad3d-backward", "2.9.1") == ("converted", "docs 2.9")
    assert claim("kthvalue", "2.9.1") == ("raises", "docs 2.9")
    assert claim("replication-pad2d-backward", "2.2.2") == ("converted", "docs 2.2")
    assert claim("scatter-reduce-prod", "2.2.2") == ("raises", "docs 2.2")
    assert claim("scatter-reduce-amax", "2.14.1") == (None, "docs 2.14")
    assert claim("scatter-reduce-amax", "2.15.0") == ("raises", "docs 2.15")
    assert claim("kthvalue-mps", "2.15.0") == ("raises", "docs 2.15")
    assert claim("kthvalue", "2.15.0") == (None, "docs 2.15")


MPS_ENTRIES = (
    "scatter-reduce-sum-mps",
    "scatter-reduce-mean-mps",
    "scatter-reduce-prod-mps",
    "scatter-reduce-amax-mps",
    "scatter-reduce-amin-mps",
    "index-put-accumulate-true-mps",
    "index-reduce-prod-mps",
    "index-reduce-mean-mps",
    "kthvalue-mps",
    "embedding-backward-mps",
    "embedding-bag-backward-mps",
    "grid-sample-backward-mps",
    "max-pool2d-backward-mps",
    "max-pool3d-backward-mps",
    "avg-pool3d-backward-mps",
    "interpolate-backward-mps",
)


def test_the_mps_bullets_of_2_15_are_catalogued(builtin):
    mps = {e.id for e in builtin if "mps" in e.devices}
    assert mps == set(MPS_ENTRIES)
    for entry_id in MPS_ENTRIES:
        entry = builtin.get(entry_id)
        assert entry.devices == ("mps",)
        assert dict(entry.claims) == {"2.15": "raises"}
        assert entry.source == "torch docs 2.15.0"
        assert "not observed by this project" in entry.notes


@pytest.mark.parametrize("entry_id", [*MPS_ENTRIES, "scatter-reduce-amax", "scatter-reduce-amin"])
def test_the_2_15_probes_run_on_cpu(builtin, entry_id):
    import torch

    from detaudit.runner.probing import load_probe

    entry = builtin.get(entry_id)
    probe = load_probe(entry.probe, None, entry.args_dict())
    torch.manual_seed(0)
    out = probe(torch.device("cpu"))
    tensors = list(out) if isinstance(out, (tuple, list)) else [out]
    assert tensors and all(isinstance(t, torch.Tensor) and t.numel() > 0 for t in tensors)


def test_an_mps_entry_shares_the_probe_of_the_cuda_entry_of_its_op(builtin):
    # so that on CUDA the CUDA entry claims, and on MPS the MPS entry
    avg = builtin.get("avg-pool3d-backward-mps")
    assert builtin.expected(avg, "cuda", "2.15.0") == (None, "see avg-pool3d-backward")
    assert builtin.expected(avg, "mps", "2.15.0") == ("raises", "docs 2.15")
    assert builtin.expected(builtin.get("avg-pool3d-backward"), "mps", "2.15.0") == (
        None,
        "see avg-pool3d-backward-mps",
    )
    assert builtin.expected(avg, "mps", "2.14.1") == (None, "docs 2.14")


def test_validate_takes_a_folder_and_names_the_known_gaps_file(builtin, tmp_path):
    from detaudit.catalog import builtin_catalog_dir

    folder = builtin_catalog_dir()
    result = run_cli_here("catalog", "validate", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"ok: {len(builtin)} entries in " in result.stdout
    # The gaps list is data beside the catalogue, not entries: one line says so.
    result = run_cli_here("catalog", "validate", str(folder / "known_gaps.yaml"))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the known-gaps list" in lines[0], result.stderr
    result = run_cli_here("catalog", "validate", str(tmp_path))
    assert result.returncode == 2
    assert "a folder with no catalogue files" in result.stderr
