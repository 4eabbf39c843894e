"""``detaudit.record``: a dispatch mode that writes every aten op, forward and backward, to a trace.

Built on the scanner's mode (:class:`detaudit.scanner.mode.ScanMode`): the same
user locations (the innermost frame outside torch, ``via`` the user's own line
for library code, a backward op at its forward line) and the same private torch
names (:mod:`detaudit.scanner.torchapi`).

What keeps it cheap:

- a fingerprint is one reduction on the tensor's own device
  (``torch.hash_tensor`` where torch has it, an integer sum of the bits
  otherwise), never a copy to the host; the fingerprints of many ops are
  brought to the host together, one ``stack().tolist()`` per block of ops;
- an input is fingerprinted only when no recorded op produced it: every
  output is remembered by identity and version counter (``_version``, bumped
  by every in-place write), so most inputs cost a dictionary lookup;
- lines are written in blocks.

``torch.compile``: the mode says it ignores compiled internals, so compiled
code runs compiled (as it does unrecorded) and its kernels are not seen; the
first op after a compiled region sees inputs no recorded op produced.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from .. import devices as registry
from .._version import __version__
from ..scanner.frames import Frames
from ..scanner.mode import ScanMode, _recomputing
from ..scanner.torchapi import scan_api
from .format import TraceWriter

__all__ = ["RecordMode", "StepLimitReached", "environment", "record", "step"]

#: Variables that change what a run computes, recorded in the header.
VARIABLES = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_LAUNCH_BLOCKING",
    "NVIDIA_TF32_OVERRIDE",
    "CUDA_VISIBLE_DEVICES",
    "TORCH_CUDNN_V8_API_DISABLED",
    "ATEN_CPU_CAPABILITY",
    "KMP_DETERMINISTIC_REDUCTION",
)
#: Records kept before their fingerprints are brought to the host and written.
_BLOCK = 2048

_SEEDED = torch.Tag.nondeterministic_seeded
_Tensor = torch.Tensor
_Generator = torch.Generator
_grad_enabled = torch.is_grad_enabled

#: The recording running now (for :func:`step`), if any.
_ACTIVE: RecordMode | None = None


class StepLimitReached(SystemExit):
    """``--steps N`` was reached: stop the program as if it had exited with code 0."""

    def __init__(self) -> None:
        super().__init__(0)


def step() -> None:
    """Mark the end of a training step in the trace being recorded (a no-op when none is)."""
    if _ACTIVE is not None:
        _ACTIVE.mark_step(explicit=True)


def _plain(value: Any) -> Any:
    """``value`` as JSON or a stable text: an object's repr may hold its address, its type not."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return str(value)
    return type(value).__name__


def _flags() -> dict[str, Any]:
    from .. import torchstate

    flags = {name: _plain(value) for name, value in torchstate.snapshot().items()}
    flags["num_threads"] = torch.get_num_threads()
    flags["num_interop_threads"] = torch.get_num_interop_threads()
    return flags


def environment() -> dict[str, Any]:
    """The header's environment: versions, machine, every torch flag, threads and variables."""
    from ..runner.fingerprint import fingerprint

    return {
        "environment": fingerprint(),
        "flags": _flags(),
        "variables": {name: os.environ.get(name) for name in VARIABLES},
    }


def _state_digest(generator: Any) -> int:
    state = generator.get_state()
    return zlib.crc32(ctypes.string_at(state.data_ptr(), state.numel()))


#: Tensors up to this many elements are hashed in one weighted sum; larger ones in chunks.
_CHUNK = 1 << 20
_WEIGHTS: dict[Any, Any] = {}
_INT = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def _weights(device: Any, dtype: Any) -> Any:
    """Odd weights 1, 3, 5, ...: a weighted sum of a tensor's bits depends on their positions."""
    weights = _WEIGHTS.get((device, dtype))
    if weights is None:
        weights = torch.arange(1, 2 * _CHUNK, 2, dtype=torch.int64, device=device).to(dtype)
        _WEIGHTS[(device, dtype)] = weights
    return weights


