"""The scan's dispatch mode: count every catalogued aten op by entries, pass, device and line.

Matching is :meth:`Matcher.match <detaudit.scanner.matching.Matcher.match>`,
fed the op's arguments as :func:`detaudit.scanner.trace.feature` describes
them (the trace describes the probes' arguments the same way).

Source lines: a forward op is located at the first frame of user code on the
stack (:class:`~detaudit.frames.Frames`). For a backward op, that
forward location is left in the metadata of the autograd node the forward op
created; during backward, ``torch._C._current_autograd_node()`` names the node
being run, so its backward ops report the forward line.

Activation checkpointing (``torch.utils.checkpoint``, reentrant or not, and
``checkpoint_sequential``) runs forward ops again during backward. Such an op
is recomputation, not a backward op (:meth:`ScanMode._recomputing`): it is not
counted again (its first run, in the forward pass, was), and the nodes it
creates are labelled with its forward line.

Alerts: each op is called through ``torch._C._disabled_torch_function_impl``,
a C entry point that flushes torch's warnings when the op returns, so an
alert is seen while its op is still the one being dispatched
(:meth:`ScanMode.alert`). The private names come from
:mod:`detaudit.scanner.torchapi`, so the base class is only known once a scan
starts: :func:`scan_mode` mixes :class:`ScanMode` into it.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.utils.checkpoint

from .. import torchstate
from ..frames import Frames, Location
from .matching import Matcher
from .signatures import op_key
from .torchapi import ScanAPI
from .trace import bound_arguments, feature

__all__ = ["NODE_LOCATION", "HitKey", "ScanMode", "match_call", "scan_mode"]

#: Metadata key under which a forward op's user location is left on its autograd node.
NODE_LOCATION = "detaudit.location"

#: (entries, op label, pass, device, location, how it was located): one hit, counted.
HitKey = tuple[tuple[str, ...], str, str, str, Location | None, str]

_grad_enabled = torch.is_grad_enabled
_warn_only = torch.is_deterministic_algorithms_warn_only_enabled
#: The file whose frames are on the stack while checkpointing recomputes a forward pass.
_CHECKPOINT_FILE = torch.utils.checkpoint.__file__


def _op_label(func: Any) -> str:
    """``aten::index_add_``, or ``aten::median.dim`` when the overload is not the default."""
    name, overload = func._schema.name, func._overloadname
    return name if overload in ("default", "") else f"{name}.{overload}"


def _device_of(args: Sequence[Any]) -> str:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device.type
        if isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, torch.Tensor):
                    return item.device.type
    return "cpu"


def _needs_grad(args: Sequence[Any]) -> bool:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            if arg.requires_grad:
                return True
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, torch.Tensor) and item.requires_grad:
                    return True
    return False



def match_call(
    matcher: Matcher, key: str, pass_: str, func: Any, args: Any, kwargs: Any
) -> Any:
    """The catalogue entries ``matcher`` matches for one aten call, read from its arguments.

    The scan and the trace recorder ask this one way, so both name the same entries.
    """
    bound = {name: (value, given) for name, value, given in bound_arguments(func, args, kwargs)}

    def get(argument: str, part: str) -> tuple[object, bool]:
        if argument == "overload":
            return func._overloadname, True
        value, given = bound.get(argument, (None, False))
        return feature(value, part), given

    return matcher.match(key, pass_, get)

class ScanMode:
    """Count every catalogued op by (entries, op, pass, device, location); record alerts.

    A mixin: :func:`scan_mode` makes the ``TorchDispatchMode`` subclass.
    """

    def __init__(self, api: ScanAPI, matcher: Matcher, frames: Frames, observe: bool) -> None:
        super().__init__()
        self.matcher = matcher
        self.frames = frames
        self.observe = observe
        self._call = api.call
        self._current_node = api.current_node
        #: per op: its op_key and the passes some rule is for; None when no rule is
        self.ops: dict[Any, tuple[str, tuple[str, ...]] | None] = {}
        self.counts: Counter[HitKey] = Counter()
        self.alerts: dict[HitKey, str] = {}
        self.pending: list[tuple[torch.Tensor, Location]] = []
        self.current: tuple[Any, Sequence[Any], HitKey | None] | None = None
        #: set while the op being dispatched is a forward op recomputed by checkpointing
        self.recomputed = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.pending:
            self._label_nodes()
        kwargs = kwargs or {}
        try:
            op = self.ops[func]
        except KeyError:
            op = self.ops[func] = self._op_for(func)
        self.recomputed = False
        key = None if op is None else self._hit(func, args, kwargs, op)
        if self.observe and not _warn_only():
            # the scanned code asked for strict mode: keep alerts as warnings
            torchstate.set_deterministic_algorithms(True, warn_only=True)
        self.current = (func, args, key)
        try:
            out = self._call(func, types, args, kwargs)
        finally:
            self.current = None
        if _grad_enabled() and _needs_grad(args):
            self._remember(out)
        return out

    # ------------------------------------------------------------------ locations

    def _remember(self, out: Any) -> None:
        """Keep the user line of a forward op for the autograd node it is about to get."""
        frame = sys._getframe(1)
        node = self._current_node()
        if node is not None and _recomputing(frame):
            location = self._recomputed_location(frame, node)
        else:
            location = self.frames.find(frame)
        if location is None:
            return
        if isinstance(out, torch.Tensor):
            self.pending.append((out, location))
        elif isinstance(out, (tuple, list)):
            self.pending.extend((t, location) for t in out if isinstance(t, torch.Tensor))

    def _label_nodes(self) -> None:
        """Autograd attaches grad_fn after a dispatch returns: label those nodes now."""
        for tensor, location in self.pending:
            node = tensor.grad_fn
            if node is not None:
                metadata = node.metadata
                if NODE_LOCATION not in metadata:
                    metadata[NODE_LOCATION] = location
        self.pending = []

    def _recomputed_location(self, frame: Any, node: Any) -> Location | None:
        """The forward line of an op that checkpointing recomputes during backward.

        The innermost user frame inside the recomputed function is its forward
        line. When the function is all torch (``checkpoint_sequential`` over
        ``nn.Linear``), the first user frame is outside the recomputation (the
        ``backward()`` call); then the node being run, if it has a line, is
        better: for non-reentrant checkpointing it is the forward op's own node.
        """
        inner = frame
        while inner is not None and inner.f_code.co_filename != _CHECKPOINT_FILE:
            inner = inner.f_back
        location = self.frames.find(frame)
        if location is not None and inner is not None:
            # is the user frame found inside the recomputation (before checkpoint.py's frame)?
            probe = frame
            while probe is not None and probe is not inner:
                if probe.f_code.co_filename == location[0] and probe.f_lineno == location[1]:
                    return location
                probe = probe.f_back
        return node.metadata.get(NODE_LOCATION) or location

    def _locate(self, node: Any) -> tuple[Location | None, str]:
        """Where the op's user code is: its forward call for a backward op, else its caller."""
        if node is not None:
            location = node.metadata.get(NODE_LOCATION)
            if location is not None:
                return location, "forward"
        location = self.frames.find(sys._getframe(1))
        if location is None:
            return None, "unknown"
        return location, "backward" if node is not None else "call"

    # ------------------------------------------------------------------ matching

    def _op_for(self, func: Any) -> tuple[str, tuple[str, ...]] | None:
        """``func``'s op key and the passes the matcher has rules for it in; None if neither."""
        key = op_key(f"{func._schema.name}.{func._overloadname}")
        passes = tuple(p for p in ("forward", "backward") if self.matcher.rules(key, p))
        return (key, passes) if passes else None

    def _hit(
        self, func: Any, args: Sequence[Any], kwargs: dict, op: tuple[str, tuple[str, ...]]
    ) -> HitKey | None:
        node = self._current_node()
        if node is not None and _recomputing(sys._getframe(2)):
            # checkpointing runs this forward op again: its forward run was counted
            self.recomputed = True
            return None
        pass_ = "forward" if node is None else "backward"
        key, passes = op
        if pass_ not in passes:
            return None
        entries = match_call(self.matcher, key, pass_, func, args, kwargs)
        if not entries:
            return None
        location, located = self._locate(node)
        hit = (entries, _op_label(func), pass_, _device_of(args), location, located)
        self.counts[hit] += 1
        return hit

    def alert(self, kernel: str) -> None:
        """An alert was raised (as a warning): record it on the op being dispatched.

        An op that no entry matches becomes a hit of its own; an alert raised
        while no op is being dispatched is kept too, with the op unknown.
        """
        func, args, key = self.current or (None, (), None)
        if self.recomputed:
            return  # the op's forward run raised this alert already, and was recorded
        if key is None:
            node = self._current_node()
            location, located = self._locate(node)
            pass_ = "forward" if node is None else "backward"
            op = _op_label(func) if func is not None else "(unknown op)"
            key = ((), op, pass_, _device_of(args) if args else "?", location, located)
            self.counts[key] += 1
        self.alerts[key] = kernel


