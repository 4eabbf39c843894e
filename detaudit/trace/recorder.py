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
import json
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
from ..frames import Frames
from ..scanner.matching import Matcher
from ..scanner.mode import NODE_LOCATION, ScanMode, _recomputing, match_call
from ..scanner.signatures import op_key
from ..scanner.torchapi import scan_api
from .format import TraceWriter

__all__ = ["RecordMode", "StepLimitReached", "catalogue_matcher", "environment", "record", "step"]

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
#: CPU tensors up to this many elements are hashed by numpy: the same sum, but at this size a
#: torch call costs more than the sum itself (measured: 1.5 us against 4 us for 64 elements)
_SMALL = 4096
_WEIGHTS: dict[Any, Any] = {}
_INT = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}
_strided = torch.strided


def _weights(device: Any, dtype: Any) -> Any:
    """Odd weights 1, 3, 5, ...: a weighted sum of a tensor's bits depends on their positions."""
    weights = _WEIGHTS.get((device, dtype))
    if weights is None:
        weights = torch.arange(1, 2 * _CHUNK, 2, dtype=torch.int64, device=device).to(dtype)
        _WEIGHTS[(device, dtype)] = weights
    return weights


def _numpy_views() -> tuple[Any, dict[Any, tuple[Any, bool]], dict[Any, Any]]:
    """numpy, and per torch dtype the numpy type its bits are read as (and whether they are
    widened to int32 first, as the torch path does), and the weights per integer type."""
    try:
        import numpy
    except ImportError:  # torch runs without numpy: the torch path hashes every tensor
        return None, {}, {}
    views = {
        torch.float32: (numpy.int32, False),
        torch.float64: (numpy.int64, False),
        torch.float16: (numpy.int16, True),
        torch.bfloat16: (numpy.int16, True),
        torch.int64: (numpy.int64, False),
        torch.int32: (numpy.int32, False),
        torch.int16: (numpy.int16, True),
        torch.int8: (numpy.int8, True),
        torch.uint8: (numpy.uint8, True),
        torch.bool: (numpy.uint8, True),
    }
    weights = {
        numpy.int32: numpy.arange(1, 2 * _SMALL, 2, dtype=numpy.int32),
        numpy.int64: numpy.arange(1, 2 * _SMALL, 2, dtype=numpy.int64),
    }
    return numpy, views, weights


_NUMPY, _NUMPY_VIEWS, _NUMPY_WEIGHTS = _numpy_views()


def _fingerprint(t: Any) -> Any:
    """A hash of ``t``'s bits and their positions: an int, or for a tensor on an accelerator a
    0-d integer tensor on its device (brought to the host with others, a block at a time).

    The sum over elements of bits x (2i + 1), in integer arithmetic of the
    element's width (exact modulo 2**width, so order-free and the same on every
    run and device), one ``dot`` without a copy of the tensor: ``torch.hash_tensor``
    (an xor of the bits) would miss a permutation and cancel repeated values (a
    dropout mask of ones and zeros hashes to 0). A small CPU tensor is summed by
    numpy over its memory (the same sum, without a torch call).
    """
    if not t.is_cpu:
        return _device_sum(t)
    view = _NUMPY_VIEWS.get(t.dtype)
    if view is not None:
        try:
            n = t.numel()
            if n <= _SMALL and t.layout is _strided and t.is_contiguous() and not t.is_neg():
                if not n:
                    return 0
                as_type, widen = view
                memory = (ctypes.c_char * t.nbytes).from_address(t.data_ptr())
                bits = _NUMPY.frombuffer(memory, dtype=as_type)
                if widen:
                    bits = bits.astype(_NUMPY.int32)
                return int(bits.dot(_NUMPY_WEIGHTS[bits.dtype.type][:n]))
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            pass  # a tensor without plain memory (a subclass, fake): the torch path says what
    fp = _device_sum(t)
    return fp if isinstance(fp, int) else fp.item()


def _device_sum(t: Any) -> Any:
    """:func:`_fingerprint` by torch ops on ``t``'s device: a 0-d tensor, or an int."""
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

#: Ops that return their first input's memory without autograd calling them views: like a view,
#: their output carries that input's fingerprint and its own geometry (no kernel reads it).
ALIASES = frozenset({"aten::_unsafe_view"})

#: Ops whose output is a copy of their first input's elements, in the same order and type: it
#: carries the input's fingerprint (the sum over elements is the same; a copy cannot differ).
COPIES = frozenset({"aten::clone"})