def _fingerprint(t: Any) -> Any:
    """A 0-d integer tensor on ``t``'s device: a hash of ``t``'s bits and their positions, or an int.

    The sum over elements of bits x (2i + 1), in integer arithmetic of the
    element's width (exact modulo 2**width, so order-free and the same on every
    run), one ``dot`` without a copy of the tensor: ``torch.hash_tensor`` (an
    xor of the bits) would miss a permutation and cancel repeated values (a
    dropout mask of ones and zeros hashes to 0).
    """
    try:
        if t.is_complex():
            t = torch.view_as_real(t.resolve_conj())
        size = t.element_size()
        if t.dtype.is_floating_point:
            t = t.view(_INT[size])
        if size < 4 or t.dtype is torch.bool or t.dtype.is_signed is False:
            t = t.to(torch.int32)  # small and unsigned types: dot has no kernel for them
        flat = t.reshape(-1)
        n = flat.numel()
        weights = _weights(flat.device, flat.dtype)
        if n <= _CHUNK:
            return flat.dot(weights[:n]) if n else 0
        total = 0
        for index, start in enumerate(range(0, n, _CHUNK)):
            part = flat[start : start + _CHUNK]
            total = total + part.dot(weights[: part.numel()]).to(torch.int64) * (2 * index + 1)
        return total
    except (RuntimeError, NotImplementedError, KeyError, TypeError):
        # meta, sparse, quantized and other layouts: only what is known without the data
        return zlib.crc32(f"{t.dtype}{tuple(t.shape)}{t.layout}{t.device.type}".encode())


def _version(t: Any) -> int:
    try:
        return t._version
    except RuntimeError:  # an inference tensor keeps no version counter
        return -1


#: Ops whose output is uninitialised memory: its bits mean nothing, so only its shape is hashed
#: (under deterministic mode torch fills it, see torch.utils.deterministic.fill_uninitialized_memory).
UNINITIALISED = frozenset(
    {
        "aten::empty",
        "aten::empty_like",
        "aten::empty_strided",
        "aten::new_empty",
        "aten::new_empty_strided",
        "aten::empty_permuted",
    }
)


#: In-place ops that overwrite their first argument without reading it (random fills too).
OVERWRITES = frozenset({"fill_", "zero_", "copy_"})


def _shape_only(t: Any) -> int:
    return zlib.crc32(f"{t.dtype}{tuple(t.shape)}".encode())


@functools.cache
def _op_info(func: Any) -> tuple[str, bool, tuple[int, ...], bool, bool, frozenset, frozenset]:
    """(label, random?, positions of arguments it writes, returns nothing?, a view?,
    positions and names of the arguments it overwrites without reading them) of an op."""
    schema = func._schema
    name, overload = schema.name, func._overloadname
    label = name if overload in ("default", "") else f"{name}.{overload}"
    written = tuple(
        i
        for i, argument in enumerate(schema.arguments)
        if argument.alias_info is not None and argument.alias_info.is_write
    )
    random = _SEEDED in func.tags
    blind = frozenset(
        i
        for i in written
        if random or name.split("::")[-1] in OVERWRITES or schema.arguments[i].is_out
    )
    names = frozenset(schema.arguments[i].name for i in blind)
    return label, random, written, not schema.returns, bool(func.is_view), blind, names


def _kw(kwargs: dict, index: int) -> str:
    return list(kwargs)[index]


