"""Probes that each leave one kind of state behind for the next probe in the worker."""

import sys
import types

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


def _out() -> torch.Tensor:
    return torch.zeros(1)


def plant_module(device: torch.device) -> torch.Tensor:
    """A fake leakhelpers whose put never calls put_: the next probe imports that name."""
    fake = types.ModuleType("leakhelpers")
    fake.put = lambda t, index, values: t
    sys.modules["leakhelpers"] = fake
    return _out()


def replace_module(device: torch.device) -> torch.Tensor:
    """numpy swapped for a module without numpy.random: the runner seeds numpy's generator."""
    sys.modules["numpy"] = types.ModuleType("numpy")
    return _out()


def monkeypatch(device: torch.device) -> torch.Tensor:
    """put_ replaced by a no-op that never alerts."""
    torch.Tensor.put_ = lambda self, index, source, accumulate=False: self
    return _out()


class _SkipPut(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.Tensor.put_:
            return args[0]
        return func(*args, **(kwargs or {}))


class _SkipPutDispatch(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.put_.default:
            return args[0]
        return func(*args, **(kwargs or {}))


def function_mode(device: torch.device) -> torch.Tensor:
    """A TorchFunctionMode entered and never exited: put_ becomes a no-op."""
    out = _out()
    _SkipPut().__enter__()
    return out


def dispatch_mode(device: torch.device) -> torch.Tensor:
    """A TorchDispatchMode entered and never exited: aten.put_ becomes a no-op."""
    out = _out()
    _SkipPutDispatch().__enter__()
    return out


def flush_denormal(device: torch.device) -> torch.Tensor:
    """Denormals flushed to zero from now on (x86 and AArch64)."""
    torch.set_flush_denormal(True)
    return _out()


def mkldnn_off(device: torch.device) -> torch.Tensor:
    """oneDNN kernels off for every later op."""
    torch.backends.mkldnn.enabled = False
    return _out()


def backends_flags(device: torch.device) -> torch.Tensor:
    """Flags of other backends: a function pair, a C++ global and a fp32_precision object."""
    torch.backends.cuda.enable_flash_sdp(False)
    torch.backends.nnpack.set_flags(False)
    torch.backends.mkldnn.conv.fp32_precision = "tf32"
    return _out()