#: How an op's first output is fingerprinted.
_HASH, _VIEW, _BLANK, _COPY = 0, 1, 2, 3


def _shape_only(t: Any) -> int:
    return zlib.crc32(f"{t.dtype}{tuple(t.shape)}".encode())


#: op -> what :func:`_op_info` says of it (keyed by id: OpOverload hashes in Python).
_OPS: dict[int, tuple[Any, ...]] = {}


def _op_info(func: Any) -> tuple[Any, ...]:
    """(the op, its label as JSON, random?, positions of arguments it writes, returns nothing?,
    how its output is fingerprinted, positions and names of the arguments it overwrites without
    reading them) of an op, worked out once."""
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
    if name in UNINITIALISED:
        output = _BLANK
    elif func.is_view or name in ALIASES:
        output = _VIEW
    elif name in COPIES:
        output = _COPY
    else:
        output = _HASH
    info = (func, json.dumps(label), random, written, not schema.returns, output, blind, names)
    _OPS[id(func)] = info
    return info


def _kw(kwargs: dict, index: int) -> str:
    return list(kwargs)[index]


#: Values passed to ops as they are written into the CRC of non-tensor arguments.
_SIMPLE = frozenset({int, float, bool, str, type(None)})
#: Code flags of frames whose caller changes while they live (generators, coroutines).
_RESUMABLE = 0x20 | 0x80 | 0x100 | 0x200
#: The torch files of the wrapper a dispatch mode's method runs in (``torch._disable_dynamo``).
_WRAPPERS = frozenset(
    os.path.join(os.path.dirname(torch.__file__), *part)
    for part in (("_compile.py",), ("_dynamo", "eval_frame.py"))
)
_PASS_NAME = {"f": "forward", "b": "backward"}
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class RecordMode(ScanMode):
    """Write one line per aten op (a mixin: :func:`_mode_class` makes the dispatch mode)."""

    def __init__(
        self,
        api: Any,
        writer: TraceWriter,
        rerun: bool,
        steps: int | None,
        matcher: Matcher | None = None,
    ) -> None:
        ScanMode.__init__(self, api, matcher, Frames(), False)  # type: ignore[arg-type]
        #: per op (by id): the op and its op key when the matcher has rules for it, else None
        self.catalogued: dict[int, tuple[Any, str] | None] = {}
        self.writer = writer
        self.rerun = rerun
        self.step_limit = steps
        self.count = 0
        self.steps = 0
        self.explicit_steps = False
        #: lines not yet written: text, or an op whose fingerprints are still on a device
        self.records: list[Any] = []
        self.unwritten = 0
        #: any op in ``records`` whose fingerprints are still on a device
        self.deferred = False
        #: id -> (weak reference, version, fingerprint, uninitialised?) of every tensor an op made
        self.made: dict[int, tuple[Any, int, Any, bool]] = {}
        self.locations: dict[Any, int] = {}
        self.rerun_differs: list[tuple[int, str, str, str]] = []
        self.loader: str | None = None
        #: the caller of the last forward op and its user location (see :meth:`_forward_location`)
        self.memo_frame: Any = None
        self.memo_location: Any = None
        #: set by the caller when the recorded program failed: the trace is then partial
        self.failure: str | None = None
        self.size = 0
        self._cwd = os.getcwd() + os.sep

    def __exit__(self, *exc: object) -> Any:
        self.memo_frame = None  # the frame (and its locals) is not kept past recording
        return super().__exit__(*exc)  # type: ignore[misc]

    # ------------------------------------------------------------------ the op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.pending:
            self._label_nodes()
        kwargs = kwargs or {}
        info = _OPS.get(id(func))
        if info is None or info[0] is not func:
            info = _op_info(func)
        _, label, random, written, returns_none, output, blind, blind_names = info
        node = self._current_node()
        if node is None:
            pass_ = "f"
            location = self._forward_location(sys._getframe(0))
        else:
            self.memo_frame = None
            pass_ = "r" if _grad_enabled() and _recomputing(sys._getframe(0)) else "b"
            location = node.metadata.get(NODE_LOCATION) or self.frames.find(sys._getframe(0))
        made = self.made
        fps: list[Any] = []
        fresh: list[int] | None = None
        scalars: list[Any] | None = None
        generators: list[Any] | None = None
        device: str | None = None
        first_blank = False
        positional = len(args)
        for position, value in enumerate((*args, *kwargs.values()) if kwargs else args):
            if isinstance(value, _Tensor):
                if device is None and position < positional:
                    device = "cpu" if value.is_cpu else str(value.device)
                if blind and (
                    position in blind
                    or (position >= positional and _kw(kwargs, position - positional) in blind_names)
                ):
                    fps.append(_shape_only(value))  # overwritten whole: its old bits do not count
                    continue
                entry = made.get(id(value))
                if entry is not None and entry[1] == _version(value) and entry[0]() is value:
                    if not fps:
                        first_blank = entry[3]
                    fps.append(entry[2])
                    continue
                fp, new, blank = self._unknown_input(value)
                if new:
                    if fresh is None:
                        fresh = []
                    fresh.append(len(fps))
                if not fps:
                    first_blank = blank
                fps.append(fp)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, _Tensor):
                        if device is None and position < positional:
                            device = "cpu" if item.is_cpu else str(item.device)
                        entry = made.get(id(item))
                        if entry is not None and entry[1] == _version(item) and entry[0]() is item:
                            fps.append(entry[2])
                            continue
                        fp, new, _ = self._unknown_input(item)
                        if new:
                            if fresh is None:
                                fresh = []
                            fresh.append(len(fps))
                        fps.append(fp)
                    else:
                        if scalars is None:
                            scalars = []
                        scalars.append(item if type(item) in _SIMPLE else _plain(item))
            elif isinstance(value, _Generator):
                if generators is None:
                    generators = []
                generators.append(value)
            else:
                if scalars is None:
                    scalars = []
                scalars.append(value if type(value) in _SIMPLE else _plain(value))
        if device is None:
            device = "cpu"
        head = f'{{"k":"op","i":{self.count},"op":{label},"p":"{pass_}"'
        if device != "cpu":
            head += f',"dev":"{device}"'
        if location is not None:
            head += f',"loc":{self._location_id(location)}'
        if scalars:
            head += f',"sc":{zlib.crc32(repr(scalars).encode())}'
        if random:
            if not generators:
                generators = [_default_generator(device)]
            head += f',"rng":[{",".join([str(_state_digest(g)) for g in generators])}]'
        if self.loader is not None:
            head += f',"dl":{json.dumps(self.loader)}'
        if self.matcher is not None and pass_ != "r":
            entries = self._entries(func, pass_, args, kwargs)
            if entries:
                head += f',"cat":{_dumps(list(entries))}'
        if self.rerun and output != _BLANK:  # new memory's bits mean nothing
            out, differs = self._call_twice(func, types, args, kwargs, generators, device)
            if differs:
                head += ',"rr":1'
                self.rerun_differs.append(
                    (self.count, json.loads(label), pass_, self._location_text(location))
                )
        else:
            out = self._call(func, types, args, kwargs)
        outs: list[Any] = []
        bump = 1 if written else 0
        if isinstance(out, _Tensor):
            blank = False
            if output == _BLANK or (first_blank and output != _HASH):
                fp, blank = _shape_only(out), True  # new memory, or a view of it: no data yet
            elif output == _HASH or not fps:
                fp = _fingerprint(out)
            elif output == _VIEW:
                fp = _combine(fps[0], _geometry(out))  # a view's bits are its base's: no kernel
            else:
                fp = fps[0]  # a copy: the same elements
            outs.append(fp)
            self._remember_output(out, fp, bump, blank)
            head += f',"t":{_shape(out)}'
        elif isinstance(out, (tuple, list)):
            for item in out:
                if isinstance(item, _Tensor):
                    fp = _fingerprint(item)
                    outs.append(fp)
                    self._remember_output(item, fp, bump)
            if out and isinstance(out[0], _Tensor):
                head += f',"t":{_shape(out[0])}'
        elif out is not None:
            head += f',"so":{zlib.crc32(repr(_plain(out)).encode())}'
        if returns_none and written:
            for position in written:  # foreach and out-less in-place ops: their writes
                value = args[position] if position < len(args) else None
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(item, _Tensor):
                        fp = _fingerprint(item)
                        outs.append(fp)
                        self._remember_output(item, fp, 1)
        tail = f',"x":[{",".join(map(str, fresh))}]}}\n' if fresh else "}\n"
        if device == "cpu" or all(type(f) is int for f in (*fps, *outs)):
            self.records.append(_op_line(head, fps, outs, tail))
        else:
            self.records.append([head, fps, outs, tail])
            self.deferred = True
        self.count += 1
        self.unwritten += 1
        if self.unwritten >= _BLOCK:
            self.flush()
        if location is not None and pass_ == "f" and _grad_enabled():
            # the forward line, for the autograd node its outputs get (ScanMode._label_nodes)
            if isinstance(out, _Tensor):
                self.pending.append((out, location))
            elif isinstance(out, (tuple, list)):
                self.pending.extend((t, location) for t in out if isinstance(t, _Tensor))
        return out

    def _entries(self, func: Any, pass_: str, args: Any, kwargs: dict) -> tuple[str, ...]:
        """The catalogue entries this op call matches, by the scan's signatures and conditions
        (:meth:`ScanMode._hit`): what ``detaudit scan`` would name for it."""
        known: tuple[Any, str] | None = self.catalogued.get(id(func))
        if id(func) not in self.catalogued or (known is not None and known[0] is not func):
            key = op_key(f"{func._schema.name}.{func._overloadname}")
            ruled = any(self.matcher.rules(key, p) for p in ("forward", "backward"))
            known = self.catalogued[id(func)] = (func, key) if ruled else None
        if known is None:
            return ()
        return match_call(self.matcher, known[1], _PASS_NAME[pass_], func, args, kwargs)

    def _forward_location(self, frame: Any) -> Any:
        """The user location of a forward op, ``frame`` being the mode's own.

        The frames outside torch are the same for every op one torch function
        dispatches (``multi_head_attention_forward`` dispatches dozens): while
        that function's frame runs, its callers wait at their lines. So the
        location found from the op's caller is kept for the next op, and used
        when that op has the same caller frame (by identity: the frame is kept
        alive, so its address is not reused), when the caller is torch code
        (not part of the location) and not a generator (whose caller changes).
        """
        caller = frame.f_back
        while caller is not None and caller.f_code.co_filename in _WRAPPERS:
            caller = caller.f_back
        if caller is not None and caller is self.memo_frame:
            return self.memo_location
        location = self.frames.find(frame)
        if (
            caller is not None
            and not caller.f_code.co_flags & _RESUMABLE
            and self.frames.skipped(caller)
        ):
            self.memo_frame, self.memo_location = caller, location
        else:
            self.memo_frame = None
        return location

    def _call_twice(self, func, types, args, kwargs, generators, device) -> tuple[Any, bool]:
        """Run the op, then once more on clones of its inputs, the generators as they were;
        return its output and whether the second run's bits differ."""
        if not generators:
            generators = [_default_generator(device)]
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
        return out, any(not _same_bits(a, b) for a, b in zip(first, second))

    # ------------------------------------------------------------------ bookkeeping

    def _unknown_input(self, value: Any) -> tuple[Any, bool, bool]:
        """The fingerprint of an input no recorded op returned as this object, whether it is
        new data, and whether it is uninitialised memory: a view (autograd returns a new object
        for a view op's output) of a known base is that base's fingerprint and its geometry,
        without a kernel."""
        base = value._base
        if base is not None:
            entry = self.made.get(id(base))
            if entry is not None and entry[1] == _version(base) and entry[0]() is base:
                fp = _shape_only(value) if entry[3] else _combine(entry[2], _geometry(value))
                self._remember_output(value, fp, 0, entry[3])
                return fp, False, entry[3]
        fp = _fingerprint(value)
        self._remember_output(value, fp)
        return fp, True, False

    def _remember_output(self, tensor: Any, fp: Any, bump: int = 0, blank: bool = False) -> None:
        """Remember ``tensor``'s fingerprint at its version (``bump``: the op writes it, and
        autograd's ADInplaceOrView layer bumps the version after this mode returns)."""
        version = _version(tensor)
        if version >= 0:
            self.made[id(tensor)] = (weakref.ref(tensor), version + bump, fp, blank)

    def _location_id(self, location: Any) -> int:
        known = self.locations.get(location)
        if known is not None:
            return known
        known = self.locations[location] = len(self.locations)
        file, line, function, via = location
        record: dict[str, Any] = {"k": "loc", "id": known, "file": self._relative(file)}
        record["line"], record["fn"] = line, function
        record["via"] = [self._relative(via[0]), via[1], via[2]] if via else None
        self.records.append(_dumps(record) + "\n")
        return known

    def _location_text(self, location: Any) -> str:
        if location is None:
            return "(unknown)"
        return f"{self._relative(location[0])}:{location[1]}"

    def _relative(self, file: str) -> str:
        return file.removeprefix(self._cwd)

    def mark_step(self, explicit: bool = False) -> None:
        """A step ended: by ``detaudit.step()`` (explicit) or an optimizer step."""
        if explicit:
            self.explicit_steps = True
        elif self.explicit_steps:
            return  # the program marks its steps itself
        self.steps += 1
        self.records.append(_dumps({"k": "step", "n": self.steps, "ops": self.count}) + "\n")
        if self.step_limit is not None and self.steps >= self.step_limit:
            raise StepLimitReached

    def flush(self) -> None:
        """Bring the fingerprints still on a device to the host, and write the lines."""
        records, self.records = self.records, []
        self.unwritten = 0
        made = self.made
        if self.deferred:
            self.deferred = False
            pending: dict[int, Any] = {}
            for record in records:
                if type(record) is list:
                    for fp in (*record[1], *record[2]):
                        _collect(fp, pending)
            for entry in made.values():
                _collect(entry[2], pending)
            values = dict(zip(pending, _host_values(list(pending.values()))))
            records = [
                r
                if type(r) is str
                else _op_line(
                    r[0], [_resolve(f, values) for f in r[1]], [_resolve(f, values) for f in r[2]], r[3]
                )
                for r in records
            ]
            # the fingerprint tensors are not kept: their values are on the host now
            self.made = {
                key: (ref, version, _resolve(fp, values), blank)
                for key, (ref, version, fp, blank) in made.items()
                if ref() is not None
            }
        else:
            self.made = {key: entry for key, entry in made.items() if entry[0]() is not None}
        self.writer.write_text("".join(records))


