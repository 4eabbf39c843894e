"""Did a run reach the aten op its entry means to reach? Record the ops; compare them.

Some ops take a Python decomposition in ``torch.nn.functional`` when the mode is
on (CUDA ``interpolate`` bilinear/trilinear and ``pad(mode='replicate')`` go to
``torch._decomp.decompositions``; the check is ``not input.is_cpu`` or
``input.is_cuda``), so the strict run never dispatches the kernel the docs
bullet is about, and a clean run there says nothing about that kernel. An
entry names the op in ``reaches``; the worker records the aten ops of its
strict and first mode-off runs (:func:`recording`), and classification says
which named ops did not run and what ran instead (:func:`unreached`, :func:`instead`).

:func:`recording` runs in probe workers (torch imported lazily, Python 3.9
syntax); the comparisons are pure and serve the parent too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["MAX_OPS", "available", "instead", "recording", "unreached"]

#: At most this many distinct op names are kept per run (a probe dispatches a few dozen).
MAX_OPS = 200


def available() -> bool:
    """Whether this torch can record dispatched ops (``TorchDispatchMode``, torch 1.13+).

    Without it nothing is recorded, and no result says anything about ``reaches``.
    """
    try:
        from torch.utils._python_dispatch import TorchDispatchMode  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the aten op names (``aten::mul``, no overload) dispatched inside, first call order.

    A ``TorchDispatchMode`` sees the ops below autograd, forward and backward
    alike (the autograd engine carries the mode into its threads), after any
    Python-level routing: what the kernels were asked to run.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    names: list[str] = []
    seen: set[str] = set()

    class _Names(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # torch wraps a mode's __torch_dispatch__ in torch._disable_dynamo, whose first
            # call imports Dynamo: 1.7 s of a CPU audit's worker, for an eager probe. With
            # Dynamo not imported, nothing compiles inside the recorded run (the recording
            # holds for one eager run), so there is nothing to keep Dynamo out of.
            return "torch._dynamo" in sys.modules

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
            name = func._schema.name
            if name not in seen and len(names) < MAX_OPS:
                seen.add(name)
                names.append(name)
            return func(*args, **(kwargs or {}))

    with _Names():
        yield names


def unreached(reaches: Sequence[str], ops: Sequence[str] | None) -> tuple[str, ...]:
    """The ops of ``reaches`` that the recorded run did not dispatch; () when none was recorded."""
    if ops is None:
        return ()
    return tuple(op for op in reaches if op not in ops)


def instead(ran: Sequence[str], baseline: Sequence[str] | None) -> tuple[str, ...]:
    """The ops of a run that the ``baseline`` run (mode off) did not dispatch, in order.

    With no baseline (the mode-off run recorded nothing), every op of the run.
    """
    if baseline is None:
        return tuple(ran)
    known = set(baseline)
    return tuple(op for op in ran if op not in known)
