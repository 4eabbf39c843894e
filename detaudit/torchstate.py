"""Snapshot and restore the global torch flags that determinism touches.

Used by the probe worker (every probe starts from the same state) and by the
reproducibility helpers. Kept free of detaudit imports and of syntax newer
than Python 3.9 runs, because workers may run under another interpreter.

``torch.use_deterministic_algorithms`` also sets
``torch._inductor.config.deterministic``, and for that imports Inductor, which
costs over a second. Eager kernels read only the C++ flag, so
:func:`set_deterministic_algorithms` sets that flag alone, and snapshots carry
Inductor's flag only when Inductor is already imported: nothing here imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["restore", "set_deterministic_algorithms", "set_flags", "snapshot"]

_INDUCTOR_CONFIG = "torch._inductor.config"


class _Flag(NamedTuple):
    name: str
    get: Callable[[], Any]
    set: Callable[[Any], None]


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


def _flags() -> list[_Flag]:
    import torch

    flags = [
        _Flag(
            "use_deterministic_algorithms",
            _get_algorithms,
            lambda v: set_deterministic_algorithms(*v),
        )
    ]

    def add(name: str, owner: Any, attr: str) -> None:
        if owner is not None and hasattr(owner, attr):
            flags.append(
                _Flag(name, lambda: getattr(owner, attr), lambda v: setattr(owner, attr, v))
            )

    backends = torch.backends
    add("cudnn.deterministic", backends.cudnn, "deterministic")
    add("cudnn.benchmark", backends.cudnn, "benchmark")
    add("cudnn.enabled", backends.cudnn, "enabled")
    add("cudnn.allow_tf32", backends.cudnn, "allow_tf32")
    add(
        "cuda.matmul.allow_tf32",
        getattr(getattr(backends, "cuda", None), "matmul", None),
        "allow_tf32",
    )
    add("mkldnn.deterministic", getattr(backends, "mkldnn", None), "deterministic")
    add(
        "fill_uninitialized_memory",
        getattr(torch.utils, "deterministic", None),
        "fill_uninitialized_memory",
    )
    add("inductor.deterministic", sys.modules.get(_INDUCTOR_CONFIG), "deterministic")
    flags.append(_Flag("grad_enabled", torch.is_grad_enabled, torch.set_grad_enabled))
    flags.append(_Flag("default_dtype", torch.get_default_dtype, torch.set_default_dtype))
    return flags


def snapshot() -> dict[str, Any]:
    """The current value of every flag, keyed by name."""
    return {flag.name: flag.get() for flag in _flags()}


def restore(state: dict[str, Any]) -> None:
    """Put every flag back as ``state`` (from :func:`snapshot`) recorded it."""
    set_flags(state)


def set_flags(values: dict[str, Any]) -> None:
    """Set each flag named in ``values`` (snapshot names); names this torch lacks are ignored."""
    for flag in _flags():
        if flag.name in values and flag.get() != values[flag.name]:
            flag.set(values[flag.name])