class RecordMode(ScanMode):
    """Write one line per aten op (a mixin: :func:`_mode_class` makes the dispatch mode)."""

    def __init__(self, api: Any, writer: TraceWriter, rerun: bool, steps: int | None) -> None:
        ScanMode.__init__(self, api, None, Frames(), False)  # type: ignore[arg-type]
        self.writer = writer
        self.rerun = rerun
        self.step_limit = steps
        self.count = 0
        self.steps = 0
        self.explicit_steps = False
        self.records: list[dict[str, Any]] = []
        self.block: list[dict[str, Any]] = []
        self.made: dict[int, tuple[Any, int, Any]] = {}
        self.locations: dict[Any, int] = {}
        self.rerun_differs: list[tuple[int, str, str, str]] = []
        self.loader: str | None = None
        #: set by the caller when the recorded program failed: the trace is then partial
        self.failure: str | None = None
        self.size = 0
        self._cwd = os.getcwd() + os.sep

    # ------------------------------------------------------------------ the op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.pending:
            self._label_nodes()
        kwargs = kwargs or {}
        label, random, written, returns_none, view, blind, blind_names = _op_info(func)
        name = func._schema.name
        node = self._current_node()
        if node is None:
            pass_ = "f"
            location, _ = self._locate(None)
        elif _grad_enabled() and _recomputing(sys._getframe(1)):
            pass_ = "r"  # checkpointing recomputes a forward op during backward
            location = node.metadata.get("detaudit.location") or self._locate(None)[0]
        else:
            pass_ = "b"
            location, _ = self._locate(node)
        made = self.made
        fps: list[Any] = []
        fresh: list[int] = []
        scalars: list[Any] = []
        generators: list[Any] = []
        for position, value in enumerate((*args, *kwargs.values())):
            if isinstance(value, _Tensor):
                if position in blind or (
                    position >= len(args) and _kw(kwargs, position - len(args)) in blind_names
                ):
                    fps.append(_shape_only(value))  # overwritten whole: its old bits do not count
                    continue
                entry = made.get(id(value))
                if entry is not None and entry[1] == _version(value) and entry[0]() is value:
                    fps.append(entry[2])
                else:
                    fp, new = self._unknown_input(value)
                    if new:
                        fresh.append(len(fps))
                    fps.append(fp)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, _Tensor):
                        entry = made.get(id(item))
                        if entry is not None and entry[1] == _version(item) and entry[0]() is item:
                            fps.append(entry[2])
                        else:
                            fp, new = self._unknown_input(item)
                            if new:
                                fresh.append(len(fps))
                            fps.append(fp)
                    else:
                        scalars.append(_plain(item))
            elif isinstance(value, _Generator):
                generators.append(value)
            else:
                scalars.append(_plain(value))
        device = _device(args)
        record: dict[str, Any] = {"k": "op", "i": self.count, "op": label, "p": pass_}
        if device != "cpu":
            record["dev"] = device
        if location is not None:
            record["loc"] = self._location_id(location)
        if scalars:
            record["sc"] = zlib.crc32(repr(scalars).encode())
        if random:
            if not generators:
                generators = [_default_generator(device)]
            record["rng"] = [_state_digest(g) for g in generators]
        if self.loader is not None:
            record["dl"] = self.loader
        if self.rerun and name not in UNINITIALISED:  # new memory's bits mean nothing
            out = self._call_twice(func, types, args, kwargs, generators, record)
        else:
            out = self._call(func, types, args, kwargs)
        outs: list[Any] = []
        bump = 1 if written else 0
        if isinstance(out, _Tensor):
            if name in UNINITIALISED or (view and fps and isinstance(fps[0], int)):
                fp = _shape_only(out)  # new memory, or a view of it (detach): no data yet
            elif view and fps:
                fp = (fps[0], _geometry(out))  # a view's bits are its base's: no kernel
            else:
                fp = _fingerprint(out)
            outs.append(fp)
            self._remember_output(out, fp, bump)
            record["t"] = _shape(out)
        elif isinstance(out, (tuple, list)):
            for item in out:
                if isinstance(item, _Tensor):
                    fp = _fingerprint(item)
                    outs.append(fp)
                    self._remember_output(item, fp, bump)
            if out and isinstance(out[0], _Tensor):
                record["t"] = _shape(out[0])
        elif out is not None:
            record["so"] = zlib.crc32(repr(_plain(out)).encode())
        if returns_none and written:
            for position in written:  # foreach and out-less in-place ops: their writes
                value = args[position] if position < len(args) else None
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(item, _Tensor):
                        fp = _fingerprint(item)
                        outs.append(fp)
                        self._remember_output(item, fp, 1)
        record["in"] = fps
        record["out"] = outs
        if fresh:
            record["x"] = fresh
        self.records.append(record)
        self.block.append(record)
        self.count += 1
        if len(self.block) >= _BLOCK:
            self.flush()
        if _grad_enabled() and pass_ == "f":
            self._remember(out)
        return out

    def _call_twice(self, func, types, args, kwargs, generators, record):
        """Run the op, then once more on clones of its inputs, the generators as they were."""
        if not generators:
            generators = [_default_generator(_device(args))]
        before = [g.get_state() for g in generators]
        args2 = _clone(args)
        kwargs2 = _clone(kwargs)
        out = self._call(func, types, args, kwargs)
        after = [g.get_state() for g in generators]
        for g, state in zip(generators, before):
            g.set_state(state)
        try:
            out2 = self._call(func, types, args2, kwargs2)
        finally:
            for g, state in zip(generators, after):
                g.set_state(state)
        first, second = _tensors(out), _tensors(out2)
        if not first:
            first, second = _tensors(args), _tensors(args2)
        if any(not _same_bits(a, b) for a, b in zip(first, second)):
            record["rr"] = 1
            where = self._location_text(record.get("loc"))
            self.rerun_differs.append((self.count, record["op"], record["p"], where))
        return out

    # ------------------------------------------------------------------ bookkeeping

    def _unknown_input(self, value: Any) -> tuple[Any, bool]:
        """The fingerprint of an input no recorded op returned as this object, and whether it is
        new data: a view (autograd returns a new object for a view op's output) of a known base
        is that base's fingerprint and its geometry, without a kernel."""
        base = value._base
        if base is not None:
            entry = self.made.get(id(base))
            if entry is not None and entry[1] == _version(base) and entry[0]() is base:
                fp = (entry[2], _geometry(value))
                self._remember_output(value, fp)
                return fp, False
        fp = _fingerprint(value)
        self._remember_output(value, fp)
        return fp, True

    def _remember_output(self, tensor: Any, fp: Any, bump: int = 0) -> None:
        """Remember ``tensor``'s fingerprint at its version (``bump``: the op writes it, and
        autograd's ADInplaceOrView layer bumps the version after this mode returns)."""
        version = _version(tensor)
        if version >= 0:
            self.made[id(tensor)] = (weakref.ref(tensor), version + bump, fp)

    def _location_id(self, location: Any) -> int:
        known = self.locations.get(location)
        if known is not None:
            return known
        known = self.locations[location] = len(self.locations)
        file, line, function, via = location
        record: dict[str, Any] = {"k": "loc", "id": known, "file": self._relative(file)}
        record["line"], record["fn"] = line, function
        record["via"] = [self._relative(via[0]), via[1], via[2]] if via else None
        self.records.append(record)
        return known

    def _location_text(self, known: int | None) -> str:
        for location, number in self.locations.items():
            if number == known:
                return f"{self._relative(location[0])}:{location[1]}"
        return "(unknown)"

    def _relative(self, file: str) -> str:
        return file.removeprefix(self._cwd)

    def mark_step(self, explicit: bool = False) -> None:
        """A step ended: by ``detaudit.step()`` (explicit) or an optimizer step."""
        if explicit:
            self.explicit_steps = True
        elif self.explicit_steps:
            return  # the program marks its steps itself
        self.steps += 1
        self.records.append({"k": "step", "n": self.steps, "ops": self.count})
        if self.step_limit is not None and self.steps >= self.step_limit:
            raise StepLimitReached

    def flush(self) -> None:
        """Bring the block's fingerprints to the host and write its lines."""
        block, self.block = self.block, []
        pending: dict[int, Any] = {}
        for record in block:
            for fp in (*record["in"], *record["out"]):
                _collect(fp, pending)
        for entry in self.made.values():
            _collect(entry[2], pending)
        values = dict(zip(pending, _host_values(list(pending.values()))))
        for record in block:
            record["in"] = [_resolve(f, values) for f in record["in"]]
            record["out"] = [_resolve(f, values) for f in record["out"]]
        self.writer.write_lines(self.records)
        self.records = []
        # forget dead tensors and the fingerprint tensors: the values are on the host now
        self.made = {
            key: (ref, version, _resolve(fp, values))
            for key, (ref, version, fp) in self.made.items()
            if ref() is not None
        }


