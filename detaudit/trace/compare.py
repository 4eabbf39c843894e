"""Compare two traces: align their ops, find the first divergence, and name its cause (pure).

Ops are aligned by sequence number while both runs run the same op at the same
place; the first op whose line differs is the divergence, classified by what
differs first:

- the op or its location: ``paths`` (control flow parted);
- the state of the generator a random op draws from: ``rng``;
- an input no earlier op produced (both runs agree on every earlier output):
  ``inputs`` (from outside torch: data, numpy, Python values), or, when
  compiled code ran, the output of a compiled region the recorder cannot see;
- only the outputs: ``kernel`` (a nondeterministic kernel).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..compare.naming import report_title
from .format import Location, Trace

__all__ = ["CAUSE_TEXT", "Cause", "Comparison", "Divergence", "OpView", "compare_traces"]

#: Flags whose difference alone changes results, and how.
EXPLAINING = {
    "num_threads": "the number of threads changes how CPU reductions split their work",
    "cuda.matmul.allow_tf32": "TF32 matmuls round differently",
    "cudnn.allow_tf32": "TF32 convolutions round differently",
    "fp32_precision": "the float32 matmul precision changes the kernels used",
    "cuda.matmul.fp32_precision": "the float32 matmul precision changes the kernels used",
    "cudnn.benchmark": "cuDNN benchmarking picks algorithms by timing",
    "cudnn.deterministic": "cuDNN may use nondeterministic algorithms",
    "use_deterministic_algorithms": "deterministic mode changes which kernels run",
    "torch": "another torch runs other kernels (and may decompose ops differently)",
    "cuda": "another CUDA runs other kernels",
    "cudnn": "another cuDNN runs other kernels",
    "gpu": "another GPU model runs kernels with other launch shapes",
    "cpu": "another CPU may take other vectorised paths",
    "rng_cpu": "the CPU generator draws other numbers from the same seed here",
    "rng_cuda": "the CUDA generator draws other numbers from the same seed here",
    "PYTHONHASHSEED": "the iteration order of sets and dicts of str follows it",
    "OMP_NUM_THREADS": "the number of threads changes how CPU reductions split their work",
    "CUBLAS_WORKSPACE_CONFIG": "cuBLAS may pick nondeterministic reductions without it",
    "NVIDIA_TF32_OVERRIDE": "it overrides the TF32 settings",
}
#: Environment keys that differ from run to run without meaning anything.
_IGNORED = {"started", "command", "python_executable", "torch_path", "hostname"}


class Cause(str, Enum):
    """What made two runs part."""

    INPUTS = "inputs"
    RNG = "rng"
    KERNEL = "kernel"
    COMPILED = "compiled"
    PATHS = "paths"
    PARTIAL = "partial"

    def __str__(self) -> str:
        return self.value


#: One sentence per cause.
CAUSE_TEXT = {
    Cause.INPUTS: "inputs from outside torch differ",
    Cause.RNG: "RNG state differs",
    Cause.KERNEL: "nondeterministic kernel",
    Cause.COMPILED: "nondeterministic kernel in compiled code",
    Cause.PATHS: "different paths",
    Cause.PARTIAL: "one trace is partial",
}


@dataclass(frozen=True, slots=True)
class OpView:
    """One op of one trace, as a comparison shows it."""

    index: int
    op: str
    pass_: str
    location: str
    step: int
    shape: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "index": self.index,
            "op": self.op,
            "pass": self.pass_,
            "location": self.location,
            "step": self.step,
            "shape": self.shape,
        }


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first op where two runs differ, its cause, and what to do."""

    index: int
    cause: Cause
    op: str
    pass_: str
    location: str
    step: int
    sentence: str
    details: tuple[str, ...]
    fix: str
    catalogued: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "index": self.index,
            "cause": self.cause.value,
            "cause_text": CAUSE_TEXT[self.cause],
            "op": self.op,
            "pass": self.pass_,
            "location": self.location,
            "step": self.step,
            "sentence": self.sentence,
            "details": list(self.details),
            "fix": self.fix,
            "catalogued": list(self.catalogued),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two traces compared: identical, or the first divergence, its spread, the environment diff."""

    a: str
    b: str
    ops_a: int
    ops_b: int
    complete_a: bool
    complete_b: bool
    divergence: Divergence | None
    #: (name, value in A, value in B, why it matters or "")
    environment: tuple[tuple[str, Any, Any, str], ...] = ()
    #: (step, ops that differ from the divergence on, ops in that step)
    spread: tuple[tuple[int, int, int], ...] = ()
    #: the aligned ops around the divergence: (view in A or None, view in B or None, same?)
    context: tuple[tuple[OpView | None, OpView | None, bool], ...] = ()
    #: --rerun's findings: (run, op, pass, location) of ops whose second run gave other bits
    rerun: tuple[tuple[str, str, str, str], ...] = field(default_factory=tuple)
    #: how the ops were aligned: ``sequence`` (op by op), or ``location`` (by user line, when
    #: the op sequences differ under the same lines: another torch's decompositions)
    aligned_by: str = "sequence"

    @property
    def identical(self) -> bool:
        """True when every op of both runs matched bit for bit."""
        return self.divergence is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``docs/reference/trace-format.md`` documents it)."""
        return {
            "schema": "detaudit.compare/1",
            "a": {"trace": self.a, "ops": self.ops_a, "complete": self.complete_a},
            "b": {"trace": self.b, "ops": self.ops_b, "complete": self.complete_b},
            "identical": self.identical,
            "aligned_by": self.aligned_by,
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "environment": [
                {"name": n, "a": va, "b": vb, "explains": why}
                for n, va, vb, why in self.environment
            ],
            "spread": [{"step": s, "differ": d, "ops": n} for s, d, n in self.spread],
            "context": [
                {
                    "a": va.to_dict() if va else None,
                    "b": vb.to_dict() if vb else None,
                    "same": same,
                }
                for va, vb, same in self.context
            ],
            "rerun": [
                {"run": r, "op": o, "pass": p, "location": loc} for r, o, p, loc in self.rerun
            ],
        }


