"""Snapshot and restore torch's global settings: every ``torch.backends`` flag and then some.

Used by the probe worker (every probe starts from the same state) and by the
reproducibility helpers. Kept free of detaudit imports and of syntax newer
than Python 3.9 runs, because workers may run under another interpreter.

The ``torch.backends`` flags are found by walking the imported backend
modules (:func:`_backends_flags`), and the C++ globals by pairing
``torch._C._get_X`` with ``torch._C._set_X`` (:func:`_c_flags`): a hand list
rots as torch adds flags. :func:`covered` lists every setting a snapshot
holds, so that a test can check the walk against torch's own source.

``torch.use_deterministic_algorithms`` also sets
``torch._inductor.config.deterministic``, and for that imports Inductor, which
costs over a second. Eager kernels read only the C++ flag, so
:func:`set_deterministic_algorithms` sets that flag alone, and snapshots carry
Inductor's flag only when Inductor is already imported: nothing here imports it.
"""

from __future__ import annotations

import enum
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "FlagError",
    "covered",
    "label",
    "restore",
    "set_deterministic_algorithms",
    "set_flags",
    "snapshot",
]

_INDUCTOR_CONFIG = "torch._inductor.config"

#: ``torch._C`` getter/setter pairs left out of :func:`_c_flags`, and why.
C_PAIRS_ELSEWHERE = {
    "_get_deterministic_algorithms": "the use_deterministic_algorithms flag (warn_only too)",
    "_get_deterministic_fill_uninitialized_memory": "the fill_uninitialized_memory flag",
    "_get_float32_matmul_precision": "detaudit.runner.isolation's float32 matmul precision",
    "_get_tracing_state": "the JIT tracer's state object, not a setting",
    "_get_thread_name": "the calling thread's name, which no kernel reads",
}


class FlagError(Exception):
    """Some flags could not be set back (their names in ``args[0]``)."""


class _Flag(NamedTuple):
    name: str
    get: Callable[[], Any]
    set: Callable[[Any], None]
    label: str  # how a user writes it: torch.backends.mkldnn.enabled


def set_deterministic_algorithms(mode: bool, warn_only: bool | None = False) -> None:
    """Set the eager deterministic-algorithms flag, as ``torch.use_deterministic_algorithms`` does.

    ``warn_only=None`` is for torch 1.10, which has no warn_only.
    """
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or warn_only is None:
        if warn_only is None:
            torch.use_deterministic_algorithms(mode)
        else:
            torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


def _get_algorithms() -> Any:
    import torch

    warn = getattr(torch, "is_deterministic_algorithms_warn_only_enabled", None)
    return (torch.are_deterministic_algorithms_enabled(), warn() if warn else None)


def _flush_denormal() -> bool:
    """Whether denormals are flushed to zero: torch has a setter only, so measure it.

    The smallest float32 denormal times one is zero exactly when flushing is
    on (``torch.set_flush_denormal(True)`` sets FTZ/DAZ on this thread).
    """
    import torch

    # The C functions, not torch.mul: a probe may have patched that (the runner checks after).
    functions, base = torch._C._VariableFunctions, torch._C.TensorBase
    tiny = base.view(functions.ones(1, dtype=torch.int32, device="cpu"), torch.float32)
    return bool(base.item(functions.mul(tiny, 1.0)) == 0.0)


def _simple(value: Any) -> bool:
    """A value that is a setting (compared with ==, set back as is), not an object."""
    if isinstance(value, (bool, int, float, str, enum.Enum)) or value is None:
        return True
    if isinstance(value, (tuple, list)):
        return all(_simple(v) for v in value)
    return type(value).__name__ in ("_LinalgBackend", "_BlasBackend", "_ROCmFABackend")


def _public(name: str) -> bool:
    return not name.startswith("_") and not name.isupper()


def _namespaces(obj: Any) -> list[dict[str, Any]]:
    """The dicts ``obj``'s attributes live in: a PropModule's wrapped module's too."""
    spaces = []
    if isinstance(obj, types.ModuleType):
        spaces.append(vars(obj))
        inner = vars(obj).get("m")
        if isinstance(inner, types.ModuleType) and inner is not obj:
            spaces.append(vars(inner))
    return spaces


