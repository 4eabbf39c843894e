"""Every probe starts from the same process state: snapshot it, restore it, say what changed.

A worker runs many probes one after another. Whatever one probe changes in
the process (torch's global flags, thread counts, the default device, anomaly
mode, the working directory, environment variables, ``sys.path``, ``sys.modules``)
would otherwise reach every later probe: ``torch.set_default_device('meta')``
made every later probe an ``error``. The run handler snapshots before each run
and restores after it; what cannot be restored makes the worker retire after
its answer: the inter-op thread count (settable once per process), an
attribute of ``torch``, ``torch.nn.functional`` or ``torch.Tensor`` replaced
(a monkeypatch: other modules may hold the replacement; compared with the
attributes as they were when this module was imported, before any probe
loaded), a ``TorchFunctionMode`` or ``TorchDispatchMode`` left entered (popped,
but its ``__exit__`` never ran), and a module in ``sys.modules`` replaced.

Runs in probe workers: standard library and torch only, Python 3.9 syntax.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from detaudit import torchstate

__all__ = ["Unrestorable", "restore", "retiring", "set_env", "snapshot"]


class Unrestorable(Exception):
    """The probe changed something this process cannot put back; the worker must retire.

    ``args[0]``: what cannot be restored; ``restored``: what was put back.
    """

    def __init__(self, message: str, restored: list[str] | None = None) -> None:
        super().__init__(message)
        self.restored = restored or []


#: The namespaces whose attributes a probe must not replace (checked after every run).
_PATCHABLE = ("torch", "torch.nn.functional", "torch.Tensor")


def _owner(name: str) -> Any:
    import torch
    import torch.nn.functional

    return {
        "torch": torch,
        "torch.nn.functional": torch.nn.functional,
        "torch.Tensor": torch.Tensor,
    }[name]


def _namespaces() -> dict[str, dict[str, Any]]:
    return {name: dict(vars(_owner(name))) for name in _PATCHABLE}


#: The attributes as they were before any probe loaded (this module is imported first).
_ORIGINAL = _namespaces()
#: Each namespace as :func:`_unpatch` last found it clean (a module torch added since, say).
_CLEAN: dict[str, dict[str, Any]] = {}


def _torch_wraps(new: Any, original: Any) -> bool:
    """Whether ``new`` is torch's own wrapper of ``original`` (defined in torch's package)."""
    import torch

    code = getattr(new, "__code__", None)
    home = os.path.dirname(torch.__file__) + os.sep
    return (
        getattr(new, "__wrapped__", None) is original
        and code is not None
        and os.path.realpath(code.co_filename).startswith(os.path.realpath(home))
    )


def _unpatch() -> list[str]:
    """Put back every original attribute a probe replaced or deleted; name each.

    An added attribute is one too (``torch.Tensor.put_ = ...`` shadows the C method),
    but for a module (torch sets ``torch._dynamo`` when it is imported).
    """
    import types

    problems: list[str] = []
    for space, original in _ORIGINAL.items():
        owner = _owner(space)
        now = vars(owner)
        if _same(now, _CLEAN.get(space, original)):
            continue  # the common case, checked in C: as at the last walk that found nothing
        found = len(problems)
        for name, value in original.items():
            new = now.get(name, _ORIGINAL)
            if new is value:
                continue
            if _torch_wraps(new, value):
                original[name] = new  # torch's own: importing Dynamo wraps torch.manual_seed
                continue
            problems.append(f"{space}.{name} (replaced: a monkeypatch)")
            setattr(owner, name, value)
        for name in [n for n in now if n not in original and n != "__warningregistry__"]:
            # The warnings module's per-module registry is Python's own, not a patch.
            if not isinstance(now[name], types.ModuleType):  # torch.Tensor.put_ = ... shadows
                problems.append(f"{space}.{name} (added: a monkeypatch)")
                delattr(owner, name)
        if len(problems) == found:
            _CLEAN[space] = dict(now)  # the walk finds nothing in this state again
    return problems


def _same(now: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    """Whether ``now`` holds the same names, in the same order, bound to the same objects.

    Identity, never ``==`` (a value may be a tensor); False sends the caller to its
    name-by-name walk, which finds what changed.
    """
    import operator

    return len(now) == len(before) and list(now) == list(before) and all(
        map(operator.is_, now.values(), before.values())
    )


def _modes(kind: str) -> tuple[str, ...]:
    """The type names of the modes on torch's function-mode or dispatch-mode stack."""
    import torch

    length = getattr(torch._C, f"_len_torch_{kind}_stack", None)
    at = getattr(torch._C, f"_get_{kind}_stack_at", None)
    if length is None or at is None:
        return ()
    return tuple(type(at(i)).__name__ for i in range(length()))