def _recomputing(frame: Any) -> bool:
    """Is this op, dispatched while an autograd node runs, a forward op recomputed by checkpointing?

    Both checkpoint implementations recompute inside backward under
    ``torch.enable_grad()`` (so that the recomputed ops build a graph), from a
    function in ``torch/utils/checkpoint.py``: ``CheckpointFunction.backward``
    (reentrant) or the saved-tensor unpack hook (non-reentrant). Ordinary
    backward ops run with grad mode off, so the stack is only walked with grad
    mode on (checkpointing, or ``backward(create_graph=True)``), and the
    checkpoint frame tells the two apart.
    """
    if not _grad_enabled():
        return False
    while frame is not None:
        if frame.f_code.co_filename == _CHECKPOINT_FILE:
            return True
        frame = frame.f_back
    return False


@functools.cache
def _mode_class(base: type) -> type:
    class _ScanMode(ScanMode, base):  # type: ignore[misc, valid-type]
        # TorchDispatchMode.__init_subclass__ wraps the __torch_dispatch__ of the
        # subclass's own namespace (to keep Dynamo out of it): declare it here
        __torch_dispatch__ = ScanMode.__torch_dispatch__

    return _ScanMode


def scan_mode(api: ScanAPI, matcher: Matcher, frames: Frames, observe: bool) -> ScanMode:
    """A new dispatch mode for one scan: :class:`ScanMode` over ``api.dispatch_mode``."""
    return _mode_class(api.dispatch_mode)(api, matcher, frames, observe)
