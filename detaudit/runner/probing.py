"""What every worker-side handler shares: alerts, seeding, messages, digests, probe loading.

Runs in probe workers, which may run under another interpreter than
detaudit's: standard library and torch only (numpy when present), syntax that
Python 3.9 runs, and no import of any other detaudit module at import time
(the handlers import this module; it imports none of them).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import os
import random
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = [
    "ProbeOutputError",
    "alert_kernel",
    "check_output",
    "digest",
    "load_probe",
    "mps_available",
    "seed_all",
    "short",
    "synchronize",
    "where",
]

#: The phrase every ``alertNotDeterministic`` message has after the kernel's name:
#: "put_ does not have a deterministic implementation, but you set ...".
_ALERT_PHRASE = " does not have a deterministic implementation"
#: The cuBLAS alert names no kernel; see
#: https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility
_CUBLAS_PHRASE = "not deterministic because it uses CuBLAS"
MESSAGE_LIMIT = 600
#: The longest alert name looked for before the phrase (the longest in torch 2.14.1 has 41).
_NAME_LIMIT = 400
#: "RuntimeError: " / "UserWarning: " before a quoted alert, once or more (anchored: linear).
_WRAPPER = re.compile(r"^(?:[\w.]*(?:Error|Warning|Exception): ?)+")


def alert_kernel(message: str) -> str | None:
    """The alert name a nondeterministic alert carries, or None if ``message`` is no alert.

    The whole name PyTorch passes to ``alertNotDeterministic`` is the kernel, spaces
    included: "median CUDA with indices output", "_histc_cuda with floating point input",
    "kthvalue MPS" (not their last word). The name starts the message's line; a wrapper
    that quotes the alert ("RuntimeError: put_ does not ...", inside a compile error) is
    stripped. Plain substring search: linear in the message's length, whatever it holds
    (a regex with ``(\\S+)`` before the phrase was quadratic on a long token: 22 s for 40 KB).
    """
    at = message.find(_ALERT_PHRASE)
    if at > 0:
        before = message[max(0, at - _NAME_LIMIT) : at]
        name = _WRAPPER.sub("", before[before.rfind("\n") + 1 :]).strip()
        if name:
            return name
    if _CUBLAS_PHRASE in message:
        return "cublas"
    return None


def mps_available() -> bool:
    """Whether this torch can run on Apple silicon's GPU (False on builds without MPS)."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def synchronize(device: Any) -> None:
    """Wait for ``device``'s queued kernels (CUDA or MPS); nothing to wait for on the CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def short(text: str) -> str:
    """``text`` stripped and cut to :data:`MESSAGE_LIMIT` characters."""
    text = text.strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def where(exc: BaseException) -> str:
    """The innermost frame of ``exc``, as ``at file:line in function``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"at {last.filename}:{last.lineno} in {last.name}"


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's (when installed) and torch's generators (every CUDA device too)."""
    import torch

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is None:
        try:
            import numpy
        except ImportError:
            numpy = None
    if numpy is not None:
        numpy.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- outputs


class ProbeOutputError(Exception):
    """A probe returned something other than tensors (``None``, a number, an object...)."""


def _describe(obj: Any) -> str:
    if obj is None:
        return "None"
    return type(obj).__name__


def check_output(obj: Any, path: str = "") -> None:
    """Raise :class:`ProbeOutputError` unless ``obj`` is a tensor or a (nested) container of them.

    A probe's result is what the runner compares bit for bit: ``None`` (an
    in-place op as the last line, no ``return``) would compare equal every
    time, and an object's ``repr`` holds its address, which differs every time.
    """
    import torch

    if isinstance(obj, torch.Tensor):
        return
    if isinstance(obj, (tuple, list)):
        if not obj and not path:
            raise ProbeOutputError(
                f"the probe returned an empty {type(obj).__name__}; "
                "return the tensor(s) whose bits must repeat"
            )
        for index, item in enumerate(obj):
            check_output(item, f"{path}[{index}]")
        return
    if isinstance(obj, dict):
        for key, item in obj.items():
            check_output(item, f"{path}[{key!r}]")
        return
    at = f" at {path}" if path else ""
    hint = (
        " (an in-place op as the last line, and no `return`?)"
        if obj is None and not path
        else ""
    )
    raise ProbeOutputError(
        f"the probe returned {_describe(obj)}{at}{hint}; a probe must return a tensor, or a "
        "tuple, list or dict of tensors: the outputs (or gradients) whose bits must repeat"
    )


def _tensor_bytes(t: Any) -> bytes:
    """The raw bytes of a contiguous CPU tensor, without numpy (the worker may lack it)."""
    size = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), size) if size else b""


def _digest_into(obj: Any, h: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        if t.is_sparse:
            t = t.coalesce().to_dense()
        if t.is_quantized:
            t = t.int_repr()
        if getattr(t, "is_conj", None) and t.is_conj():
            t = t.resolve_conj()
        if getattr(t, "is_neg", None) and t.is_neg():
            t = t.resolve_neg()
        t = t.cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(_tensor_bytes(t))
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            h.update(f"K{key!s}".encode())
            _digest_into(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _digest_into(item, h)
    else:  # check_output keeps these out of a probe's result; kept for other callers
        h.update(f"V{obj!r}".encode())


def digest(obj: Any) -> str:
    """A hash of the exact bits of every tensor in ``obj`` (nested containers allowed)."""
    h = hashlib.blake2b(digest_size=16)
    _digest_into(obj, h)
    return h.hexdigest()


# ----------------------------------------------------------------------------- probes

_PROBES: dict[tuple[str | None, str], Callable[[Any], Any]] = {}


def _module_file(folder: str, module: str) -> str:
    """The source file of ``module`` inside ``folder`` (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
    base = os.path.join(folder, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    raise ImportError(f"no module {module!r} in {folder}")


def _load_user_module(folder: str, module: str) -> Any:
    """Load a user catalogue's probe module from its own file, under a name unique to that file.

    Two catalogues whose probe modules share a name (``teamA/probes.py``,
    ``teamB/probes.py``) each get their own module: an ``import_module`` by
    name would hand the second catalogue the first one's cached module. The
    folder goes on ``sys.path`` so that the module can import its neighbours.
    """
    path = os.path.realpath(_module_file(folder, module))
    tag = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = f"_detaudit_probes_{tag}_{module.replace('.', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    loaded = importlib.util.module_from_spec(spec)
    package = module.rpartition(".")[0]
    if path.endswith("__init__.py"):
        package = module
    loaded.__package__ = package  # relative imports resolve against the real package
    sys.modules[name] = loaded  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded


def load_probe(probe: str, folder: str | None) -> Callable[[Any], Any]:
    """The function ``module:function`` names; a user catalogue's module from ``folder``."""
    key = (folder, probe)
    if key not in _PROBES:
        module_name, _, function = probe.partition(":")
        if folder:
            module = _load_user_module(folder, module_name)
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, function, None)
        if not callable(fn):
            raise ImportError(f"{module.__file__} defines no function {function!r}")
        _PROBES[key] = fn
    return _PROBES[key]
