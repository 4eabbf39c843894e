"""Run one probe under a recording dispatch mode and report every aten op it dispatched.

Runs inside a probe worker (``{"type": "trace"}`` requests), so like the
worker it uses only the standard library and torch, and syntax that Python
3.9 runs. The scanner derives each entry's aten signature from these records
(:mod:`detaudit.scanner.signatures`); the feature helpers here are shared with
the dynamic scan so that both describe an argument the same way.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from typing import Any

from detaudit.model.observation import DispatchedOp

#: Key under which a forward op's name is left in its autograd node's metadata.
NODE_OP = "detaudit.op"

#: Ops that only move data: their output comes from the tensor argument at this
#: position, so the result's producer is that tensor's (views are handled alike).
#: AccumulateGrad copies a gradient into ``.grad`` with copy_ under deterministic mode.
_MOVES = {"aten::copy_": 1, "aten::clone": 0, "aten::_to_copy": 0}


def dtype_kind(t: Any) -> str:
    """``float``, ``complex``, ``int``, ``bool`` or ``quantized``: the dtype family of ``t``."""
    if t.is_quantized:
        return "quantized"
    if t.is_complex():
        return "complex"
    if t.is_floating_point():
        return "float"
    return "bool" if str(t.dtype) == "torch.bool" else "int"


def layout_name(t: Any) -> str:
    """``strided``, ``sparse_coo``, ...: ``t.layout`` without the ``torch.`` prefix."""
    return str(t.layout).rpartition(".")[2]


def feature(value: Any, part: str) -> Any:
    """One feature of an argument: the value itself (``part=""``), or a tensor's ndim/dtype/layout.

    A tensor's value is the string ``"tensor"``; a list holding tensors is
    ``"tensors"``; torch dtypes, layouts and devices are their ``str``; other
    objects are ``"?"``. A part of something that is not a tensor is None.
    """
    import torch

    if isinstance(value, torch.Tensor):
        if part == "ndim":
            return value.dim()
        if part == "dtype":
            return dtype_kind(value)
        if part == "layout":
            return layout_name(value)
        return "tensor"
    if part:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, torch.Tensor) for v in value):
            return "tensors"
        return [v for v in value if isinstance(v, (bool, int, float, str))]
    if isinstance(value, (torch.dtype, torch.layout, torch.device, torch.memory_format)):
        return str(value)
    return "?"


def bound_arguments(func: Any, args: tuple, kwargs: dict) -> list[tuple[str, Any, bool]]:
    """(name, value, given) for every schema argument of ``func``; defaults fill the gaps."""
    bound = []
    for index, arg in enumerate(func._schema.arguments):
        if index < len(args) and not arg.kwarg_only:
            bound.append((arg.name, args[index], True))
        elif arg.name in kwargs:
            bound.append((arg.name, kwargs[arg.name], True))
        elif arg.has_default_value():
            bound.append((arg.name, arg.default_value, True))
        else:
            bound.append((arg.name, None, False))
    return bound


def all_features(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Every feature of every argument, as the trace records them."""
    import torch

    features: dict[str, Any] = {}
    for name, value, given in bound_arguments(func, args, kwargs):
        if not given:
            continue
        features[name] = feature(value, "")
        if isinstance(value, torch.Tensor):
            for part in ("ndim", "dtype", "layout"):
                features[f"{name}.{part}"] = feature(value, part)
    return features


def op_name(func: Any) -> str:
    """``aten::put_.default``: the schema name and the overload."""
    return f"{func._schema.name}.{func._overloadname}"


def _tensors(obj: Any) -> list[Any]:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    return []


