"""The worker protocol: typed requests and answers, one JSON object per line.

The parent writes a request record (:func:`encode`) on a worker's stdin; the
worker decodes it (:func:`decode_request`), runs the handler registered for
its kind and writes the answer record back. The pool adds nothing but the
request's identity, and reports a worker that died or hung as :class:`Lost`.

Every record is encoded and decoded by the one codec (:mod:`detaudit.model.codec`):
each field's type is checked on decoding, so a record with a field of the
wrong type is a :class:`ProtocolError` naming it, never a crash further on.
What a run observed travels as the model's own records
(:mod:`detaudit.model.observation`: ``Observation``, ``Compiled``, ``Cost``,
``DispatchedOp``, ``OpInfoAlert``; :mod:`detaudit.model.environment`:
``Environment``), which the parent then keeps as they are.

Both sides import this module, and a worker may run under another interpreter
than detaudit's: standard library and :mod:`detaudit.model`'s codec, run
records and environment only, Python 3.9 (so no ``slots=True`` on the dataclasses).

An observation's ``outcome`` is ``ran``, ``alert``, ``error``, ``skipped`` or
``unobserved``: the backward-only run could not observe what it is for (the
probe marks no backward phase); ``message`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from detaudit.errors import ReportError
from detaudit.model import codec
from detaudit.model.environment import Environment
from detaudit.model.observation import Compiled, Cost, DispatchedOp, Observation, OpInfoAlert

__all__ = [
    "ANSWERS",
    "CHANNEL_LOST_EXIT",
    "PHASE_MISUSE",
    "REQUESTS",
    "EnvironmentAnswer",
    "EnvironmentRequest",
    "Hello",
    "Lost",
    "OpInfoListAnswer",
    "OpInfoListRequest",
    "OpInfoSweepAnswer",
    "OpInfoSweepRequest",
    "ProtocolError",
    "Refused",
    "RunAnswer",
    "RunRequest",
    "TraceAnswer",
    "TraceRequest",
    "decode_answer",
    "decode_request",
    "encode",
]


#: The exit status of a worker that found its answer channel closed or replaced: a probe
#: did it (nothing else in the worker touches that descriptor); the pool says so.
CHANNEL_LOST_EXIT = 86


#: The ``exc_type`` of a backward-only observation whose probe misused ``backward_phase()``
#: (:meth:`detaudit.probes._phase.BackwardOnly.misuse`): the entry's result is ``error``.
PHASE_MISUSE = "BackwardPhaseMisuse"


class ProtocolError(Exception):
    """A message that is not a record of this protocol (unknown kind, missing fields)."""


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class EnvironmentRequest:
    """Fingerprint torch and the machine, with the facts of ``devices`` (the audited ones)."""

    kind: ClassVar[str] = "environment"
    devices: tuple[str, ...] = ()
    id: str = "environment"
    #: Also record Inductor's determinism settings (``audit --compile``; imports Inductor).
    compile: bool = False


@dataclass(frozen=True)
class RunRequest:
    """Run one catalogue entry's probe on one device: strict, warn-only and mode-off runs.

    ``repeat``: runs with the mode on (the strict one included) and with it off.
    ``cost``: also time the probe, ``cost`` runs with the mode off and on each.
    ``probe_path``: a user catalogue's folder, where its probe module lives.
    ``probe_args``: keyword arguments the probe is called with after the device.
    ``compile``: also run the probe through ``torch.compile`` with this backend
    (:mod:`detaudit.runner.compiled`); ``compile_deterministic``: with Inductor's
    determinism settings on; ``compile_timeout``: seconds the compiled runs may
    take, past which they stop and the compiled observation is ``timeout`` (the
    eager runs are kept).
    ``env``: environment variables set (a string) or unset (None) when the worker started
    (torch reads some only then): the pool starts a worker with them, and a worker that did
    not start with them runs nothing (``EnvNotAtStart``).
    ``backward_only``: a backward entry: also run it with the mode on for its backward only.
    ``skip``: do not run the probe; the answer is ``skipped`` with this reason (the plan knew).
    ``reaches``: aten ops the probe means to reach: the strict and first mode-off runs
    record the aten ops they dispatch (``RunAnswer.ops``).
    """

    kind: ClassVar[str] = "run"
    id: str
    probe: str
    device: str
    repeat: int
    seed: int
    probe_path: str | None = None
    probe_args: Mapping[str, Any] | None = None
    cost: int | None = None
    compile: str | None = None
    compile_deterministic: bool = False
    compile_timeout: float | None = None
    env: Mapping[str, str | None] | None = None
    backward_only: bool = False
    skip: str | None = None
    reaches: tuple[str, ...] = ()


@dataclass(frozen=True)
class TraceRequest:
    """Run a probe on CPU under a recording dispatch mode (the scanner's signatures)."""

    kind: ClassVar[str] = "trace"
    id: str
    probe: str
    probe_path: str | None = None
    seed: int = 0
    probe_args: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OpInfoListRequest:
    """List the OpInfo op ids to sweep: every op, or those ``ops`` names."""

    kind: ClassVar[str] = "opinfo-list"
    ops: tuple[str, ...] = ()
    id: str = "opinfo-list"


@dataclass(frozen=True)
class OpInfoSweepRequest:
    """Run one OpInfo op's samples (``samples`` at most) under deterministic mode."""

    kind: ClassVar[str] = "opinfo-sweep"
    id: str
    device: str
    seed: int
    samples: int | None = None


# ----------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Hello:
    """A worker's greeting, once torch is imported; ``devices``: those its torch has."""

    kind: ClassVar[str] = "hello"
    pid: int
    torch: str
    python: str = ""
    numpy: str | None = None
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentAnswer:
    """The fingerprint (:func:`detaudit.runner.fingerprint.handle`); the parent adds its own facts."""

    kind: ClassVar[str] = "environment"
    environment: Environment


@dataclass(frozen=True)
class RunAnswer:
    """What the runs of one (entry, device) observed; see :mod:`detaudit.runner.observe`.

    ``strict``: the run with the mode on, alerts raising; ``warn_only``: the
    first run with alerts as warnings; ``later``: every later run that did not
    run cleanly (an error, an alert), in order; ``digests_on``/``digests_off``:
    the bits of every run that returned, mode on (strict first) and off.
    ``backward_only``: a backward entry's run with the mode on for its backward only.
    ``retire``: why the worker leaves after this answer (state it cannot restore).
    ``compiled``: the runs through ``torch.compile`` (:mod:`detaudit.runner.compiled`).
    ``ops``: for a request with ``reaches``, the aten ops (``aten::mul``, no overload, in the
    order first dispatched) of the runs that recorded them: ``{"strict": [...], "mode-off 1": [...]}``.
    ``cost``: the timings with the mode off and on (``cost`` in the request); None when
    the probe did not run cleanly or a timed run failed.
    """

    kind: ClassVar[str] = "result"
    id: str
    device: str
    seconds: float = 0.0
    skip: str | None = None
    strict: Observation | None = None
    warn_only: Observation | None = None
    later: tuple[Observation, ...] = ()
    digests_on: tuple[str, ...] = ()
    digests_off: tuple[str, ...] = ()
    cost: Cost | None = None
    retire: str | None = None
    compiled: Compiled | None = None
    backward_only: Observation | None = None
    ops: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class TraceAnswer:
    """The aten ops a probe dispatched (``records``), or why not (``skip``, ``error``)."""

    kind: ClassVar[str] = "trace"
    id: str
    records: tuple[DispatchedOp, ...] | None = None
    skip: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class OpInfoListAnswer:
    """The op ids to sweep, the names asked for that do not exist, or why OpInfo is unavailable."""

    kind: ClassVar[str] = "opinfo-list"
    ops: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    total: int = 0
    unavailable: str | None = None
    missing: str | None = None


@dataclass(frozen=True)
class OpInfoSweepAnswer:
    """One OpInfo op swept: sample counts and the alerts seen (see :mod:`detaudit.docs.opinfo`)."""

    kind: ClassVar[str] = "opinfo"
    id: str
    name: str = ""
    variant: str = ""
    api: str = ""
    aliases: tuple[str, ...] = ()
    samples: int = 0
    backward: int = 0
    errors: int = 0
    alerts: tuple[OpInfoAlert, ...] = ()
    dtype: str | None = None
    skip: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Lost:
    """A request whose worker died (``crashed``: how) or ran past its time (``timeout``: s).

    Made by the pool, never by a worker; ``stderr`` is the end of what the
    worker wrote while it ran the request.
    """

    kind: ClassVar[str] = "lost"
    id: str | None
    device: str | None = None
    request: str | None = None
    crashed: str | None = None
    timeout: float | None = None
    seconds: float = 0.0
    stderr: str = ""

    @property
    def why(self) -> str:
        """``worker killed by SIGSEGV`` or ``still running after 60 s; worker killed``."""
        if self.crashed is not None:
            return self.crashed
        return f"still running after {self.timeout:g} s; worker killed"


@dataclass(frozen=True)
class Refused:
    """The worker could not take a request (an unknown kind, a malformed record)."""

    kind: ClassVar[str] = "error"
    message: str
    id: str | None = None


REQUESTS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        EnvironmentRequest,
        RunRequest,
        TraceRequest,
        OpInfoListRequest,
        OpInfoSweepRequest,
    )
}
ANSWERS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Hello,
        EnvironmentAnswer,
        RunAnswer,
        TraceAnswer,
        OpInfoListAnswer,
        OpInfoSweepAnswer,
        Lost,
        Refused,
    )
}