_PASS = {"f": "forward", "b": "backward", "r": "recomputed forward"}


def _where(trace: Trace, record: dict[str, Any]) -> str:
    loc = record.get("loc")
    location = trace.locations.get(loc) if loc is not None else None
    return location.text() if isinstance(location, Location) else "(no user frame)"


def _view(trace: Trace, index: int) -> OpView | None:
    if index >= len(trace.lines):
        return None
    record = trace.op(index)
    return OpView(
        index,
        record["op"],
        _PASS.get(record["p"], record["p"]),
        _where(trace, record),
        trace.step_of(index),
        record.get("t", ""),
    )


def _out_part(line: str) -> str:
    start = line.find('"out":')
    return line[start : line.find("]", start) + 1]


def _flags(trace: Trace) -> dict[str, Any]:
    flags = dict(trace.header.get("flags", {}))
    if trace.footer and "flags" in trace.footer:
        flags.update(trace.footer["flags"])  # the program sets its flags as it runs
    return flags


def _environment_diff(a: Trace, b: Trace) -> tuple[tuple[str, Any, Any, str], ...]:
    rows = []
    for section in ("environment", "variables"):
        ea, eb = a.header.get(section, {}), b.header.get(section, {})
        for name in sorted(ea.keys() | eb.keys()):
            if name not in _IGNORED and ea.get(name) != eb.get(name):
                rows.append((name, ea.get(name), eb.get(name), EXPLAINING.get(name, "")))
    fa, fb = _flags(a), _flags(b)
    for name in sorted(fa.keys() | fb.keys()):
        if fa.get(name) != fb.get(name):
            rows.append((name, fa.get(name), fb.get(name), EXPLAINING.get(name, "")))
    return tuple(rows)


def _deterministic(trace: Trace) -> bool:
    value = _flags(trace).get("use_deterministic_algorithms")
    return bool(value[0] if isinstance(value, list) else value)


def _catalogued(
    op: str,
    pass_: str,
    device: str,
    torch_version: str,
    catalog: Any,
    reports: Sequence[Any] = (),
    matched: Sequence[str] | None = None,
) -> list[str]:
    """The catalogue entries of this op call, with their claim here.

    ``matched``: the entries the recorder named for the call (the scan's signatures and
    their conditions on the arguments, the op line's ``cat``); without them (a trace
    recorded with ``--no-catalog-match``), the entries whose API is named like the op.
    Each audit report given (``compare --report``) adds what its deterministic mode did to
    the entry on this device: an observation of that machine, beside the docs' claim.
    """
    if catalog is None:
        return []
    base = op.split("::")[-1].split(".")[0].rstrip("_")
    found = []
    for entry in catalog:
        if matched is not None:
            if entry.id not in matched:
                continue
        elif (
            entry.api.split(".")[-1].rstrip("_") != base
            or entry.pass_.value != _PASS.get(pass_, pass_)
        ):
            continue
        claim, _ = entry.claim_for(torch_version)
        devices = [str(d) for d in entry.devices]
        here = "" if device in devices else f" (on {', '.join(devices)}, not {device})"
        observed = [_observed(report, entry.id, device) for report in reports]
        found.append(
            f"{entry.id}: {entry.api} {entry.condition}: deterministic mode "
            f"{claim.value if claim else 'unknown'}{here} (docs claim)"
            + "".join(f"; {o}" for o in observed)
        )
    return found


