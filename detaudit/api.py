"""The audit as a Python API: catalogue -> plan -> workers -> classify -> Report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ._version import __version__
from .catalog import Catalog, load_catalog
from .errors import WorkerError
from .model.report import ProbeResult, Report
from .options import COMPILE_TIMEOUT, DEFAULT_REPEAT, AuditOptions
from .runner.classify import classify
from .runner.compilecache import compile_cache
from .runner.pool import WorkerPool
from .runner.protocol import (
    EnvironmentAnswer,
    EnvironmentRequest,
    Lost,
    Refused,
    RunAnswer,
    RunRequest,
    encode,
)
from .runner.spec import Planned, plan, resolve_devices

__all__ = ["COMPILE_TIMEOUT", "DEFAULT_REPEAT", "AuditOptions", "audit"]

Progress = Callable[[ProbeResult, int, int], None]

#: The shared pool's lane for slow-to-start entries (``slow_start`` in the catalogue).
SLOW_LANE = "slow-start"

#: Seconds the environment fingerprint may take (it may query nvidia-smi).
FINGERPRINT_TIMEOUT = 120.0


def audit(
    options: AuditOptions | None = None,
    *,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
    **given: Any,
) -> Report:
    """Run every catalogued op on every requested device under deterministic mode.

    ``options`` (an :class:`~detaudit.options.AuditOptions`), or its fields as
    keywords (``audit(device="cpu", only=["index-add"])``), say what to run.
    Every status comes from running the probe in a worker process; this
    process never imports torch, so its own torch flags are untouched.
    ``catalog``, a loaded catalogue, replaces ``options.catalogs``;
    ``progress(result, done, total)`` is called as each result arrives.
    ``cost=K`` also times each entry that runs under deterministic mode, K
    runs with the mode off and K with it on (``ProbeResult.cost``).
    ``compile=BACKEND`` also runs each probe through ``torch.compile``
    (``ProbeResult.compiled``), with Inductor's determinism settings on if
    ``compile_deterministic``; an entry then may take ``timeout + compile_timeout``
    seconds, and the workers compile into a cache of this audit's, removed after it.
    Compiled runs past ``compile_timeout`` seconds stop: the result keeps its eager
    status and its compiled observation is ``timeout``.
    ``census`` (default on) also reads the audited torch's libraries, beside the
    workers, for its alert names (``detaudit sites``; needs the sites extra) and
    records those no result probed (``Report.census``).
    Entries whose requests are the same but for their id run once per device, and each
    of their results gets those runs (``repeat`` with the mode on and off, as its own would).
    ``jobs`` worker processes share the machine: one is the default, since
    torch's CPU kernels already use every core (two workers made a full CPU
    audit twice as slow on 2 cores, and hid the races of parallel CPU kernels).

    Raises :class:`~detaudit.errors.CatalogError` for a bad catalogue,
    :class:`~detaudit.errors.UsageError` for bad arguments (``option`` names the
    field), :class:`~detaudit.errors.EnvironmentUnsupported` when the machine cannot do
    what was asked and :class:`~detaudit.errors.WorkerError` when no worker starts.
    """
    if options is None:
        options = AuditOptions(**given)
    elif given:
        options = options.but(**given)
    o = options
    compile = o.compile
    jobs, python, timeout = o.jobs, o.python, o.timeout
    compile_timeout = o.compile_timeout
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # Only --compile makes a compile cache: the default audit does nothing more.
    with ExitStack() as stack:
        env = stack.enter_context(compile_cache()) if compile else None
        census_job = _start_census(stack, python) if o.census else None
        # One worker starts first: it imports torch (seconds) while this process
        # loads and validates the catalogue; a bad catalogue kills it unused.
        # The others start once there are tasks for them: every entry is at least
        # one (entry, device) task, so up to one worker per entry starts now, and
        # up to one per task once the devices are known (never more than --jobs).
        pool = stack.enter_context(WorkerPool(1, python=python, timeout=timeout, env=env))
        if catalog is None:
            catalog = load_catalog(o.catalogs, builtin=o.builtin)
        if o.only:
            catalog = catalog.select(o.only)
        pool.grow(min(jobs, len(catalog)))
        if any(e.slow_start and o.device in ("auto", "all", *e.devices) for e in catalog):
            pool.start_lane(SLOW_LANE)  # it imports torch now, beside the shared worker
        hello = pool.wait_ready()
        devices = resolve_devices(o.device, hello.devices)
        planned = plan(
            catalog,
            devices,
            hello.torch,
            repeat=o.repeat,
            seed=o.seed,
            cost=o.cost,
            compile=compile,
            compile_deterministic=o.compile_deterministic,
            compile_timeout=compile_timeout,
        )
        pool.grow(min(jobs, len(planned)))
        # The fingerprint has its own limit: --timeout is what one entry may take.
        answer = pool.ask(
            EnvironmentRequest(devices=devices, compile=bool(compile)),
            timeout=FINGERPRINT_TIMEOUT + (compile_timeout if compile else 0),
        )
        if not isinstance(answer, EnvironmentAnswer):
            _fingerprint_failed(answer)
        runs, sharing = _shared_runs(planned)
        results: dict[tuple[str, str], ProbeResult] = {}
        # Compiling takes seconds, and a worker's first compile (a cold cache) tens of them.
        limit = timeout + compile_timeout if compile else None

        for raw in _answers(pool, runs, limit, jobs):
            if not isinstance(raw, (RunAnswer, Lost)):
                raise WorkerError(f"a probe worker answered a run with {raw!r}")
            for item in sharing[(raw.id, raw.device)]:
                result = classify(item, raw)
                results[item.key] = result
                if progress is not None:
                    progress(result, len(results), len(planned))

    environment = replace(
        answer.environment, time=started, catalog_hash=catalog.hash, detaudit=__version__
    )
    ordered = tuple(results[p.key] for p in planned)
    from .sites.audited import summarize

    return Report(
        environment=environment,
        results=ordered,
        devices=devices,
        settings=o.settings(),
        catalog_docs_newest=catalog.docs_versions[-1] if catalog.docs_versions else None,
        census=summarize(census_job.result() if census_job else "--no-census", catalog, ordered),
    )


def _shared_runs(
    planned: Sequence[Planned],
) -> tuple[list[Planned], dict[tuple[str, str], list[Planned]]]:
    """The planned requests to send, and for each one's key every (entry, device) its runs answer.

    Entries whose requests are the same but for their id (the same probe, arguments,
    env and settings on the same device: an MPS entry and a CUDA one of the same op, run
    on the CPU) run once: each result gets the same strict, ``repeat`` mode-on and
    ``repeat`` mode-off runs it would get from runs of its own.
    """
    first: dict[str, Planned] = {}
    sharing: dict[tuple[str, str], list[Planned]] = {}
    for p in planned:
        same = json.dumps(encode(replace(p.request, id="")), sort_keys=True)
        if p.request.skip:  # runs nothing: its own answer says why
            same = f"{p.key}"
        sharing.setdefault(first.setdefault(same, p).key, []).append(p)
    return list(first.values()), sharing


def _lane(pool: WorkerPool, planned: Planned) -> str:
    """The lane of ``pool`` that runs ``planned`` ("": the shared workers).

    Torch reads some variables only at start-up (``ATEN_CPU_CAPABILITY``,
    ``OMP_NUM_THREADS``, ``CUBLAS_WORKSPACE_CONFIG`` before torch 2.10): set in
    a running worker they would change nothing. So an entry with ``env`` runs on
    workers that started with it: the shared ones when they did (an entry that
    wants a variable unset which no one set), else a lane of its ``env``'s own.
    A ``slow_start`` entry runs on the slow lane, beside the shared workers.
    """
    request = planned.request
    if request.skip:
        return ""  # a skipped request runs nothing, so the shared workers answer it
    if request.env and not pool.starts_with(request.env):
        return "env " + json.dumps(sorted(request.env.items()))
    return SLOW_LANE if planned.entry.slow_start else ""


def _answers(
    pool: WorkerPool, planned: Sequence[Planned], limit: float | None, jobs: int
) -> Iterator[object]:
    """Every planned request's answer, in completion order: the lanes run beside the shared workers.

    Each ``env`` lane gets up to ``jobs`` workers, started with its variables once
    the shared workers are busy (their torch import then overlaps the first
    entries), and retired once its entries are answered (:meth:`WorkerPool.run`).
    """
    shared: list[RunRequest] = []
    lanes: dict[str, list[RunRequest]] = {}
    for p in planned:
        lane = _lane(pool, p)
        (lanes.setdefault(lane, []) if lane else shared).append(p.request)
    for lane, requests in lanes.items():
        if lane != SLOW_LANE:
            pool.start_lane(lane, dict(requests[0].env or {}), workers=min(jobs, len(requests)))
    yield from pool.ask_all(shared, timeout=limit, lanes=lanes)


def _start_census(stack: ExitStack, python: str | None):
    """The audited torch's census, read in a thread while the workers run (a Future)."""
    from concurrent.futures import ThreadPoolExecutor

    from .sites.audited import take_for_audit

    executor = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="detaudit-census"))
    return executor.submit(take_for_audit, python)


def _fingerprint_failed(answer: Lost | Refused) -> None:
    """The environment request crashed or hung: report it as a worker failure."""
    why = answer.why if isinstance(answer, Lost) else answer.message
    tail = (getattr(answer, "stderr", "") or "").splitlines()[-1:]
    raise WorkerError(
        f"taking the environment fingerprint failed: {why}" + "".join(f" ({t})" for t in tail)
    )