def _collect(fp: Any, pending: dict[int, Any]) -> None:
    while isinstance(fp, tuple):
        fp = fp[0]
    if isinstance(fp, _Tensor):
        pending[id(fp)] = fp


def _resolve(fp: Any, values: dict[int, int]) -> int:
    """A fingerprint's value: a tensor's from ``values``; a view's, its base's and geometry's."""
    if isinstance(fp, tuple):
        return (_resolve(fp[0], values) * 1000003 + fp[1]) & 0x7FFFFFFFFFFFFFFF
    if isinstance(fp, _Tensor):
        return values[id(fp)]
    return fp


def _geometry(t: Any) -> int:
    return zlib.crc32(f"{t.dtype}{tuple(t.shape)}{t.stride()}{t.storage_offset()}".encode())


def _host_values(tensors: list[Any]) -> list[int]:
    if not tensors:
        return []
    devices = {t.device for t in tensors}
    if len(devices) == 1:
        return torch.stack([t.to(torch.int64) for t in tensors]).tolist()
    return [t.item() for t in tensors]


def _device(args: Sequence[Any]) -> str:
    for arg in args:
        if isinstance(arg, _Tensor):
            return str(arg.device)
        if isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, _Tensor):
                    return str(item.device)
    return "cpu"


def _shape(t: Any) -> str:
    return f"{str(t.dtype)[6:]}{list(t.shape)}"