def _op_line(head: str, ins: list[Any], outs: list[Any], tail: str) -> str:
    return f'{head},"in":[{",".join(map(str, ins))}],"out":[{",".join(map(str, outs))}]{tail}'


def _combine(fp: Any, geometry: int) -> Any:
    """A view's fingerprint: its base's and its geometry's (later, if the base's is on a device)."""
    if type(fp) is int:
        return (fp * 1000003 + geometry) & 0x7FFFFFFFFFFFFFFF
    return (fp, geometry)


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


_GEOMETRIES: dict[Any, int] = {}
_SHAPES: dict[Any, str] = {}


def _geometry(t: Any) -> int:
    key = (t.dtype, t.shape, t.stride(), t.storage_offset())
    known = _GEOMETRIES.get(key)
    if known is None:
        if len(_GEOMETRIES) > 100_000:
            _GEOMETRIES.clear()
        known = _GEOMETRIES[key] = zlib.crc32(
            f"{t.dtype}{tuple(t.shape)}{t.stride()}{t.storage_offset()}".encode()
        )
    return known


def _host_values(tensors: list[Any]) -> list[int]:
    if not tensors:
        return []
    devices = {t.device for t in tensors}
    if len(devices) == 1:
        return torch.stack([t.to(torch.int64) for t in tensors]).tolist()
    return [t.item() for t in tensors]


