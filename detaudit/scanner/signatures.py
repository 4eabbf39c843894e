"""Derive each catalogue entry's aten signature from what its probe dispatches.

A probe worker runs every probe on CPU under a recording dispatch mode
(:mod:`detaudit.scanner.trace`); the records are cached per torch version,
detaudit version and probe source. :func:`derive` (pure) turns them into one
:class:`Signature` per entry:

1. candidates: the ops the probe dispatched in the entry's pass that take a
   tensor, leaving out the ubiquitous ones (dispatched by the probes of
   :data:`UBIQUITOUS` or more probe modules: randn_like, mul, sum, detach...);
2. the candidates whose name contains the api's (``AdaptiveAvgPool2d`` ->
   ``_adaptive_avg_pool2d_backward``); failing that, the candidates that
   produced the probe's result (``interpolate`` -> ``upsample_bilinear2d_backward``);
3. where several entries share an op in the same pass (siblings), the
   argument features that differ between their probes become conditions
   (``accumulate``, ``reduce``, ``input.ndim``, ``transposed``).

An entry's ``match`` field, where present, replaces step 2 (``ops``) or
step 3 (``aten``): the README lists which entries rely on it. ``ops: []``
gives an entry no signature (a composite whose ops are everyone's).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..atomic import write_text_atomic
from ..catalog import Catalog, Condition, Entry
from ..errors import ReportError
from ..model.codec import decode, encode, meta
from ..model.observation import DispatchedOp
from ..probepath import ProbeNotFound, locate

__all__ = [
    "UBIQUITOUS",
    "OpMatch",
    "ProbeTrace",
    "Signature",
    "cache_dir",
    "derive",
    "load_signatures",
    "op_key",
    "trace_probes",
]

#: An op dispatched by the probes of this many probe modules or more is ubiquitous.
UBIQUITOUS = 3
_FEATURE_PARTS = (".ndim", ".dtype", ".layout")
_MISSING = "<absent>"


def op_key(op: str) -> str:
    """The key that in-place and out= variants share: ``aten::put_.default`` -> ``aten::put.default``.

    ``index_add_`` runs the kernel that ``index_add`` runs, so both match one
    entry; an ``out`` overload maps to ``default`` and ``X_out`` to ``X``.
    """
    name, _, overload = op.partition(".")
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    if overload == "out":
        overload = "default"
    elif overload.endswith("_out"):
        overload = overload[: -len("_out")]
    return f"{name}.{overload or 'default'}"


def _stem(text: str) -> str:
    """Lowercase letters and digits only: ``torch.nn.AdaptiveAvgPool2d`` -> ``adaptiveavgpool2d``."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _api_stem(api: str) -> str:
    return _stem(api.rpartition(".")[2])


def _op_stem(op: str) -> str:
    return _stem(op.partition("::")[2].partition(".")[0])


@dataclass(frozen=True, slots=True)
class OpMatch:
    """One aten op of a signature, with the argument conditions that select the entry."""

    op: str  # op_key form
    conditions: tuple[tuple[str, Condition], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "conditions": {k: c.to_data() for k, c in self.conditions}}


@dataclass(frozen=True, slots=True)
class Signature:
    """How the dynamic scan recognises one entry; ``ops`` empty means it cannot."""

    entry: str
    pass_: str
    ops: tuple[OpMatch, ...] = ()
    parents: tuple[str, ...] = ()  # forward ops whose backward dispatched ``ops``
    ops_from: str = ""  # "named like the api", "produces the probe's result", "catalogue"
    conditions_from: str = ""  # "", "sibling probes", "catalogue"
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "pass": self.pass_,
            "ops": [o.to_dict() for o in self.ops],
            "parents": list(self.parents),
            "ops_from": self.ops_from,
            "conditions_from": self.conditions_from,
            "problem": self.problem,
        }


@dataclass(frozen=True, slots=True)
class ProbeTrace:
    """One probe's trace: the aten ops it dispatched (``records``), or why it has none.

    A probe that did not run says why: it skipped, failed (``error``), or its worker
    died (``crashed``) or hung (``timeout``). Cached as the codec writes it:
    ``{"records": [...]}`` or ``{"skip": "..."}``.
    """

    records: tuple[DispatchedOp, ...] | None = field(default=None, metadata=meta(omit="none"))
    skip: str | None = field(default=None, metadata=meta(omit="none"))
    error: str | None = field(default=None, metadata=meta(omit="none"))
    crashed: str | None = field(default=None, metadata=meta(omit="none"))
    timeout: str | None = field(default=None, metadata=meta(omit="none"))

    @property
    def why(self) -> str:
        """Why the probe has no records; empty when nothing says (or it has them)."""
        reasons = (self.skip, self.error, self.crashed, self.timeout)
        return next((w for w in reasons if w is not None), "")


