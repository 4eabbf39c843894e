"""Which line a hit names: generated code, code not on disk and the user's own dispatch mode
are skipped; setitem and getitem backward are told apart by the op that runs."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

import detaudit
from detaudit.frames import Frames
from detaudit.scanner import dynamic

GENERATED = """\
import torch

def propagate(x, index):
    out = torch.zeros(4, x.shape[1])
    return out.index_add_(0, index, x)  # generated line
"""

USER = """\
import torch

def step(propagate):
    x = torch.ones(6, 2)
    return propagate(x, torch.tensor([0, 1, 1, 2, 3, 3]))  # user line
"""


def _line(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


def _load(name: str, path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def library(tmp_path, monkeypatch):
    """An installed package ``fakegeo`` under a folder that counts as site-packages."""
    site = tmp_path / "site"
    (site / "fakegeo").mkdir(parents=True)
    (site / "fakegeo" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(dynamic, "Frames", lambda: Frames(library=[site]))
    monkeypatch.chdir(tmp_path)
    import fakegeo  # noqa: F401

    yield site
    for name in [m for m in sys.modules if m.startswith("fakegeo")]:
        del sys.modules[name]


def test_code_a_library_generates_outside_its_folder_counts_as_the_library(
    scan_cache, library, tmp_path
):
    # like PyG's propagate: written to a temporary file, imported under the library's package
    generated = tmp_path / "tmpgen" / "propagate_abc.py"
    generated.parent.mkdir()
    generated.write_text(GENERATED)
    gen = _load("fakegeo.generated_propagate", generated)
    (tmp_path / "user_step.py").write_text(USER)
    user = _load("user_step", tmp_path / "user_step.py")
    with detaudit.scan() as found:
        user.step(gen.propagate)
    (hit,) = [h for h in found.hits if h.entry == "index-add"]
    assert hit.where == f"tmpgen/propagate_abc.py:{_line(GENERATED, 'generated line')}"
    assert hit.via == f"user_step.py:{_line(USER, 'user line')}"


def test_code_not_on_disk_is_skipped_for_the_caller(scan_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(GENERATED, "<generated>", "exec"), namespace)  # noqa: S102
    (tmp_path / "user_exec.py").write_text(USER)
    user = _load("user_exec", tmp_path / "user_exec.py")
    with detaudit.scan() as found:
        user.step(namespace["propagate"])
    (hit,) = [h for h in found.hits if h.entry == "index-add"]
    assert hit.where == f"user_exec.py:{_line(USER, 'user line')}" and hit.via is None
    with detaudit.scan() as found:
        namespace["propagate"](torch.ones(6, 2), torch.tensor([0, 1, 1, 2, 3, 3]))  # caller
    (hit,) = [h for h in found.hits if h.entry == "index-add"]
    assert hit.file.endswith("test_scan_via.py") and hit.function.startswith("test_code_not")
    # with nothing else on the stack, the code not on disk is the line
    frames = Frames()
    assert frames.place([("<generated>", 5, "propagate")]) == ("<generated>", 5, "propagate", None)


MODE = """\
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class Counting(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))  # mode line


def step():
    x = torch.ones(6, 2)
    with Counting():
        return torch.zeros(4, 2).index_add_(0, torch.tensor([0, 1, 1, 2, 3, 3]), x)  # op line
"""


def test_the_users_own_dispatch_mode_is_not_the_line(scan_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user_mode.py").write_text(MODE)
    user = _load("user_mode", tmp_path / "user_mode.py")
    with detaudit.scan() as found:
        user.step()
    hits = [h for h in found.hits if h.entry == "index-add"]
    assert hits and {h.where for h in hits} == {f"user_mode.py:{_line(MODE, 'op line')}"}


def test_setitem_backward_is_not_getitem_backward(scan_cache):
    x = torch.randn(5, 3, requires_grad=True)
    idx = torch.tensor([0, 2, 2])
    with detaudit.scan() as found:
        y = x * 2
        y[idx] = torch.ones(3, 3)  # its backward: index_put(accumulate=False)
        z = x[idx]  # its backward: index_put(accumulate=True), the getitem entry
        (y.sum() + z.sum()).backward()
    backward = [(h.entry, h.op) for h in found.hits if h.pass_ == "backward"]
    assert backward == [("getitem-index-list-backward", "aten::index_put")]
    (getitem,) = [h for h in found.hits if h.entry == "getitem-index-list-backward"]
    (setitem,) = [h for h in found.hits if h.entry == "index-put-accumulate-false"]
    assert getitem.line == setitem.line + 1