def _shape(t: Any) -> str:
    """The op line's ``t``: dtype and shape, as JSON (``"float32[16, 8]"``)."""
    key = (t.dtype, t.shape)
    known = _SHAPES.get(key)
    if known is None:
        if len(_SHAPES) > 100_000:
            _SHAPES.clear()
        known = _SHAPES[key] = json.dumps(f"{str(t.dtype)[6:]}{list(t.shape)}")
    return known


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
    matcher: Matcher | None = None,
) -> Iterator[RecordMode]:
    """Record every aten op the ``with`` block runs to the trace file ``path``; yield the mode
    (``count`` ops, ``steps``, ``size`` in bytes once done, ``rerun_differs``).

    ``with detaudit.record("a.trace"): train_step()``. ``rerun`` runs each op
    a second time on clones of its inputs (about twice the cost) and marks the
    ops whose bits differ; ``steps`` stops the program (``SystemExit(0)``)
    after that many steps; ``matcher`` (the scan's, see :func:`catalogue_matcher`) names
    the catalogue entries of each catalogued op call in its line. The trace is written as the block runs; if the
    block raises, the trace is left partial and the exception goes on.
    """
    global _ACTIVE
    api = scan_api()
    header = {
        "tool": f"detaudit {__version__}",
        "command": list(command) if command is not None else list(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rerun": rerun,
        "catalog_match": matcher is not None,
        **environment(),
    }
    writer = TraceWriter(path, header)
    mode = _mode_class(api.dispatch_mode)(api, writer, rerun, steps, matcher)
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


def catalogue_matcher(catalog: Any) -> Matcher:
    """The scan's matcher for ``catalog`` (its signatures: from the cache ``detaudit scan``
    fills, traced once per torch and catalogue when absent)."""
    from ..scanner.signatures import load_signatures

    return Matcher(catalog, load_signatures(catalog, torch.__version__))