def _try(get: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, get()
    except Exception:  # noqa: BLE001 - an unreadable attribute is no flag
        return False, None


def _attr_flag(prefix: str, owner: Any, name: str, reads: set[str]) -> _Flag | None:
    ok, value = _try(lambda: getattr(owner, name))
    if not ok or not _simple(value) or isinstance(value, list):  # a list: a read-only listing
        return None
    return _Flag(
        prefix + name,
        lambda: getattr(owner, name),
        lambda v: setattr(owner, name, v),
        "torch.backends." + prefix + name,
    )


def _code_names(fn: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    code = getattr(fn, "__code__", None)
    return (code.co_names, code.co_consts) if code is not None else ((), ())


def _object_flags(prefix: str, obj: Any, depth: int, reads: set[str]) -> list[_Flag]:
    """The settable attributes of a backend module or of an object one holds."""
    flags = []
    cls = type(obj)
    for klass in cls.__mro__:
        if klass in (types.ModuleType, object):
            break
        for name, attr in vars(klass).items():
            if not _public(name) or not hasattr(type(attr), "__set__"):
                continue
            if isinstance(attr, property) and attr.fset is None:
                continue
            getter = getattr(attr, "getter", None) or getattr(attr, "fget", None)
            reads.update(_code_names(getter)[0])
            reads.add(getattr(getter, "__name__", ""))
            reads.update(_code_names(getattr(type(attr), "__get__", None))[0])
            flag = _attr_flag(prefix, obj, name, reads)
            if flag:
                flags.append(flag)
    if "__getattr__" in vars(cls) and "__setattr__" in vars(cls):
        # cuda.matmul and cudnn.conv answer names their __getattr__ compares against.
        got_names, got = _code_names(vars(cls)["__getattr__"])
        _, put = _code_names(vars(cls)["__setattr__"])
        reads.update(got_names)
        for name in sorted({c for c in got if isinstance(c, str)} & set(put)):
            if name.isidentifier() and _public(name):
                flag = _attr_flag(prefix, obj, name, reads)
                if flag:
                    flags.append(flag)
    for space in _namespaces(obj):
        for name, value in sorted(space.items()):
            if _public(name) and name != "m" and _simple(value):
                flag = _attr_flag(prefix, obj, name, reads)
                if flag:
                    flags.append(flag)
    if depth > 0:
        # Objects a backend holds (cuda.matmul, cudnn.conv, python_native.triton), dir()
        # included: some modules answer their names only through __getattr__.
        names = {n for space in _namespaces(obj) for n in space} | set(dir(obj))
        names |= {n for klass in cls.__mro__[:-1] for n in vars(klass)}  # cudnn.conv
        for name in sorted(n for n in names if _public(n) and n != "m"):
            ok, value = _try(lambda name=name: getattr(obj, name))
            if (
                ok
                and type(value).__module__.startswith("torch.backends")
                and not isinstance(value, (type, types.ModuleType, types.FunctionType))
            ):
                flags += _object_flags(f"{prefix}{name}.", value, depth - 1, reads)
    return flags


#: Function pairs by naming convention: (getter pattern, setter pattern).
_PAIRS = (("{}_enabled", "enable_{}"), ("{}_allowed", "allow_{}"), ("get_{}", "set_{}"))


def _function_flags(prefix: str, module: Any, reads: set[str]) -> list[_Flag]:
    """Getter/setter functions: ``flash_sdp_enabled``/``enable_flash_sdp``, ``preferred_*``."""
    functions: dict[str, Any] = {}
    for space in _namespaces(module):
        for name, value in space.items():
            if _public(name) and isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
                functions.setdefault(name, value)
    flags = []
    for name, fn in sorted(functions.items()):
        setter = None
        for get_form, set_form in _PAIRS:
            head, _, tail = get_form.partition("{}")
            if name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail):
                setter = functions.get(set_form.format(name[len(head) : len(name) - len(tail)]))
                if setter is not None:
                    break
        if setter is None and name.startswith("preferred_"):
            setter = fn  # preferred_blas_library() reads, preferred_blas_library(x) sets
        if setter is None:
            continue
        ok, value = _try(fn)
        if ok and _simple(value):
            reads.update(_code_names(fn)[0])
            flags.append(_Flag(f"{prefix}{name}()", fn, setter, f"torch.backends.{prefix}{name}()"))
    return flags


def _backend_roots() -> list[tuple[str, Any]]:
    """torch.backends and every backend module already imported (nothing is imported here)."""
    import torch

    roots: list[tuple[str, Any]] = [("", torch.backends)]
    for name in sorted(sys.modules):
        parts = name.split(".")
        if len(parts) == 3 and name.startswith("torch.backends.") and _public(parts[2]):
            module = getattr(torch.backends, parts[2], None) or sys.modules[name]
            if isinstance(module, types.ModuleType):
                roots.append((parts[2] + ".", module))
    return roots


def _backends_flags(reads: set[str]) -> list[_Flag]:
    """Every settable ``torch.backends`` flag; ``reads`` collects the ``torch._C`` names they use."""
    flags: dict[str, _Flag] = {}
    for prefix, module in _backend_roots():
        for flag in _object_flags(prefix, module, 1, reads) + _function_flags(
            prefix, module, reads
        ):
            flags.setdefault(flag.name, flag)
    return list(flags.values())


def _c_flags(reads: set[str]) -> list[_Flag]:
    """``torch._C._get_X``/``_set_X`` pairs no backends flag reads (nnpack's, warn-always...)."""
    import torch

    flags = []
    space = vars(torch._C)
    for name in sorted(space):
        if not name.startswith("_get_") or name in reads or name in C_PAIRS_ELSEWHERE:
            continue
        setter = space.get("_set_" + name[len("_get_") :])
        if setter is None:
            continue
        ok, value = _try(space[name])
        if ok and _simple(value):
            flags.append(_Flag(name + "()", space[name], setter, f"torch._C.{name}()"))
    return flags


_CACHE: dict[Any, list[_Flag]] = {}
#: The names in ``sys.modules`` when the cached walk's key was last checked.
_SEEN: list[set[str]] = [set()]


def _flags() -> list[_Flag]:
    """Every flag; walked again only when a backend module or Inductor's config is imported."""
    if _CACHE and sys.modules.keys() == _SEEN[0]:
        # No module came or went since the last check (a set comparison, in C): same key.
        # A snapshot is taken three times per probe run, and most runs import nothing.
        return next(iter(_CACHE.values()))
    _SEEN[0] = set(sys.modules)
    key = tuple(n for n in sys.modules if n.startswith("torch.backends.") or n == _INDUCTOR_CONFIG)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _walk()
    return _CACHE[key]


def _walk() -> list[_Flag]:
    import torch

    flags = [
        _Flag(
            "use_deterministic_algorithms",
            _get_algorithms,
            lambda v: set_deterministic_algorithms(*v),
            "torch.use_deterministic_algorithms",
        )
    ]

    def add(name: str, owner: Any, attr: str, label: str) -> None:
        if owner is not None and hasattr(owner, attr):
            flags.append(
                _Flag(name, lambda: getattr(owner, attr), lambda v: setattr(owner, attr, v), label)
            )

    add(
        "fill_uninitialized_memory",
        getattr(torch.utils, "deterministic", None),
        "fill_uninitialized_memory",
        "torch.utils.deterministic.fill_uninitialized_memory",
    )
    add(
        "inductor.deterministic",
        sys.modules.get(_INDUCTOR_CONFIG),
        "deterministic",
        "torch._inductor.config.deterministic",
    )
    flags.append(
        _Flag(
            "grad_enabled", torch.is_grad_enabled, torch.set_grad_enabled, "torch.set_grad_enabled"
        )
    )
    flags.append(
        _Flag(
            "default_dtype",
            torch.get_default_dtype,
            torch.set_default_dtype,
            "torch.set_default_dtype",
        )
    )
    flags.append(
        _Flag(
            "flush_denormal", _flush_denormal, torch.set_flush_denormal, "torch.set_flush_denormal"
        )
    )
    if hasattr(torch, "is_warn_always_enabled"):
        flags.append(
            _Flag(
                "warn_always",
                torch.is_warn_always_enabled,
                torch.set_warn_always,
                "torch.set_warn_always",
            )
        )
    reads: set[str] = set()
    for flag in flags:  # torch.is_warn_always_enabled reads torch._C._get_warnAlways
        reads.update(_code_names(flag.get)[0])
    flags += _backends_flags(reads)
    flags += _c_flags(reads)
    return flags


def covered() -> dict[str, str]:
    """Every setting a snapshot holds on this torch: snapshot name -> how a user writes it."""
    return {flag.name: flag.label for flag in _flags()}


def label(name: str) -> str:
    """How a user writes the setting a snapshot names ``name``."""
    return covered().get(name, name)


def snapshot() -> dict[str, Any]:
    """The current value of every flag, keyed by name (an unreadable flag is left out)."""
    state = {}
    with warnings.catch_warnings():  # once for all getters: a deprecated flag warns when read
        warnings.simplefilter("ignore")
        for flag in _flags():
            try:
                state[flag.name] = flag.get()
            except Exception:  # noqa: BLE001, S112 - an unreadable flag is left out
                continue
    return state


def restore(state: dict[str, Any]) -> None:
    """Put every flag back as ``state`` (from :func:`snapshot`) recorded it."""
    set_flags(state)


def set_flags(values: dict[str, Any]) -> None:
    """Set each flag named in ``values`` (snapshot names); names this torch lacks are ignored.

    Raises :class:`FlagError` naming the flags that could not be set (after setting the rest).
    """
    failed = []
    for flag in _flags():
        if flag.name not in values:
            continue
        ok, value = _try(flag.get)
        if ok and value == values[flag.name]:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                flag.set(values[flag.name])
        except Exception:  # noqa: BLE001 - the others are still set back
            failed.append(flag.label)
    if failed:
        raise FlagError(failed)
