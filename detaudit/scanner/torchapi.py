"""The private torch names the scanner uses, resolved when a scan starts, not at import.

``pyproject.toml`` allows torch >= 1.10 for the audit, but the dynamic scan
and the probe trace stand on names torch does not promise to keep
(``torch.utils._python_dispatch``, ``torch._C._...``). Each is looked up here,
on use, so that importing detaudit never fails on an older torch and a
missing name is a :class:`~detaudit.errors.TorchUnsupported` (exit 3) that
names it and the installed torch. Public torch functions
(``torch.is_deterministic_algorithms_warn_only_enabled``, ...) are used
directly by their callers.

Runs inside probe workers too (:mod:`detaudit.scanner.trace`): standard
library and torch only, and syntax that Python 3.9 runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import TorchUnsupported

__all__ = [
    "CURRENT_NODE",
    "DISABLED_TORCH_FUNCTION",
    "DISPATCH_MODE",
    "SCAN_NEEDS",
    "ScanAPI",
    "resolve",
    "scan_api",
]

#: The oldest torch the dynamic scan is meant for (its private names are all there).
SCAN_NEEDS = "2.0"

#: The base class of a mode that sees every aten op dispatched.
DISPATCH_MODE = "torch.utils._python_dispatch.TorchDispatchMode"
#: During backward, the autograd node being run (None in forward).
CURRENT_NODE = "torch._C._current_autograd_node"
#: Calls an op with torch function handling off, and flushes its warnings when the op returns.
DISABLED_TORCH_FUNCTION = "torch._C._disabled_torch_function_impl"


def resolve(dotted: str) -> Any:
    """The object ``dotted`` names (``module.attribute``); if this torch lacks it, TorchUnsupported."""
    import torch

    module, _, attribute = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        raise TorchUnsupported(
            f"this torch ({torch.__version__}) has no {dotted}; "
            f"detaudit scan needs torch >= {SCAN_NEEDS}"
        ) from None


class ScanAPI(NamedTuple):
    """The private torch names the dynamic scan calls, resolved."""

    dispatch_mode: type
    current_node: Callable[[], Any]
    call: Callable[..., Any]


def scan_api() -> ScanAPI:
    """Resolve every private name the dynamic scan needs, or raise TorchUnsupported for the first missing."""
    return ScanAPI(
        dispatch_mode=resolve(DISPATCH_MODE),
        current_node=resolve(CURRENT_NODE),
        call=resolve(DISABLED_TORCH_FUNCTION),
    )