# ---------------------------------------------------------------------------- derivation

_NO_TRACE = ProbeTrace()


def _module_of(entry: Entry) -> str:
    return f"{entry.probe_path or ''}|{entry.probe.partition(':')[0]}"


def _structural(key: str, value: object) -> bool:
    """Features that may tell siblings apart: flags, modes, None-ness, tensor rank/dtype/layout."""
    if key.endswith(_FEATURE_PARTS):
        return True
    return value is None or isinstance(value, (bool, str))


def _chosen(
    entry: Entry, records: tuple[DispatchedOp, ...], ubiquitous: set[str]
) -> tuple[list[DispatchedOp], str]:
    """(records of the entry's characteristic ops, how they were found)."""
    candidates = [
        r
        for r in records
        if r.pass_ == entry.pass_ and r.tensor_inputs and op_key(r.op) not in ubiquitous
    ]
    stem = _api_stem(entry.api)
    named = [r for r in candidates if stem and stem in _op_stem(r.op)]
    if named:
        return named, "named like the api"
    produced = [r for r in candidates if r.produced]
    if produced:
        return produced, "produces the probe's result"
    return [], ""


def derive(catalog: Catalog, traces: Mapping[str, ProbeTrace]) -> dict[str, Signature]:
    """Signatures for every entry of ``catalog`` from its probe's trace (pure).

    ``traces`` maps an entry id to its probe's trace; an entry without one has no
    signature (``probe did not run: no trace``) unless the catalogue pins its ops.
    """
    modules: dict[str, set[str]] = {}
    for entry in catalog:
        for record in traces.get(entry.id, _NO_TRACE).records or ():
            modules.setdefault(op_key(record.op), set()).add(_module_of(entry))
    ubiquitous = {op for op, mods in modules.items() if len(mods) >= UBIQUITOUS}

    chosen: dict[str, list[DispatchedOp]] = {}
    signatures: dict[str, Signature] = {}
    for entry in catalog:
        trace = traces.get(entry.id, _NO_TRACE)
        if entry.match is not None and entry.match.no_ops:
            signatures[entry.id] = Signature(
                entry.id, entry.pass_, problem="no aten op of its own (the catalogue's ops: [])"
            )
            continue
        if entry.silent:  # never alerts (PyTorch's tests): no call of it is a finding
            signatures[entry.id] = Signature(
                entry.id, entry.pass_, problem="silent: PyTorch's tests assert it never alerts"
            )
            continue
        pinned = entry.match.ops if entry.match is not None else ()
        if trace.records is None and not pinned:
            signatures[entry.id] = Signature(
                entry.id, entry.pass_, problem=f"probe did not run: {trace.why or 'no trace'}"
            )
            continue
        records = trace.records or ()
        if pinned:
            keys = [op_key(o) for o in pinned]
            picked = [r for r in records if op_key(r.op) in keys]
            how = "catalogue"
        else:
            picked, how = _chosen(entry, records, ubiquitous)
            keys = list(dict.fromkeys(op_key(r.op) for r in picked))
        if not keys:
            signatures[entry.id] = Signature(
                entry.id, entry.pass_, problem="no op of its own among what the probe dispatched"
            )
            continue
        chosen[entry.id] = picked
        parents = sorted({op_key(r.parent) for r in picked if r.parent})
        signatures[entry.id] = Signature(
            entry.id,
            entry.pass_,
            ops=tuple(OpMatch(k) for k in keys),
            parents=tuple(parents),
            ops_from=how,
        )
    return _with_conditions(catalog, signatures, chosen)


def _features_of(records: list[DispatchedOp], key: str) -> dict[str, object]:
    for record in records:
        if op_key(record.op) == key:
            return dict(record.features)
    return {}