def _pop_modes(saved: dict[str, Any]) -> list[str]:
    """Pop the modes a probe left entered (above the saved stack); name each."""
    import torch

    problems = []
    for kind, key, pop in (
        ("function", "torch function modes", "_pop_torch_function_stack"),
        ("dispatch", "torch dispatch modes", None),
    ):
        before = saved.get(key, ())
        while len(_modes(kind)) > len(before):
            try:
                if pop:
                    mode = getattr(torch._C, pop)()
                else:
                    from torch.utils._python_dispatch import _pop_mode

                    mode = _pop_mode()
            except Exception as exc:  # noqa: BLE001 - the worker retires all the same
                problems.append(f"the torch {kind}-mode stack (cannot pop: {exc})")
                break
            problems.append(
                f"a {type(mode).__name__} left entered on the torch {kind}-mode stack "
                "(popped; its __exit__ never ran)"
            )
        if _modes(kind) != before:
            problems.append(f"the torch {kind}-mode stack ({key} {_modes(kind)}, was {before})")
    return problems


def _restore_modules(saved: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Put replaced modules back and drop fakes; (problems, what was removed).

    A real library module a probe imported stays: a later import would load the
    same. A module from a user probe folder goes, and so does an entry that no
    import made (no ``__spec__``) under a name a real module has: a later
    ``import`` must find the real one. Other entries without a spec (Cython's
    ``cython_runtime``) stay.
    """
    from detaudit.runner.probing import user_module

    problems: list[str] = []
    removed: list[str] = []
    now = sys.modules
    if _same(now, saved):
        return problems, removed
    for name, module in saved.items():
        if now.get(name) is not module:
            problems.append(f"sys.modules[{name!r}] (replaced)")
            now[name] = module
    for name in [n for n in now if n not in saved]:
        module = now[name]
        if user_module(module) or (getattr(module, "__spec__", None) is None and _importable(name)):
            del now[name]
            removed.append(name)
    return problems, removed


def _keep_library_paths(*snapshots: dict[str, Any]) -> None:
    """Keep the ``sys.path`` entries an installed package added inside site-packages.

    Importing setuptools (``torch.compile`` does) appends its ``_vendor`` folder:
    that is the library's state, not the probe's, and its later imports need it.
    """
    if all(path in saved["sys.path"] for saved in snapshots for path in sys.path):
        return  # nothing added (most runs): no need to find site-packages
    import site
    import sysconfig

    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots.update(getattr(site, "getsitepackages", list)())
    roots = {os.path.realpath(root) + os.sep for root in roots}
    for saved in snapshots:
        added = [
            path
            for path in sys.path
            if path not in saved["sys.path"]
            and any(os.path.realpath(path).startswith(root) for root in roots)
        ]
        saved["sys.path"] = saved["sys.path"] + added


def _importable(name: str) -> bool:
    """Whether an ``import name`` would find a real module (a fake entry stands in for it)."""
    import importlib.machinery

    from detaudit.runner.probing import user_names

    parent, _, _ = name.rpartition(".")
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    try:
        found = importlib.machinery.PathFinder.find_spec(name, path)
    except (ImportError, ValueError):
        found = None
    return found is not None or name.partition(".")[0] in user_names()


def _default_device() -> str | None:
    import torch

    get = getattr(torch, "get_default_device", None)
    return str(get()) if get is not None else None


def _set_default_device(device: str | None) -> None:
    import torch

    # None drops the device context that set_default_device installed; "cpu" is the default.
    torch.set_default_device(None if device in (None, "cpu") else device)


def _anomaly() -> tuple[bool, bool]:
    import torch

    check_nan = getattr(torch, "is_anomaly_check_nan_enabled", lambda: True)
    return torch.is_anomaly_enabled(), check_nan()


def _set_anomaly(value: tuple[bool, bool]) -> None:
    import torch

    try:
        torch.set_anomaly_enabled(value[0], value[1])
    except TypeError:  # torch before 2.0 has no check_nan argument
        torch.set_anomaly_enabled(value[0])


def _matmul_precision() -> str | None:
    import torch

    get = getattr(torch, "get_float32_matmul_precision", None)
    return get() if get is not None else None


def _set_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def snapshot() -> dict[str, Any]:
    """The process state a probe may change, keyed by a name that messages use."""
    import torch

    return {
        "torch flags": torchstate.snapshot(),
        "torch.get_num_threads()": torch.get_num_threads(),
        "torch.get_num_interop_threads()": torch.get_num_interop_threads(),
        "default device": _default_device(),
        "anomaly mode": _anomaly(),
        "float32 matmul precision": _matmul_precision(),
        "working directory": os.getcwd(),
        "environment variables": dict(os.environ),
        "torch function modes": _modes("function"),
        "torch dispatch modes": _modes("dispatch"),
        "sys.path": list(sys.path),
        "sys.meta_path": list(sys.meta_path),
        "sys.modules": dict(sys.modules),
    }


def restore(saved: dict[str, Any], started: dict[str, Any] | None = None) -> list[str]:
    """Put back every part of ``saved`` that differs now.

    Returns the names of the parts that differ from ``started`` (the state the
    probe started from, after the runner set its mode; ``saved`` if None): what
    the probe changed. Raises :class:`Unrestorable` (after restoring the rest)
    when a part cannot be put back in this process.
    """
    import torch

    started = saved if started is None else started
    # First the modes still entered, which would see every op below (the default
    # device is one: put it back before counting).
    problems = []
    device = _default_device()
    if device != saved["default device"]:
        _set_default_device(saved["default device"])
    problems += _pop_modes(saved)
    _keep_library_paths(saved, started)
    now = snapshot()
    now["default device"] = device  # as the probe left it: put back (again) below
    changed = [
        name for name, value in started.items() if name != "sys.modules" and now[name] != value
    ]
    if "torch flags" in changed:  # name each flag, as a user writes it
        flags = now["torch flags"]
        at = changed.index("torch flags")
        changed[at : at + 1] = [  # a flag that appeared (Inductor's, once imported) is none
            torchstate.label(flag)
            for flag, value in started["torch flags"].items()
            if flag in flags and flags[flag] != value
        ]
    modules, removed = _restore_modules(saved["sys.modules"])
    problems += modules
    if removed:
        changed.append("sys.modules (" + ", ".join(sorted(removed)) + " removed)")
    for name in [name for name, value in saved.items() if now[name] != value]:
        value = saved[name]
        if name == "torch flags":
            try:
                torchstate.restore(value)
            except torchstate.FlagError as exc:
                problems += [f"{flag} (cannot be set back)" for flag in exc.args[0]]
        elif name in ("sys.modules", "torch function modes", "torch dispatch modes"):
            pass  # done above
        elif name in ("sys.path", "sys.meta_path"):
            getattr(sys, name[4:])[:] = value
        elif name == "torch.get_num_threads()":
            torch.set_num_threads(value)
        elif name == "default device":
            _set_default_device(value)
        elif name == "anomaly mode":
            _set_anomaly(value)
        elif name == "float32 matmul precision":
            torch.set_float32_matmul_precision(value)
        elif name == "working directory":
            try:
                os.chdir(value)
            except OSError as exc:
                problems.append(f"the working directory {value} ({exc.strerror})")
        elif name == "environment variables":
            _set_environ(value)
        else:  # the inter-op thread count: torch allows setting it once per process
            problems.append(name)
    problems += _unpatch()  # last: set_default_dtype rebinds torch.Storage, put back above
    if problems:
        raise Unrestorable(", ".join(problems), changed)
    return changed


def retiring(exc: Unrestorable) -> list[str]:
    """The ``restored`` list of a run whose changes could not all be undone: says the worker retired."""
    why = (
        f"{exc} could not be restored: the worker retired after this entry, "
        "and the next entry runs in a fresh one"
    )
    return [*exc.restored, why]


def set_env(env: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (a string) or unset (None) each variable; return the values now in effect.

    The caller snapshots first: :func:`restore` puts the previous values back.
    """
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return {name: os.environ.get(name) for name in env}