def _observed(report: Any, entry_id: str, device: str) -> str:
    """What one audit report observed for an entry on a device, or that it has no result."""
    for result in report.results:
        if result.id == entry_id and result.device == device:
            kernel = f" ({result.kernel})" if result.kernel else ""
            return f"observed on {report_title(report)}: {result.status.value}{kernel}"
    return f"not in the report of {report_title(report)} for {device}"


def _classify(
    a: Trace, b: Trace, index: int, catalog: Any, reports: Sequence[Any] = ()
) -> Divergence:
    """The cause of the divergence at ``index`` (both traces have an op there)."""
    ra, rb = a.op(index), b.op(index)
    where_a, where_b = _where(a, ra), _where(b, rb)
    pass_ = _PASS.get(ra["p"], ra["p"])
    step = a.step_of(index)
    head = f"op #{index} {ra['op']} ({pass_}) at {where_a}, step {step}"
    if ra["op"] != rb["op"] or where_a != where_b or ra["p"] != rb["p"]:
        sentence = (
            f"The runs part at op #{index} (step {step}): run A runs {ra['op']} at {where_a}, "
            f"run B runs {rb['op']} at {where_b}: different paths."
        )
        details = ["control flow depends on something that differs between the runs"]
        earlier = _last_python_value(a, index)
        if earlier:
            details.append(earlier)
        return Divergence(
            index,
            Cause.PATHS,
            ra["op"],
            pass_,
            where_a,
            step,
            sentence,
            tuple(details),
            "find what the branch at that line reads (a .item(), a set's order, the time, "
            "the file system) and make it the same in both runs",
        )
    if ra.get("dl"):
        return _loader(ra, rb, index, head, where_a, pass_, step)
    if ra.get("rng") != rb.get("rng"):
        sentence = (
            f"First divergence: {head}: RNG state differs (the generator it draws from is in "
            "another state: not seeded, seeded differently, or consumed differently earlier)."
        )
        return Divergence(
            index,
            Cause.RNG,
            ra["op"],
            pass_,
            where_a,
            step,
            sentence,
            (),
            "seed every generator before the run: detaudit.seed_everything(seed) (or "
            "torch.manual_seed(seed)), and manual_seed each explicit torch.Generator",
        )
    if ra.get("in") != rb.get("in") or ra.get("sc") != rb.get("sc"):
        return _inputs(a, b, index, ra, rb, head, where_a, pass_, step)
    device = ra.get("dev", "cpu")
    torch_version = a.header.get("environment", {}).get("torch", "")
    entries = _catalogued(
        ra["op"],
        ra["p"],
        device.split(":")[0],
        torch_version,
        catalog,
        reports,
        ra.get("cat", ()) if a.header.get("catalog_match") else None,
    )
    modes = (
        f"deterministic mode was {'on' if _deterministic(a) else 'off'} in run A and "
        f"{'on' if _deterministic(b) else 'off'} in run B"
    )
    if entries:
        details = ["in the catalogue: " + e for e in entries]
        fix = (
            "run under deterministic mode (detaudit.deterministic() or "
            "torch.use_deterministic_algorithms(True)); see the catalogue entry for what it "
            "does to this op here"
        )
    else:
        silent = (
            f"not in the catalogue: {ra['op']} is silent (no alert exists for it, so "
            "deterministic mode neither raises nor warns; e.g. a third-party kernel)"
        )
        details = [silent]
        fix = (
            "replace the op or its kernel with a deterministic one; deterministic mode "
            "cannot catch it (detaudit record --rerun names such ops in a single run)"
        )
    details.append(modes)
    sentence = (
        f"First divergence: {head}: nondeterministic kernel (same inputs, different outputs)."
    )
    return Divergence(
        index,
        Cause.KERNEL,
        ra["op"],
        pass_,
        where_a,
        step,
        sentence,
        tuple(details),
        fix,
        tuple(entries),
    )