def _with_conditions(
    catalog: Catalog, signatures: dict[str, Signature], chosen: dict[str, list[DispatchedOp]]
) -> dict[str, Signature]:
    """Add the argument conditions: the catalogue's, else what tells sibling probes apart."""
    sharing: dict[tuple[str, str], list[str]] = {}
    for sig in signatures.values():
        for op in sig.ops:
            sharing.setdefault((op.op, sig.pass_), []).append(sig.entry)

    result: dict[str, Signature] = {}
    for entry in catalog:
        sig = signatures[entry.id]
        if not sig.ops:
            result[entry.id] = sig
            continue
        given = entry.match.aten if entry.match is not None else ()
        ops, derived = [], False
        for op in sig.ops:
            if given:
                ops.append(OpMatch(op.op, given))
                continue
            siblings = sharing[(op.op, sig.pass_)]
            conditions: tuple[tuple[str, Condition], ...] = ()
            if len(siblings) > 1:
                features = {s: _features_of(chosen.get(s, []), op.op) for s in siblings}
                mine = features[entry.id]
                keys = sorted({k for f in features.values() for k in f})
                differing = [
                    k
                    for k in keys
                    if len({json.dumps(f.get(k, _MISSING)) for f in features.values()}) > 1
                    and all(_structural(k, f.get(k)) for f in features.values() if k in f)
                ]
                conditions = tuple(
                    (k, Condition(values=(mine[k],))) for k in differing if k in mine
                )
                derived = derived or bool(conditions)
            ops.append(OpMatch(op.op, conditions))
        source = "catalogue" if given else ("sibling probes" if derived else "")
        result[entry.id] = Signature(
            sig.entry,
            sig.pass_,
            ops=tuple(ops),
            parents=sig.parents,
            ops_from=sig.ops_from,
            conditions_from=source,
        )
    return result


# ---------------------------------------------------------------------------- traces and cache


def _probe_source(entry: Entry) -> str:
    """A digest of the probe module's source (empty when it cannot be found)."""
    try:
        # The file the worker loads (detaudit.probepath is the one resolver).
        origin = locate(entry.probe, entry.probe_path).file
        return hashlib.sha256(Path(origin).read_bytes()).hexdigest()
    except (ProbeNotFound, ValueError, OSError):
        return ""


def cache_dir() -> Path:
    """``$DETAUDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/detaudit``, else ``~/.cache/detaudit``."""
    if os.environ.get("DETAUDIT_CACHE_DIR"):
        return Path(os.environ["DETAUDIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "detaudit"


def _cache_key(catalog: Catalog, torch_version: str) -> str:
    facts = [torch_version, __version__]
    facts += [[e.id, e.probe, e.args_dict(), e.probe_path, _probe_source(e)] for e in catalog]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:20]


def trace_probes(
    catalog: Catalog, *, python: str | None = None, timeout: float = 60.0
) -> dict[str, ProbeTrace]:
    """Run every distinct probe once in a worker under the recording mode; answers by entry id."""
    from ..runner.pool import WorkerPool
    from ..runner.protocol import Lost, TraceAnswer, TraceRequest

    # One trace per distinct call: the same function with other args is another probe.
    by_probe: dict[tuple[str, str | None, str], list[str]] = {}
    for entry in catalog:
        key = (entry.probe, entry.probe_path, json.dumps(entry.args_dict(), sort_keys=True))
        by_probe.setdefault(key, []).append(entry.id)
    tasks = {
        ids[0]: TraceRequest(
            id=ids[0], probe=probe, probe_path=path, seed=0, probe_args=json.loads(args) or None
        )
        for (probe, path, args), ids in by_probe.items()
    }
    task_key = {ids[0]: key for key, ids in by_probe.items()}
    answers: dict[str, ProbeTrace] = {}
    with WorkerPool(1, python=python, timeout=timeout) as pool:
        pool.wait_ready()
        for answer in pool.ask_all(tasks.values()):
            if isinstance(answer, TraceAnswer):
                trace = ProbeTrace(records=answer.records, skip=answer.skip, error=answer.error)
            elif isinstance(answer, Lost):
                lost = answer.why
                trace = ProbeTrace(crashed=lost) if answer.crashed else ProbeTrace(timeout=lost)
            else:
                trace = ProbeTrace(error=getattr(answer, "message", "no answer"))
            for entry_id in by_probe[task_key[answer.id]]:
                answers[entry_id] = trace
    return answers


def load_signatures(
    catalog: Catalog, torch_version: str, *, python: str | None = None
) -> dict[str, Signature]:
    """Signatures for ``catalog``: probe traces from the cache, or from a worker (then cached)."""
    path = cache_dir() / f"traces-{_cache_key(catalog, torch_version)}.json"
    try:
        traces = _read_traces(path)
    except (OSError, ValueError, ReportError):
        # A probe that crashed or hung is cached as such too: the key holds the
        # probe's source, so fixing the probe traces it again. A cache file that is
        # not traces (cut short, hand-edited) is traced again too.
        traces = trace_probes(catalog, python=python)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps({k: encode(t) for k, t in traces.items()}))
        except OSError:
            pass  # no cache: the next scan traces again
    return derive(catalog, traces)


def _read_traces(path: Path) -> dict[str, ProbeTrace]:
    """The cached traces by entry id; a :class:`ReportError` names a field of the wrong type."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not an object of traces")
    return {entry: decode(ProbeTrace, trace, entry) for entry, trace in data.items()}