def _recorder_class() -> type:
    import torch

    from detaudit.scanner.torchapi import CURRENT_NODE, DISPATCH_MODE, resolve

    TorchDispatchMode = resolve(DISPATCH_MODE)
    current_node = resolve(CURRENT_NODE)

    class Recorder(TorchDispatchMode):
        """Record (op, pass, parent forward op, argument features) of every dispatch."""

        def __init__(self) -> None:
            super().__init__()
            # Dispatches alike are one record (its first), counted in ``calls``.
            self.ops: dict[tuple[Any, ...], DispatchedOp] = {}
            self.calls: dict[tuple[Any, ...], int] = {}
            self.produced: set[tuple[Any, ...]] = set()
            self.producer: dict[int, tuple[Any, ...]] = {}
            self.keep: list[Any] = []  # outputs stay alive, so their addresses stay unique
            self.pending: list[tuple[Any, str]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            for tensor, name in self.pending:  # autograd has attached grad_fn by now
                node = tensor.grad_fn
                if node is not None and NODE_OP not in node.metadata:
                    node.metadata[NODE_OP] = name
            self.pending = []
            node = current_node()
            name = op_name(func)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = func(*args, **kwargs)
            op = DispatchedOp(
                op=name,
                pass_="backward" if node is not None else "forward",
                parent=node.metadata.get(NODE_OP) if node is not None else None,
                features=all_features(func, args, kwargs),
                tensor_inputs=bool(_tensors(list(args) + list(kwargs.values()))),
                warnings=tuple(sorted({str(w.message)[:300] for w in caught})),
            )
            features = json.dumps(op.features, sort_keys=True, default=str)
            key = (op.op, op.pass_, op.parent, features, op.tensor_inputs, op.warnings)
            if key in self.ops:
                self.calls[key] += 1
            else:
                self.ops[key], self.calls[key] = op, 1
            self._track(func, args, out, key)
            if node is None:
                self.pending = [(t, name) for t in _tensors(out)]
            return out

        def _track(self, func, args, out, key: tuple[Any, ...]) -> None:
            source = _MOVES.get(func._schema.name)
            for ret, tensor in zip(func._schema.returns, _tensors(out)):
                alias = ret.alias_info
                self.keep.append(tensor)
                if alias is not None and not alias.is_write:
                    source = 0  # a view: its data is its base's
                origin = args[source] if source is not None and source < len(args) else None
                base = (
                    self.producer.get(origin._cdata) if isinstance(origin, torch.Tensor) else None
                )
                self.producer[tensor._cdata] = base if base is not None else key

        def mark_result(self, result: Any) -> None:
            for tensor in _tensors(result):
                key = self.producer.get(tensor._cdata)
                if key is not None:
                    self.produced.add(key)

        def dispatched(self) -> tuple[DispatchedOp, ...]:
            """Every distinct dispatch, in the order first seen, with its calls and ``produced``."""
            return tuple(
                replace(op, calls=self.calls[key], produced=key in self.produced)
                for key, op in self.ops.items()
            )

    return Recorder


def handle(request: Any) -> Any:
    """Run a probe on CPU under deterministic warn-only mode, recording its dispatches.

    Answers a :class:`~detaudit.runner.protocol.TraceAnswer` whose records
    (:class:`~detaudit.model.observation.DispatchedOp`) name each op, its pass,
    the forward op whose backward dispatched it, its argument features, its
    calls, and whether it produced (part of) the probe's result; or why not
    (``skip``, ``error``).
    """
    import torch

    from detaudit import torchstate
    from detaudit.probes import ProbeSkipped
    from detaudit.runner.probing import load_probe
    from detaudit.runner.protocol import TraceAnswer

    saved = torchstate.snapshot()
    try:
        fn = load_probe(request.probe, request.probe_path, request.probe_args)
        torch.manual_seed(int(request.seed))
        torchstate.set_deterministic_algorithms(True, warn_only=True)
        recorder = _recorder_class()()
        with recorder:
            result = fn(torch.device("cpu"))
        recorder.mark_result(result)
        return TraceAnswer(id=request.id, records=recorder.dispatched())
    except ProbeSkipped as exc:
        return TraceAnswer(id=request.id, skip=str(exc))
    except Exception as exc:  # noqa: BLE001 - a failing probe is an outcome
        return TraceAnswer(id=request.id, error=f"{type(exc).__name__}: {exc}"[:600])
    finally:
        torchstate.restore(saved)
