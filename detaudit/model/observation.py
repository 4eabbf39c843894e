"""What a worker's runs observed: the records a probe worker builds and sends.

:class:`Observation` (one run), :class:`Compiled` (the runs through
``torch.compile``) and :class:`Cost` (the timings) are built in the worker,
sent through :mod:`detaudit.runner.protocol` with the one codec
(:mod:`detaudit.model.codec`) and kept as they are in a
:class:`~detaudit.model.report.ProbeResult`. :class:`DispatchedOp` (one aten op
a traced probe dispatched: the scanner's signatures) and :class:`OpInfoAlert`
(an alert an OpInfo op's samples gave: ``detaudit discover``) travel the same
way. Workers may run under another interpreter than detaudit's: standard
library only, Python 3.9 (so no ``slots=True`` on these dataclasses).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .codec import decode, encode, meta

__all__ = ["Compiled", "Cost", "DispatchedOp", "Observation", "OpInfoAlert"]


@dataclass(frozen=True)
class Observation:
    """One run's outcome (strict, warn-only or mode-off), as a worker reported it.

    ``run`` names the run (``strict``, ``warn-only 2``, ``mode-off 1``);
    ``restored`` names the process state the probe changed and the runner put
    back afterwards (``working directory``, ``default device``...); ``env`` the
    entry's environment variables as the worker that ran it started with them.
    """

    outcome: str  # "ran", "alert", "error", "skipped" or "unobserved" (see ``message``)
    kernel: str | None = None
    message: str | None = None
    exc_type: str | None = None
    warnings: tuple[str, ...] = ()
    # Optional: reports keep their old shape where there is nothing to say.
    run: str | None = field(default=None, metadata=meta(omit="none"))
    restored: tuple[str, ...] = field(default=(), metadata=meta(omit="empty"))
    # The variables the entry's ``env`` set (a string) or unset (None), as the worker that ran
    # it started with them; None for an entry without ``env`` (the caller's environment).
    env: Mapping[str, str | None] | None = field(default=None, metadata=meta(omit="none"))

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "observation") -> Observation:
        """Rebuild one; a field of the wrong type is a :class:`ReportError` naming it."""
        return decode(cls, data, where)


@dataclass(frozen=True)
class Cost:
    """What deterministic mode costs one probe: seconds per run with the mode off and on.

    ``off`` and ``on`` are medians of ``runs`` timed runs each. The spread of
    each is its interquartile range (``*_q1`` to ``*_q3``): when the two ranges
    overlap, the ratio is within timing noise (:attr:`within_noise`) and is not
    a finding. The quartiles are inclusive, so with 5 runs they are the 2nd and
    4th fastest: one outlier on either side does not widen the range.
    """

    off: float
    on: float
    ratio: float  # on / off
    off_q1: float
    off_q3: float
    on_q1: float
    on_q3: float
    runs: int

    @classmethod
    def from_samples(cls, off: list[float], on: list[float]) -> Cost:
        """Summarise timed runs (seconds): the worker that timed them sends the summary."""

        def quartiles(values: list[float]) -> tuple[float, float, float]:
            if len(values) < 2:
                return values[0], values[0], values[0]
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
            return q1, median, q3

        off_q1, off_median, off_q3 = quartiles(off)
        on_q1, on_median, on_q3 = quartiles(on)
        return cls(
            off=off_median,
            on=on_median,
            ratio=on_median / off_median if off_median > 0 else float("inf"),
            off_q1=off_q1,
            off_q3=off_q3,
            on_q1=on_q1,
            on_q3=on_q3,
            runs=min(len(off), len(on)),
        )

    @property
    def within_noise(self) -> bool:
        """True when the off and on interquartile ranges overlap."""
        return max(self.off_q1, self.on_q1) <= min(self.off_q3, self.on_q3)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "cost") -> Cost:
        """Rebuild one; a field of the wrong type is a :class:`ReportError` naming it."""
        return decode(cls, data, where)


@dataclass(frozen=True)
class Compiled:
    """The runs of one probe through ``torch.compile`` with the mode on (``audit --compile``).

    ``outcome``: ran, alert, error, skipped or timeout (past ``--compile-timeout``:
    the eager result is kept); ``reason`` is ``compile-error``
    when dynamo, AOTAutograd or Inductor raised; ``runs`` and ``distinct``: how
    many runs returned and how many bit patterns they gave; ``same_as_eager``:
    whether the first compiled bits equal the first eager mode-on bits (None when
    either is missing); ``settings``: Inductor's determinism settings during the runs.
    """

    backend: str
    outcome: str
    kernel: str | None = None
    message: str | None = None
    exc_type: str | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    runs: int = 0
    distinct: int | None = None
    digest: str | None = None
    same_as_eager: bool | None = None
    settings: Mapping[str, bool] = field(default_factory=dict)
    seconds: float = 0.0
    restored: tuple[str, ...] = ()

    @property
    def bits_repeat(self) -> bool | None:
        """One bit pattern over at least two runs; None with fewer runs."""
        return self.distinct == 1 if self.runs >= 2 else None

    def patterns(self) -> str | None:
        """``1 of 5``: distinct bit patterns over the compiled runs; None if none returned."""
        return f"{self.distinct} of {self.runs}" if self.distinct is not None else None

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "compiled") -> Compiled:
        """Rebuild one; a field of the wrong type is a :class:`ReportError` naming it."""
        return decode(cls, data, where)


@dataclass(frozen=True)
class DispatchedOp:
    """One aten op a probe dispatched under the recording mode (:mod:`detaudit.scanner.trace`).

    Calls alike (the same op, pass, parent and argument features) are one record:
    ``calls`` counts them. ``op``: ``aten::put_.default``; ``parent``: the forward op
    whose backward dispatched it (None in the forward pass); ``features``: each
    argument's value and each tensor's ``.ndim``, ``.dtype`` and ``.layout``
    (:func:`detaudit.scanner.trace.all_features`: scalars, strings, None or lists
    of them); ``tensor_inputs``: it took a tensor; ``warnings``: what it warned;
    ``produced``: it made (part of) the probe's result.
    """

    op: str
    pass_: str = field(metadata=meta(key="pass"))  # "forward" or "backward"
    parent: str | None = None
    features: Mapping[str, Any] = field(default_factory=dict)
    tensor_inputs: bool = False
    warnings: tuple[str, ...] = ()
    calls: int = 1
    produced: bool = False


@dataclass(frozen=True)
class OpInfoAlert:
    """One kind of alert an OpInfo op's samples gave (:mod:`detaudit.docs.opinfo`).

    ``pass_`` is ``forward`` or ``backward``, ``status`` ``raises`` or ``warns`` (strict
    mode); ``kernel`` the alert's name; ``count`` how many samples gave it, the first
    being ``first_sample`` (``sample``: as OpInfo summarises it); ``message`` the alert's.
    """

    pass_: str = field(metadata=meta(key="pass"))
    status: str
    kernel: str
    count: int
    first_sample: int
    sample: str = ""
    message: str = ""
