"""No state crosses from one probe to the next, and user probe modules never collide."""

from __future__ import annotations

import pytest
import torch

from detaudit import audit, torchstate
from detaudit.model.report import Status
from detaudit.runner.probing import digest

from ..conftest import DATA

# Audits of leaking probes, each with its own workers: tens of seconds.
pytestmark = pytest.mark.slow

LEAKS = DATA / "leaks" / "leaks.yaml"
TEAMS = DATA / "teams"
RETIRED = "the worker retired after this entry"


@pytest.fixture(scope="module")
def leaks():
    report = audit(catalogs=[LEAKS], builtin=False, device="cpu", repeat=2, jobs=1)
    return {r.id: r for r in report.results}


BAD = {
    "plant-module": ("sys.modules (leakhelpers removed)", False),
    "replace-module": ("sys.modules['numpy'] (replaced)", True),
    "monkeypatch": ("torch.Tensor.put_ (added: a monkeypatch)", True),
    "function-mode": ("a _SkipPut left entered on the torch function-mode stack", True),
    "dispatch-mode": ("a _SkipPutDispatch left entered on the torch dispatch-mode stack", True),
    "flush-denormal": ("torch.set_flush_denormal", False),
    "mkldnn": ("torch.backends.mkldnn.enabled", False),
    "backends": ("torch.backends.cuda.flash_sdp_enabled()", False),
}


@pytest.mark.parametrize("bad", sorted(BAD))
def test_put_still_raises_after_a_probe_that_leaves_state_behind(leaks, bad):
    put = leaks[f"put-after-{bad}"]
    assert put.status is Status.RAISES, put.message
    assert put.kernel == "put_"


@pytest.mark.parametrize("bad", sorted(BAD))
def test_the_leaking_probe_says_what_was_restored_or_that_the_worker_retired(leaks, bad):
    said, retired = BAD[bad]
    restored = " | ".join(leaks[f"leak-{bad}"].strict.restored)
    assert said in restored
    assert (RETIRED in restored) is retired


def test_every_backends_flag_the_probe_flipped_is_named(leaks):
    restored = leaks["leak-backends"].strict.restored
    assert {
        "torch.backends.cuda.flash_sdp_enabled()",
        "torch.backends.mkldnn.conv.fp32_precision",
        "torch._C._get_nnpack_enabled()",
    } <= set(restored)


def test_two_catalogues_with_same_named_neighbour_modules_each_run_their_own():
    """team_a and team_b: probes.py imports helpers (at the top and in a probe's body), and
    each folder holds a yaml.py and a numpy.py that must not shadow the installed ones."""
    report = audit(
        catalogs=[TEAMS / "team_a" / "catalog.yaml", TEAMS / "team_b" / "catalog.yaml"],
        builtin=False,
        device="cpu",
        repeat=2,
        jobs=1,
    )
    by_id = {r.id: r for r in report.results}
    for team, value in (("a", 1.0), ("b", 2.0)):
        for kind in ("value", "helper", "installed", "lazy", "lazy-helper"):
            result = by_id[f"team-{team}-{kind}"]
            assert result.status is Status.CONVERTS, (result.id, result.message)
        assert by_id[f"team-{team}-helper"].digest == digest(torch.full((4,), value * 10))
        lazy = torch.full((4,), value * 10) + 1
        assert by_id[f"team-{team}-lazy-helper"].digest == digest(lazy)
    # the installed yaml and numpy, not the team folder's files of those names
    assert by_id["team-a-installed"].digest == digest(torch.zeros(2))


# ----------------------------------------------------------------------------- completeness


def _scanned_backend_settings() -> set[tuple[str, str]]:
    """(module, attribute) of every setting torch/backends' source defines, read with ast."""
    import ast
    from pathlib import Path

    root = Path(torch.backends.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root).with_suffix("").parts).replace(".__init__", "")
        module = "" if module == "__init__" else module
        if module.startswith("_") or "." in module:
            continue  # private backends (_coreml, _nnapi) and helper files (cudnn.rnn)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    # enabled = ContextProp(...), engine = _QEngineProp()
                    if (
                        isinstance(item, ast.Assign)
                        and isinstance(item.value, ast.Call)
                        and "Prop" in ast.unparse(item.value.func)
                    ):
                        found |= {(module, t.id) for t in item.targets if isinstance(t, ast.Name)}
                    if isinstance(item, ast.FunctionDef) and any(
                        ast.unparse(d).endswith(".setter") for d in item.decorator_list
                    ):
                        found.add((module, item.name))
                    if isinstance(item, ast.FunctionDef) and item.name == "__setattr__":
                        for cmp in ast.walk(item):
                            if isinstance(cmp, ast.Compare) and isinstance(
                                cmp.comparators[0], ast.Constant
                            ):
                                found.add((module, cmp.comparators[0].value))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith(("enable_", "allow_")):
                found.add((module, node.name))
            if (
                isinstance(node, ast.FunctionDef)
                and node.name.startswith("set_")
                and node.name != "set_flags"
            ):
                found.add((module, node.name))
    return found