# ----------------------------------------------------------------------------- codec


def encode(record: Any) -> dict[str, Any]:
    """The JSON-ready mapping of a request or answer record, its kind under ``type``."""
    return {"type": record.kind, **codec.encode(record)}


def _build(cls: Any, data: Mapping[str, Any]) -> Any:
    """``cls`` from ``data``, every field's type checked; unknown keys ignored (forward compatible)."""
    try:
        return codec.decode(cls, data)
    except ReportError as exc:
        raise ProtocolError(f"malformed {cls.kind!r} record: {exc}") from None


def decode_request(data: Mapping[str, Any]) -> Any:
    """The request record ``data`` encodes; :class:`ProtocolError` if it is none."""
    cls = REQUESTS.get(str(data.get("type")))
    if cls is None:
        raise ProtocolError(f"unknown request {data.get('type')!r}")
    return _build(cls, data)


def decode_answer(data: Mapping[str, Any]) -> Any:
    """The answer record ``data`` encodes (a pool's crash or timeout report is :class:`Lost`).

    The kind is the record's ``type``, never guessed from its keys: the pool
    writes ``lost`` on the requests it lost, and refuses one from a worker.
    """
    cls = ANSWERS.get(str(data.get("type")))
    if cls is None:
        raise ProtocolError(f"unknown answer {data.get('type')!r}")
    return _build(cls, data)
