"""What every worker-side handler shares: alerts, seeding, messages, digests, probe loading.

Runs in probe workers, which may run under another interpreter than
detaudit's: standard library and torch only (numpy when present), syntax that
Python 3.9 runs, and no import of any other detaudit module at import time
(the handlers import this module; it imports none of them).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib
import importlib.util
import json
import operator
import os
import random
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "SEED_MAX",
    "START_ENVIRON",
    "ProbeOutputError",
    "alert_kernel",
    "check_output",
    "check_seed",
    "compile_probe",
    "digest",
    "folder_imports",
    "load_probe",
    "seed_all",
    "short",
    "synchronize",
    "user_module",
    "user_names",
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

#: The environment this process started with (the worker imports this module first thing):
#: torch reads some variables only at start-up (ATEN_CPU_CAPABILITY, OMP_NUM_THREADS), so an
#: entry's ``env`` is what the worker started with, never what was set in it later.
START_ENVIRON: dict[str, str] = dict(os.environ)


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


def synchronize(device: Any) -> None:
    """Wait for the queued kernels of ``device`` (a ``torch.device``), as its registry entry says."""
    from detaudit import devices

    info = devices.by_type(device.type)
    if info is not None:
        info.synchronize(device)


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


# numpy.random.seed takes seeds in [0, 2**32 - 1]; random and torch take more,
# but one seed has to fit all three.
SEED_MAX = 2**32 - 1


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int if it is one in [0, 2**32 - 1]; else raise TypeError/ValueError."""
    if isinstance(seed, bool):
        raise TypeError(f"seed must be an int in [0, {SEED_MAX}], got the bool {seed!r}")
    try:
        value = operator.index(seed)  # type: ignore[arg-type]  # int, numpy ints; not float, str
    except TypeError:
        raise TypeError(
            f"seed must be an int in [0, {SEED_MAX}], got {type(seed).__name__} {seed!r}"
        ) from None
    if not 0 <= value <= SEED_MAX:
        raise ValueError(
            f"seed must be in [0, {SEED_MAX}] (numpy.random.seed's range), got {value}"
        )
    return value


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's (when installed) and torch's generators (every device's too).

    :func:`torch.manual_seed` seeds the CPU's and every CUDA and MPS device's; a
    registered device that it does not seed says how (:attr:`DeviceInfo.seed
    <detaudit.devices.DeviceInfo.seed>`).
    """
    import torch

    from detaudit import devices

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is None:
        try:
            import numpy
        except ImportError:
            numpy = None
    if numpy is not None:
        numpy.random.seed(seed)
    if _cpu_only():
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)
    for info in devices.loaded():
        if info.seed is not None:
            info.seed(seed)


@functools.cache
def _cpu_only() -> bool:
    """Whether this torch has no generator to seed but the CPU's, so that seeding it is all
    :func:`torch.manual_seed` does here.

    :func:`torch.manual_seed` also seeds CUDA, XPU and MTIA, lazily where they have not
    started: each queued seed formats the caller's stack (about a millisecond a call, a
    tenth of a small probe's run). Without any such device nothing it queues can ever
    apply, so the default generator alone gives the same streams. Anything unknown (an
    older torch without one of these checks, a registered custom backend) says no.
    """
    import torch

    try:
        if torch.cuda.is_available() or torch.backends.mps.is_available():
            return False
        for name in ("xpu", "mtia"):
            backend = getattr(torch, name, None)
            if backend is not None and backend.is_available():
                return False
        # a custom backend (PrivateUse1) renamed and registered as torch.<name>: torch seeds it
        return not hasattr(torch, torch._C._get_privateuse1_backend_name())
    except Exception:  # noqa: BLE001 - a check this torch lacks: seed as torch does
        return False


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

_PROBES: dict[tuple[str | None, str, str], Callable[[Any], Any]] = {}


#: The user catalogue folders probes were loaded from (real paths).
_USER_FOLDERS: set[str] = set()


def user_module(module: Any) -> bool:
    """Whether ``module`` was loaded from a file in a user catalogue's folder."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):
        return False
    real = os.path.realpath(path)
    return any(real.startswith(folder + os.sep) for folder in _USER_FOLDERS)


def user_names() -> set[str]:
    """The top-level module names the user folders' files and packages have."""
    names: set[str] = set()
    for folder in _USER_FOLDERS:
        names |= user_names_in(folder)
    return names


def _neighbours_hidden(folder: str) -> dict[str, Any]:
    """Take out of ``sys.modules`` what would stand in for the folder's own modules.

    A module loaded from another user folder, or an entry no import made (no
    ``__spec__``): ``import helpers`` must load this folder's ``helpers.py``.
    An installed module already loaded (numpy, detaudit) stays: it wins.
    """
    hidden = {}
    for name in user_names_in(folder):
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            module = sys.modules[key]
            if user_module(module) or getattr(module, "__spec__", None) is None:
                hidden[key] = sys.modules.pop(key)
    return hidden


def user_names_in(folder: str) -> set[str]:
    """The top-level module names of ``folder``'s files and packages."""
    names = set()
    for entry in os.listdir(folder):
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif os.path.isfile(os.path.join(folder, entry, "__init__.py")):
            names.add(entry)
    return names


#: Each user folder's own modules (``helpers``...), out of ``sys.modules`` between uses.
_FOLDER_MODULES: dict[str, dict[str, Any]] = {}

_PROBE_PREFIX = "_detaudit_probes_"


def _in_folder(module: Any, folder: str) -> bool:
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and os.path.realpath(path).startswith(folder + os.sep)


@contextlib.contextmanager
def folder_imports(folder: str) -> Iterator[None]:
    """Within, ``import helpers`` finds ``folder``'s own ``helpers.py``, and only then.

    The folder goes on ``sys.path`` last (a user ``numpy.py``, ``yaml.py`` or
    ``detaudit.py`` never shadows the installed module); the modules it loaded
    before come back into ``sys.modules``, and what would stand in for them
    (another folder's ``helpers``, a planted fake) leaves it. Afterwards the
    folder's modules leave ``sys.modules`` again, kept for its next use: each
    folder has its own import namespace.
    """
    own = _FOLDER_MODULES.setdefault(folder, {})
    _USER_FOLDERS.add(folder)
    hidden = _neighbours_hidden(folder)
    sys.modules.update(own)
    sys.path.append(folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.reverse()
            sys.path.remove(folder)  # the last occurrence: the one appended here
            sys.path.reverse()
        sys.path_importer_cache.pop(folder, None)
        for name in [n for n, m in sys.modules.items() if _in_folder(m, folder)]:
            if not name.startswith(_PROBE_PREFIX):
                own[name] = sys.modules.pop(name)
        for key, module in hidden.items():
            sys.modules.setdefault(key, module)


def _load_user_module(folder: str, module: str, file: str) -> Any:
    """Load a user catalogue's probe module from its own file, under a name unique to that file.

    Two catalogues whose probe modules share a name (``teamA/probes.py``,
    ``teamB/probes.py``) each get their own module: an ``import_module`` by
    name would hand the second catalogue the first one's cached module. Its
    neighbours get the same care (:func:`folder_imports`), so another
    catalogue's ``helpers.py`` is its own.
    """
    path = os.path.realpath(file)
    tag = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = f"{_PROBE_PREFIX}{tag}_{module.replace('.', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    loaded = importlib.util.module_from_spec(spec)
    package = module.rpartition(".")[0]
    if path.endswith("__init__.py"):
        package = module
    loaded.__package__ = package  # relative imports resolve against the real package
    with folder_imports(folder):
        sys.modules[name] = loaded  # dataclasses and pickling look their module up here
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
    return loaded


def _with_folder_imports(fn: Callable[[Any], Any], folder: str) -> Callable[[Any], Any]:
    """``fn`` run inside :func:`folder_imports`: an ``import helpers`` in its body works too."""

    @functools.wraps(fn)
    def probe(device: Any) -> Any:
        with folder_imports(folder):
            return fn(device)

    probe.detaudit_probe = fn  # type: ignore[attr-defined]  # what torch.compile compiles
    probe.detaudit_folder = folder  # type: ignore[attr-defined]
    return probe


def compile_probe(fn: Callable[[Any], Any], compile: Callable[..., Any]) -> Callable[[Any], Any]:
    """``compile(fn)``; for a user probe, the compiled probe itself, still with its folder's imports.

    Dynamo cannot trace the ``sys.path`` changes of :func:`folder_imports`.
    """
    inner = getattr(fn, "detaudit_probe", None)
    if inner is None:
        return compile(fn)
    return _with_folder_imports(compile(inner), fn.detaudit_folder)  # type: ignore[attr-defined]


def _with_args(fn: Callable[..., Any], args: Mapping[str, Any]) -> Callable[[Any], Any]:
    """``fn`` called as ``fn(device, **args)``: an entry's ``args:`` bound once, here."""

    @functools.wraps(fn)
    def probe(device: Any) -> Any:
        return fn(device, **args)

    return probe


def load_probe(
    probe: str, folder: str | None, args: Mapping[str, Any] | None = None
) -> Callable[[Any], Any]:
    """The function ``module:function`` names, bound to ``args``; a user catalogue's from ``folder``.

    The module is the one :func:`detaudit.probepath.locate` names, as for
    ``catalog validate`` and the scanner: the folder's own file, else the
    module of that name on the import path (imported by name).
    """
    key = (folder, probe, json.dumps(dict(args or {}), sort_keys=True))
    if key not in _PROBES:
        from detaudit.probepath import locate  # stdlib only, like this module

        where = locate(probe, folder)
        if where.folder is not None:
            module = _load_user_module(where.folder, where.module, where.file)
        else:
            module = importlib.import_module(where.module)
        fn = getattr(module, where.function, None)
        if not callable(fn):
            raise ImportError(f"{module.__file__} defines no function {where.function!r}")
        if args:
            fn = _with_args(fn, dict(args))
        _PROBES[key] = _with_folder_imports(fn, where.folder) if where.folder else fn
    return _PROBES[key]