def _loader(
    ra: dict, rb: dict, index: int, head: str, where: str, pass_: str, step: int
) -> Divergence:
    """The divergence is inside a DataLoader making a batch: the data differs."""
    how = (
        "its sampler draws the order from a generator in another state"
        if ra.get("rng") != rb.get("rng")
        else "the samples it reads differ"
    )
    sentence = (
        f"First divergence: {head}, while a DataLoader made a batch: inputs "
        f"from outside torch differ (the data loading: {how})."
    )
    details = (
        f"the DataLoader: {ra['dl']}",
        f"the op: {ra['op']}, inside the DataLoader's iteration at {where}",
    )
    fix = (
        "give the DataLoader a seeded generator and seed its workers: DataLoader(..., "
        "generator=detaudit.dataloader_generator(seed), worker_init_fn=detaudit.seed_worker)"
    )
    return Divergence(index, Cause.INPUTS, ra["op"], pass_, where, step, sentence, details, fix)


def _last_python_value(trace: Trace, index: int) -> str:
    """The last op before ``index`` that returned a Python value (``.item()``), if any."""
    for j in range(index - 1, max(-1, index - 200), -1):
        record = trace.op(j)
        if "so" in record:
            return f"the last value read into Python before it: {record['op']} at {_where(trace, record)}"
    return ""


def _inputs(
    a: Trace,
    b: Trace,
    index: int,
    ra: dict,
    rb: dict,
    head: str,
    where: str,
    pass_: str,
    step: int,
) -> Divergence:
    ins_a, ins_b = ra.get("in", []), rb.get("in", [])
    differ = [j for j, (x, y) in enumerate(zip(ins_a, ins_b)) if x != y]
    details = []
    if differ:
        details.append(
            ("tensor inputs " if len(differ) > 1 else "tensor input ")
            + ", ".join(f"#{j}" for j in differ)
            + (" differ" if len(differ) > 1 else " differs")
            + ", and no earlier op produced them: this is their first use"
        )
    if ra.get("sc") != rb.get("sc"):
        details.append("a Python value passed to the op differs (an index, a size, a scalar)")
    va = a.header.get("variables", {}).get("PYTHONHASHSEED")
    vb = b.header.get("variables", {}).get("PYTHONHASHSEED")
    loader = ra.get("dl")
    compiled = max((t.footer or {}).get("compiled_frames", 0) for t in (a, b))
    if compiled and differ and not loader and ra.get("sc") == rb.get("sc"):
        sentence = (
            f"First divergence: {head}: its input differs though no recorded op's output did; "
            f"compiled code (torch.compile, {compiled} frame(s)) ran before it, and the recorder "
            "cannot see inside compiled regions: this is the first op after one, so the likely "
            "cause is a nondeterministic kernel in compiled code."
        )
        details.append("the input was made by code the recorder does not see (a compiled region)")
        fix = (
            "run the compiled region eagerly (torch.compiler.disable or TORCH_COMPILE_DISABLE=1) "
            "and record again to name its op; set torch.use_deterministic_algorithms(True) "
            "before compiling (it sets torch._inductor.config.deterministic)"
        )
        return Divergence(
            index, Cause.COMPILED, ra["op"], pass_, where, step, sentence, tuple(details), fix
        )
    if va != vb:
        details.append(
            f"PYTHONHASHSEED differs ({va} in run A, {vb} in run B): the iteration order of a "
            "set or dict of str follows it, the likely reason"
        )
        fix = (
            "export PYTHONHASHSEED=0 before Python starts, or sort what comes out of the set "
            "(sorted(set(words)))"
        )
    elif loader:
        details.append(f"made while a DataLoader assembled a batch ({loader})")
        fix = (
            "give the DataLoader a seeded generator: DataLoader(..., "
            "generator=detaudit.dataloader_generator(seed), worker_init_fn=detaudit.seed_worker)"
        )
    else:
        if va is None:
            details.append(
                "PYTHONHASHSEED is not set: if the program builds data from a set or dict of "
                "str, its order changes each run"
            )
        fix = (
            "make what the program reads the same in both runs: seed numpy and random "
            "(detaudit.seed_everything), sort file lists and sets, export PYTHONHASHSEED=0"
        )
    sentence = (
        f"First divergence: {head}: inputs from outside torch differ (no earlier op's outputs did)."
    )
    return Divergence(
        index, Cause.INPUTS, ra["op"], pass_, where, step, sentence, tuple(details), fix
    )