def _default_generator(device: str) -> Any:
    """The default generator of the tensor device ``device`` (``cuda:1``), as the registry says."""
    where = torch.device(device)
    info = registry.by_type(where.type)
    if info is not None and info.generator is not None and info.available():
        return info.generator(where.index if where.index is not None else 0)
    return torch.default_generator


def _clone(value: Any) -> Any:
    if isinstance(value, _Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _tensors(value: Any) -> list[Any]:
    if isinstance(value, _Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _same_bits(a: Any, b: Any) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    if a.dtype.is_floating_point:
        width = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}[a.element_size()]
        a, b = a.contiguous().view(width), b.contiguous().view(width)
    return bool(torch.equal(a, b))


@functools.cache
def _mode_class(base: type) -> type:
    class _RecordMode(RecordMode, base):  # type: ignore[misc, valid-type]
        # TorchDispatchMode.__init_subclass__ wraps the __torch_dispatch__ of the class's own
        # namespace: declare it here
        __torch_dispatch__ = RecordMode.__torch_dispatch__

        @classmethod
        def ignore_compile_internals(cls) -> bool:
            # compiled code runs compiled, as it does unrecorded (else Dynamo falls back to eager)
            return True

    return _RecordMode


def _loader_description(loader: Any) -> str:
    from torch.utils.data import RandomSampler

    sampler = getattr(loader, "sampler", None)
    shuffle = isinstance(sampler, RandomSampler)
    seeded = shuffle and getattr(sampler, "generator", None) is not None
    workers = getattr(loader, "num_workers", 0)
    return (
        f"shuffle={shuffle}{', generator given' if seeded else ', no generator' if shuffle else ''}"
        f", num_workers={workers}"
        + (", no worker_init_fn" if workers and loader.worker_init_fn is None else "")
    )


@contextmanager
def _dataloader_watch(mode: RecordMode) -> Iterator[None]:
    """Tag the ops run while a DataLoader makes a batch with that loader's settings."""
    if "torch.utils.data" not in sys.modules:
        import torch.utils.data  # noqa: F401
    from torch.utils.data import dataloader

    cls = dataloader._BaseDataLoaderIter
    original_init, original_next = cls.__init__, cls.__next__

    def __init__(self, loader, *args, **kwargs):
        saved = mode.loader
        mode.loader = _loader_description(loader)
        try:
            original_init(self, loader, *args, **kwargs)
        finally:
            mode.loader = saved

    def __next__(self):
        saved = mode.loader
        mode.loader = _loader_description(self._loader) if hasattr(self, "_loader") else "?"
        try:
            return original_next(self)
        finally:
            mode.loader = saved

    # Patched on the class while recording, put back after (setattr: mypy refuses method assignment).
    setattr(cls, "__init__", __init__)  # noqa: B010
    setattr(cls, "__next__", __next__)  # noqa: B010
    try:
        yield
    finally:
        setattr(cls, "__init__", original_init)  # noqa: B010
        setattr(cls, "__next__", original_next)  # noqa: B010


def _compiled_frames() -> int:
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return int(counters["frames"].get("ok", 0))  # frames Dynamo compiled so far


@contextmanager
def record(
    path: str | os.PathLike[str],
    *,
    rerun: bool = False,
    steps: int | None = None,
    command: Sequence[str] | None = None,
) -> Iterator[RecordMode]:
    """Record every aten op the ``with`` block runs to the trace file ``path``; yield the mode
    (``count`` ops, ``steps``, ``size`` in bytes once done, ``rerun_differs``).

    ``with detaudit.record("a.trace"): train_step()``. ``rerun`` runs each op
    a second time on clones of its inputs (about twice the cost) and marks the
    ops whose bits differ; ``steps`` stops the program (``SystemExit(0)``)
    after that many steps. The trace is written as the block runs; if the
    block raises, the trace is left partial and the exception goes on.
    """
    global _ACTIVE
    api = scan_api()
    header = {
        "tool": f"detaudit {__version__}",
        "command": list(command) if command is not None else list(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rerun": rerun,
        **environment(),
    }
    writer = TraceWriter(path, header)
    mode = _mode_class(api.dispatch_mode)(api, writer, rerun, steps)
    from torch.optim.optimizer import register_optimizer_step_post_hook

    hook = register_optimizer_step_post_hook(lambda *_: mode.mark_step())
    saved, _ACTIVE = _ACTIVE, mode
    compiled_before = _compiled_frames()
    reason = None
    try:
        with _dataloader_watch(mode), mode:
            yield mode
    except StepLimitReached:
        reason = f"stopped after {mode.steps} steps (--steps)"
        raise
    except BaseException as exc:
        mode.flush()
        writer.close(
            {
                "complete": False,
                "ops": mode.count,
                "steps": mode.steps,
                "reason": f"{type(exc).__name__}: {exc}"[:300],
                "flags": _flags(),
            }
        )
        raise
    finally:
        _ACTIVE = saved
        hook.remove()
        mode.pending = []
        if mode.step_limit is not None and mode.steps >= mode.step_limit:
            reason = f"stopped after {mode.steps} steps (--steps)"  # the program's caller saw it
        if not writer._file.closed:
            mode.flush()
            footer: dict[str, Any] = {
                "complete": mode.failure is None,
                "ops": mode.count,
                "steps": mode.steps,
                "flags": _flags(),
                "compiled_frames": _compiled_frames() - compiled_before,
                "rerun_differs": len(mode.rerun_differs),
            }
            if reason or mode.failure:
                footer["reason"] = mode.failure or reason
            mode.size = writer.close(footer)