#: Settings the source defines that a snapshot does not hold, and why.
NOT_SETTINGS = {
    ("quantized", "supported_engines"): "a read-only listing (its __set__ raises)",
    ("cuda", "size"): "cuFFT plan cache size of a CUDA device: reading it starts CUDA",
    ("cuda", "max_size"): "cuFFT plan cache size of a CUDA device: reading it starts CUDA",
}


def _covers(names: set[str], module: str, attr: str) -> bool:
    prefix = f"{module}." if module else ""
    for form in ("{}", "{}_enabled()", "{}_allowed()", "get_{}()"):
        for head in ("enable_", "allow_", "set_", ""):
            if attr.startswith(head) and head:
                base = attr[len(head) :]
                if prefix + form.format(base) in names:
                    return True
    return any(
        n == prefix + attr or (n.startswith(prefix) and n.endswith("." + attr)) for n in names
    ) or any(n.endswith("." + attr) for n in names)


def test_the_snapshot_covers_every_setting_torch_backends_defines():
    names = set(torchstate.covered())
    missing = [
        f"torch.backends.{m + '.' if m else ''}{a}"
        for m, a in sorted(_scanned_backend_settings())
        if (m, a) not in NOT_SETTINGS and not _covers(names, m, a)
    ]
    assert missing == []


def test_every_setting_the_snapshot_names_is_real_and_round_trips():
    state = torchstate.snapshot()
    assert set(state) == set(torchstate.covered())  # every one readable here
    for label in torchstate.covered().values():
        if label.startswith("torch.backends."):
            owner, attr = torch, label[len("torch.") :].removesuffix("()")
            for part in attr.split("."):
                owner = getattr(owner, part)  # AttributeError: not a real name
        elif label.startswith("torch._C."):
            assert callable(getattr(torch._C, label[len("torch._C.") :].removesuffix("()")))
    torchstate.restore({name: value for name, value in state.items()})
    assert torchstate.snapshot() == state


def test_the_snapshot_lists_the_settings_the_issue_names():
    labels = set(torchstate.covered().values())
    assert {
        "torch.set_flush_denormal",
        "torch.backends.mkldnn.enabled",
        "torch.backends.cudnn.deterministic",
        "torch.backends.cudnn.benchmark",
        "torch.backends.opt_einsum.enabled",
        "torch.backends.cuda.matmul.allow_tf32",
        "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
        "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction",
        "torch.backends.cuda.flash_sdp_enabled()",
        "torch.backends.cuda.mem_efficient_sdp_enabled()",
        "torch.backends.cuda.math_sdp_enabled()",
    } <= labels


def test_every_flag_restores_after_a_change():
    """Flip each bool flag, restore the snapshot: every one is back."""
    before = torchstate.snapshot()
    flipped = []
    for flag in torchstate._flags():
        value = before.get(flag.name)
        if isinstance(value, bool) and flag.name != "grad_enabled":
            try:
                flag.set(not value)
            except Exception:  # noqa: BLE001, S112 - a flag this build cannot flip (no CUDA)
                continue
            flipped.append(flag.name)
    assert len(flipped) > 10 and torchstate.snapshot() != before
    torchstate.restore(before)
    assert torchstate.snapshot() == before


def test_a_probe_module_named_like_an_imported_module_is_the_folders_file():
    """json.py in a catalogue's folder: the catalogue resolves it, the worker runs it."""
    report = audit(
        catalogs=[TEAMS / "shadow" / "catalog.yaml"], builtin=False, device="cpu", repeat=2
    )
    (result,) = report.results
    assert result.status is Status.CONVERTS, result.message
    assert result.digest == digest(torch.full((3,), 7.0))