def _partial(a: Trace, b: Trace, index: int) -> Divergence:
    short = a if len(a.lines) == index else b
    name = "A" if short is a else "B"
    reason = (short.footer or {}).get("reason")
    if short.complete:
        sentence = (
            f"Run {name} ended after {index} ops and the other ran more: different paths "
            f"(every op up to there matched)."
        )
        cause = Cause.PATHS
        fix = "find what decides how long the program runs (a loop over a set, data sizes)"
    else:
        sentence = (
            f"Run {name}'s trace is partial ({reason or 'no footer: crashed or interrupted'}) "
            f"after {index} ops; every op up to there matched."
        )
        cause = Cause.PARTIAL
        fix = "record the run again to its end"
    other = b if short is a else a
    view = _view(other, index)
    step = view.step if view else short.step_of(index)
    return Divergence(
        index,
        cause,
        view.op if view else "",
        view.pass_ if view else "",
        view.location if view else "",
        step,
        sentence,
        (),
        fix,
    )


def _rerun(trace: Trace, name: str) -> list[tuple[str, str, str, str]]:
    found = []
    for line in trace.lines:
        if '"rr":1' in line:
            record = json.loads(line)
            found.append((name, record["op"], _PASS[record["p"]], _where(trace, record)))
    return found


def _torch(trace: Trace) -> str | None:
    value = trace.header.get("environment", {}).get("torch")
    return str(value) if value is not None else None


def _user_line(trace: Trace, record: dict[str, Any]) -> str:
    """The user's own line of an op: ``via`` for library code, else its location."""
    loc = record.get("loc")
    location = trace.locations.get(loc) if loc is not None else None
    if not isinstance(location, Location):
        return "(no user frame)"
    return f"{location.via[0]}:{location.via[1]}" if location.via else location.text()


@dataclass(frozen=True, slots=True)
class _Segment:
    """The consecutive ops of one trace that ran for one user line, in one pass and step."""

    key: tuple[str, str, int]  # (user line, pass, step)
    first: int  # index of its first op
    last: int  # index of its last op
    #: the fingerprints of what the line produced: its outputs that other lines read later,
    #: in order (the last op's outputs when no other line reads any)
    results: tuple[Any, ...]


def _segments(trace: Trace) -> list[_Segment]:
    """``trace``'s ops grouped by user line; each group's results (what flows out of it)."""
    records = [trace.op(i) for i in range(len(trace.lines))]
    keys = [
        (_user_line(trace, r), str(r.get("p")), trace.step_of(i)) for i, r in enumerate(records)
    ]
    bounds: list[tuple[int, int]] = []
    for i, key in enumerate(keys):
        if bounds and keys[bounds[-1][0]] == key:
            bounds[-1] = (bounds[-1][0], i)
        else:
            bounds.append((i, i))
    # walking backwards: which user lines read each fingerprint later on (what a line saves
    # for its own backward, a detach say, is not a result: another torch may save other things)
    readers: dict[Any, set[str]] = {}
    segments: list[_Segment] = []
    for start, end in reversed(bounds):
        line = keys[start][0]
        produced = [f for r in records[start : end + 1] for f in r.get("out", ())]
        flowing = tuple(f for f in produced if readers.get(f, set()) - {line})
        results = flowing or tuple(records[end].get("out", ()))
        segments.append(_Segment(keys[start], start, end, results))
        for r in records[start : end + 1]:
            for f in r.get("in", ()):
                readers.setdefault(f, set()).add(line)
    segments.reverse()
    return segments


