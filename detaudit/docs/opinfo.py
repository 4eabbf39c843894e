"""The OpInfo side of ``detaudit discover``: sweeps PyTorch's op database inside a probe worker.

Runs in worker processes (it imports torch, lazily) and in the probes that
``discover --emit-yaml`` writes (:func:`sample_probe`). PyTorch's OpInfo
database, ``torch.testing._internal.common_methods_invocations.op_db``, is a
private API that imports the ``expecttest`` package: install it with the
``discover`` extra. Like the worker, this module keeps to syntax that
Python 3.9 runs, and to the standard library, torch and numpy.

Each op runs every sample (or the first ``samples``) in strict deterministic
mode, forward; where the op supports autograd it also runs backward: the
forward with the mode off, then the gradients with it on, so that a backward
alert is told apart from a forward one. Samples are made with the mode off,
right after seeding, so sample ``i`` is the same in a sweep and in a probe.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from detaudit import devices, torchstate
from detaudit.model.observation import OpInfoAlert
from detaudit.probes import ProbeSkipped
from detaudit.runner.probing import alert_kernel, seed_all, short
from detaudit.runner.protocol import (
    OpInfoListAnswer,
    OpInfoListRequest,
    OpInfoSweepAnswer,
    OpInfoSweepRequest,
)

__all__ = ["OpInfoUnavailable", "handle_list", "handle_sweep", "op_db", "sample_probe"]

_OPS: dict[str, Any] | None = None
_EXTRA_HINT = "pip install 'detaudit[discover]'"


class OpInfoUnavailable(Exception):
    """This torch's OpInfo database cannot be imported; ``missing`` names the package."""

    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def op_id(op: Any) -> str:
    """``nn.functional.max_unpool2d`` or, for a variant, ``nn.functional.max_unpool2d.grad``."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


def op_db() -> dict[str, Any]:
    """Every OpInfo by :func:`op_id`, in database order (imported once per process)."""
    global _OPS
    if _OPS is None:
        try:
            from torch.testing._internal.common_methods_invocations import op_db as ops
        except ImportError as exc:
            missing = getattr(exc, "name", None)
            if missing == "expecttest":
                raise OpInfoUnavailable(
                    "PyTorch's OpInfo database needs the 'expecttest' package, which is "
                    f"not installed for this interpreter: {_EXTRA_HINT}",
                    missing,
                ) from None
            raise OpInfoUnavailable(
                f"this torch's OpInfo database cannot be imported: {type(exc).__name__}: {exc}",
                missing,
            ) from None
        _OPS = {op_id(op): op for op in ops}
    return _OPS


def pick_dtype(op: Any, device_type: str) -> Any:
    """float32 where the op supports it, else float64, else its first dtype by name; or None."""
    import torch

    dtypes = op.supported_dtypes(device_type)
    for dtype in (torch.float32, torch.float64):
        if dtype in dtypes:
            return dtype
    return min(dtypes, key=str) if dtypes else None


def _differentiable(op: Any, dtype: Any) -> bool:
    return bool(op.supports_autograd) and (dtype.is_floating_point or dtype.is_complex)


def _samples(op: Any, device: Any, dtype: Any, limit: int | None, seed: int) -> list[Any]:
    """The first ``limit`` samples (all if None), made right after seeding with the mode off.

    They come from the op's ``sample_inputs_func``, which ``OpInfo.sample_inputs``
    wraps for PyTorch's test suite: the wrapper reseeds every RNG before each
    sample and walks the call stack (``inspect.stack``) looking for a test
    case, which made a CPU sweep several times slower.
    """
    seed_all(seed)
    made = op.sample_inputs_func(op, device, dtype, _differentiable(op, dtype))
    return list(itertools.islice(made, limit))


def _tensors(obj: Any) -> Iterator[Any]:
    """Every tensor in a nested structure of tuples, lists and dicts."""
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _call(op: Any, sample: Any) -> Any:
    return op(sample.input, *sample.args, **sample.kwargs)


def _gradients(op: Any, sample: Any) -> Callable[[], Any] | None:
    """Run the forward now; return the backward as a call, or None if nothing is differentiable."""
    import torch

    outputs = [
        t
        for t in _tensors(_call(op, sample))
        if t.requires_grad and (t.is_floating_point() or t.is_complex())
    ]
    leaves = [t for t in _tensors((sample.input, sample.args, sample.kwargs)) if t.requires_grad]
    if not outputs or not leaves:
        return None
    # a scalar loss: an explicit gradient tensor makes torch import sympy (see probes._common)
    loss = sum((t.real if t.is_complex() else t).sum() for t in outputs)
    return lambda: torch.autograd.grad(loss, leaves, allow_unused=True)


def _observe(call: Callable[[], Any]) -> tuple[str, str, str] | None:
    """Run ``call`` in strict deterministic mode: (status, kernel, message), or None if it ran clean.

    The status is ``raises`` or ``warns`` (an alert naming the kernel), or ``error``
    (another failure: the kernel is empty).
    """
    torchstate.set_deterministic_algorithms(True, False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome
        kernel = alert_kernel(str(exc)) if isinstance(exc, RuntimeError) else None
        if kernel:
            return "raises", kernel, short(str(exc))
        return "error", "", short(f"{type(exc).__name__}: {exc}")
    finally:
        torchstate.set_deterministic_algorithms(False, False)
    for warning in caught:
        kernel = alert_kernel(str(warning.message))
        if kernel:
            return "warns", kernel, short(str(warning.message))
    return None


def _api(op: Any) -> str:
    """The public name a catalogue entry would give the op: ``torch.x``, else ``torch.Tensor.x``."""
    import torch

    owner: Any = torch
    for part in op.name.split("."):
        owner = getattr(owner, part, None)
    if owner is None and hasattr(torch.Tensor, op.name):
        return f"torch.Tensor.{op.name}"
    return f"torch.{op.name}"


def handle_sweep(request: OpInfoSweepRequest) -> OpInfoSweepAnswer:
    """Answer an :class:`~detaudit.runner.protocol.OpInfoSweepRequest` in a worker: run one op's
    samples forward (and backward) under deterministic mode; see the module doc."""
    import torch

    started = time.perf_counter()
    op = op_db()[request.id]
    device = torch.device(devices.get(request.device).torch_type)
    answer = OpInfoSweepAnswer(
        id=request.id,
        name=op.name,
        variant=op.variant_test_name,
        api=_api(op),
        aliases=tuple(alias.name for alias in op.aliases),
    )
    dtype = pick_dtype(op, device.type)
    if dtype is None:
        return replace(answer, skip=f"no dtype supported on {device.type}")
    counts = {"samples": 0, "backward": 0, "errors": 0}
    skip = error = None
    alerts: dict[tuple[str, str, str], OpInfoAlert] = {}
    saved, threads = torchstate.snapshot(), torch.get_num_threads()
    try:
        # One thread: ATen raises its alerts before a kernel runs, whatever the thread
        # count; OpInfo's samples are too small to gain from threads; and on a busy
        # machine OpenMP's waiting threads made a CPU sweep several times slower.
        torch.set_num_threads(1)
        torchstate.set_deterministic_algorithms(False, False)
        try:
            samples = _samples(op, device, dtype, request.samples, request.seed)
        except Exception as exc:  # noqa: BLE001
            skip = short(f"making samples failed: {type(exc).__name__}: {exc}")
            samples = []
        for index, sample in enumerate(samples):
            counts["samples"] += 1
            outcomes = [("forward", _observe(lambda s=sample: _call(op, s)))]
            if _differentiable(op, dtype):
                try:
                    backward = _gradients(op, sample)
                except Exception as exc:  # noqa: BLE001 - the forward fails with the mode off
                    backward = None
                    counts["errors"] += 1
                    error = error or short(f"{type(exc).__name__}: {exc}")
                if backward is not None:
                    counts["backward"] += 1
                    outcomes.append(("backward", _observe(backward)))
            for pass_, seen in outcomes:
                if seen is None:
                    continue
                status, kernel, message = seen
                if status == "error":
                    counts["errors"] += 1
                    error = error or message
                    continue
                key = (pass_, status, kernel)
                if key in alerts:
                    alerts[key] = replace(alerts[key], count=alerts[key].count + 1)
                else:
                    alerts[key] = OpInfoAlert(
                        pass_=pass_,
                        status=status,
                        kernel=kernel,
                        count=1,
                        first_sample=index,
                        sample=short(sample.summary()),
                        message=message,
                    )
    finally:
        torch.set_num_threads(threads)
        torchstate.restore(saved)
    return replace(
        answer,
        **counts,
        alerts=tuple(alerts.values()),
        dtype=str(dtype).replace("torch.", ""),
        skip=skip,
        error=error,
        seconds=time.perf_counter() - started,
    )


def handle_list(request: OpInfoListRequest) -> OpInfoListAnswer:
    """Answer an :class:`~detaudit.runner.protocol.OpInfoListRequest` in a worker: the op ids
    to sweep, every op or those ``request.ops`` names (by name or id)."""
    try:
        ops = op_db()
    except OpInfoUnavailable as exc:
        return OpInfoListAnswer(unavailable=str(exc), missing=exc.missing)
    wanted = list(request.ops)
    chosen = [i for i, op in ops.items() if not wanted or i in wanted or op.name in wanted]
    known = set(ops) | {op.name for op in ops.values()}
    return OpInfoListAnswer(
        ops=tuple(chosen), unknown=tuple(w for w in wanted if w not in known), total=len(ops)
    )


def sample_probe(op: str, index: int, pass_: str, dtype: str, device: Any) -> Any:
    """Run OpInfo sample ``index`` of op id ``op``: the probe that discover's YAML entries use.

    Forward returns the op's output; backward runs it and returns the
    gradients of its differentiable inputs. The runner has seeded every RNG;
    they are seeded again with the same seed once the database is imported,
    so the sample is the one the sweep ran.
    """
    import torch

    try:
        info = op_db()[op]
    except OpInfoUnavailable as exc:
        raise ProbeSkipped(str(exc)) from None
    except KeyError:
        raise ProbeSkipped(f"this torch's OpInfo database has no op {op!r}") from None
    samples = _samples(info, device, getattr(torch, dtype), index + 1, torch.initial_seed())
    if len(samples) <= index:
        raise ProbeSkipped(f"{op} has {len(samples)} OpInfo samples here, not {index + 1}")
    sample = samples[index]
    if pass_ == "forward":
        return _call(info, sample)
    backward = _gradients(info, sample)
    if backward is None:
        raise ProbeSkipped(f"{op} sample {index}: nothing to differentiate")
    return tuple(g for g in backward() if g is not None)
