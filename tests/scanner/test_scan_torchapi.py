"""The private torch names the scanner uses: resolved on use, a missing one is a one-line exit 3."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.utils._python_dispatch

import detaudit
from detaudit import torchstate
from detaudit.cli import main
from detaudit.errors import EnvironmentUnsupported, TorchUnsupported
from detaudit.scanner import torchapi
from detaudit.scanner.trace import _recorder_class

from .test_scan_dynamic import MODEL


def test_every_name_resolves_on_this_torch():
    api = torchapi.scan_api()
    assert api.dispatch_mode is torch.utils._python_dispatch.TorchDispatchMode
    assert api.current_node is torch._C._current_autograd_node
    assert api.call is torch._C._disabled_torch_function_impl


@pytest.mark.parametrize(
    ("owner", "name", "dotted"),
    [
        (torch.utils._python_dispatch, "TorchDispatchMode", torchapi.DISPATCH_MODE),
        (torch._C, "_current_autograd_node", torchapi.CURRENT_NODE),
        (torch._C, "_disabled_torch_function_impl", torchapi.DISABLED_TORCH_FUNCTION),
    ],
)
def test_a_missing_name_is_named_with_the_torch_version(monkeypatch, owner, name, dotted):
    monkeypatch.delattr(owner, name)
    monkeypatch.setattr(torch, "__version__", "1.12.1")
    with pytest.raises(TorchUnsupported) as caught:
        torchapi.scan_api()
    assert str(caught.value) == (
        f"this torch (1.12.1) has no {dotted}; detaudit scan needs torch >= 2.0"
    )
    assert isinstance(caught.value, EnvironmentUnsupported)


def test_a_missing_module_is_named_too(monkeypatch):
    with pytest.raises(TorchUnsupported, match=r"has no torch\.utils\._nowhere\.Mode;"):
        torchapi.resolve("torch.utils._nowhere.Mode")


def test_the_scan_fails_on_entry_and_leaves_the_flags_alone(monkeypatch):
    monkeypatch.delattr(torch._C, "_current_autograd_node")
    before = torchstate.snapshot()
    with pytest.raises(TorchUnsupported, match="_current_autograd_node"), detaudit.scan():
        pytest.fail("the block must not run")
    assert torchstate.snapshot() == before


def test_the_trace_recorder_fails_the_same_way(monkeypatch):
    monkeypatch.delattr(torch.utils._python_dispatch, "TorchDispatchMode")
    with pytest.raises(TorchUnsupported, match="TorchDispatchMode"):
        _recorder_class()


def test_the_cli_exits_3_in_one_line(monkeypatch, capsys):
    monkeypatch.delattr(torch.utils._python_dispatch, "TorchDispatchMode")
    assert main(["scan", str(MODEL)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("detaudit: error: this torch (") and err.count("\n") == 1
    assert "model ran" not in capsys.readouterr().out


def test_importing_the_scanner_needs_none_of_them():
    code = (
        "import torch, torch.utils._python_dispatch as d\n"
        "del d.TorchDispatchMode, torch._C._current_autograd_node, "
        "torch._C._disabled_torch_function_impl\n"
        "import detaudit.scanner.dynamic, detaudit.scanner.mode, detaudit.scanner.trace\n"
        "import detaudit.cli\n"
        "print('imported')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported\n"