def _by_location(a: Trace, b: Trace, catalog: Any, reports: Sequence[Any]) -> Divergence | None:
    """Align by user line; the first line whose results differ, or None when every line agrees.

    Only called for traces of two torch versions whose op sequences part; raises
    LookupError when the user lines themselves differ (then the paths really part).
    """
    sa, sb = _segments(a), _segments(b)
    if [s.key for s in sa] != [s.key for s in sb]:
        raise LookupError("the user lines differ")
    for x, y in zip(sa, sb):
        if x.results == y.results:
            continue
        # the op that made the first differing result, in each run
        index = x.last
        ra, rb = a.op(x.last), b.op(y.last)
        line, pass_code, step = x.key
        pass_ = _PASS.get(pass_code, pass_code)
        torch_a, torch_b = _torch(a), _torch(b)
        aligned = (
            f"aligned by user line: under the same lines the runs ran other ops (run A "
            f"{x.last - x.first + 1} ops ending in {ra['op']}, run B {y.last - y.first + 1} ops "
            f"ending in {rb['op']} here), as another torch's decompositions do"
        )
        details = [aligned]
        details.append(
            f"torch differs ({torch_a} -> {torch_b}): other kernels and decompositions may "
            "round differently, so different bits across versions need not mean "
            "nondeterminism"
        )
        entries = _catalogued(
            ra["op"],
            ra["p"],
            str(ra.get("dev", "cpu")).split(":")[0],
            str(torch_a or ""),
            catalog,
            reports,
            ra.get("cat", ()) if a.header.get("catalog_match") else None,
        )
        details.extend("in the catalogue: " + e for e in entries)
        sentence = (
            f"First divergence (aligned by user line, the op sequences differ): the result of "
            f"{line} ({pass_}, step {step}) differs: run A's op #{x.last} {ra['op']}, run B's "
            f"op #{y.last} {rb['op']}."
        )
        return Divergence(
            index,
            Cause.KERNEL,
            ra["op"],
            pass_,
            line,
            step,
            sentence,
            tuple(details),
            "run each version twice (detaudit twice) to tell a nondeterministic kernel from "
            "a version's other rounding; if each is repeatable, the difference is the version's",
            tuple(entries),
        )
    return None


def compare_traces(
    a: Trace,
    b: Trace,
    *,
    catalog: Any = None,
    reports: Sequence[Any] = (),
    context: int = 6,
) -> Comparison:
    """Compare two loaded traces (pure: no file is read).

    ``catalog`` names catalogued ops; ``reports`` (loaded audit reports) add what each
    machine's deterministic mode did to them.
    """
    la, lb = a.lines, b.lines
    n = min(len(la), len(lb))
    index = next((i for i in range(n) if la[i] != lb[i]), n)
    divergence: Divergence | None = None
    aligned_by = "sequence"
    if index == n and len(la) != len(lb):
        divergence = _partial(a, b, index)
    elif index < n:
        divergence = _classify(a, b, index, catalog, reports)
    if (
        divergence is not None
        and divergence.cause is Cause.PATHS
        and a.complete
        and b.complete
        and _torch(a) != _torch(b)
    ):
        # two torch versions, and the ops part: if the user's lines do not, the ops under a
        # line differ by decomposition, so compare what each line produced. (With one torch,
        # other ops under one line are control flow in that line: different paths.)
        try:
            divergence = _by_location(a, b, catalog, reports)
        except LookupError:
            pass  # the user lines part too: the paths do
        else:
            aligned_by = "location"
    spread: list[tuple[int, int, int]] = []
    if divergence is not None and aligned_by == "sequence":  # op counts mean nothing else
        per_step: dict[int, list[int]] = {}
        marks = a.steps if len(la) >= len(lb) else b.steps
        mark = next((k for k, at in enumerate(marks) if at > index), len(marks))
        step, boundary = mark + 1, marks[mark] if mark < len(marks) else None
        counts = per_step.setdefault(step, [0, 0])
        for i in range(index, max(len(la), len(lb))):
            while boundary is not None and i >= boundary:
                mark += 1
                step, boundary = mark + 1, marks[mark] if mark < len(marks) else None
                counts = per_step.setdefault(step, [0, 0])
            counts[1] += 1
            if i >= n:
                counts[0] += 1
            else:
                x, y = la[i], lb[i]
                if x != y and _out_part(x) != _out_part(y):
                    counts[0] += 1
        spread = [(s, c[0], c[1]) for s, c in sorted(per_step.items())]
    window = []
    if divergence is not None and aligned_by == "sequence":
        for i in range(max(0, index - context), index + context + 1):
            va, vb = _view(a, i), _view(b, i)
            if va is None and vb is None:
                continue
            same = i < n and la[i] == lb[i]
            window.append((va, vb, same))
    return Comparison(
        a.path,
        b.path,
        len(la),
        len(lb),
        a.complete,
        b.complete,
        divergence,
        _environment_diff(a, b),
        tuple(spread),
        tuple(window),
        tuple(_rerun(a, "A") + _rerun(b, "B")),
        aligned_by,
    )
