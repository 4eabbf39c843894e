"""The ``run`` handler: observe one (entry, device) under deterministic mode, inside a worker.

One strict run (the mode on, alerts raise), then warn-only runs (alerts are
warnings, so the op runs and its bits can be compared), then runs with the
mode off; every run seeded alike and started from the same process state
(:mod:`detaudit.runner.isolation`). Nothing a run shows is dropped: the strict
and first warn-only observations are kept whole, and every later run that
failed or behaved unlike the first of its series is kept in ``later``.

A backward entry gets one more run, ``backward-only``: the probe starts with
the mode off and only the backward it marks (:mod:`detaudit.probes._phase`)
runs under strict mode, as in PyTorch's own tests; for some CUDA ops that
differs from the mode on throughout (the strict run).

Runs in probe workers: standard library, torch and the model's run records
(:mod:`detaudit.model.observation`) only, Python 3.9 syntax.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from detaudit import devices, torchstate
from detaudit.model.observation import Compiled, Cost, Observation
from detaudit.probes import ProbeSkipped, _phase
from detaudit.runner import isolation, reach
from detaudit.runner.probing import (
    START_ENVIRON,
    ProbeOutputError,
    alert_kernel,
    check_output,
    digest,
    load_probe,
    seed_all,
    short,
    synchronize,
    where,
)
from detaudit.runner.protocol import PHASE_MISUSE, RunAnswer, RunRequest

__all__ = ["UNMARKED", "handle", "observe_backward_only", "run_once", "started_with"]


def _mode_now() -> tuple[bool, bool | None]:
    import torch

    warn = getattr(torch, "is_deterministic_algorithms_warn_only_enabled", None)
    return torch.are_deterministic_algorithms_enabled(), (warn() if warn else None)


def _mode_changed(mode: bool, warn_only: bool) -> str | None:
    """Why the observation is void when the probe changed the mode the runner set, else None."""
    enabled, warn = _mode_now()
    if enabled != mode:
        return (
            f"the probe turned deterministic mode {'on' if enabled else 'off'} "
            f"(torch.use_deterministic_algorithms({enabled})), so this run did not observe the "
            "op under the mode the runner set; a probe must leave the mode alone"
        )
    if warn is not None and enabled and warn != warn_only:
        return (
            f"the probe set warn_only={warn} (torch.use_deterministic_algorithms(True, "
            f"warn_only={warn})); a probe must leave the mode alone"
        )
    return None


def run_once(
    fn: Callable[[Any], Any],
    device: Any,
    seed: int,
    mode: bool,
    warn_only: bool,
    label: str,
    env: Mapping[str, str | None] | None = None,
    ops: list[str] | None = None,
) -> tuple[Observation, str | None, str | None]:
    """Run ``fn`` once under the given mode; return (observation, digest or None, retire or None).

    ``env``: the entry's variables as this worker started with them, recorded in
    the observation (nothing is set here: see :func:`started_with`). ``ops``: a list
    to fill with the aten ops the probe dispatched
    (:func:`detaudit.runner.reach.recording`), also when it fails. The process state
    is put back afterwards; ``retire`` says what could not be.
    """

    saved = isolation.snapshot()
    started = saved
    sample: str | None = None
    try:
        seed_all(seed)
        # Eager flag only: the probes run eager kernels, and importing Inductor
        # (which torch.use_deterministic_algorithms does) would cost a second.
        torchstate.set_deterministic_algorithms(mode, warn_only)
        # Seeding and the mode changed nothing a snapshot holds but the torch flags.
        started = {**saved, "torch flags": torchstate.snapshot()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if ops is None:
                out = fn(device)
            else:
                with reach.recording() as names:
                    try:
                        out = fn(device)
                    finally:
                        ops.extend(names)
            synchronize(device)
        changed = _mode_changed(mode, warn_only)
        if changed:
            obs = Observation("error", exc_type="ProbeChangedMode", message=changed)
        else:
            check_output(out)
            sample = digest(out)
            alerts = [str(w.message) for w in caught if alert_kernel(str(w.message))]
            obs = Observation(
                "ran",
                kernel=alert_kernel(alerts[0]) if alerts else None,
                warnings=tuple(short(a) for a in alerts),
            )
    except ProbeSkipped as exc:
        obs = Observation("skipped", message=short(str(exc)))
    except ProbeOutputError as exc:
        obs = Observation("error", exc_type="ProbeOutputError", message=short(str(exc)))
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome, never the end
        message = str(exc)
        kernel = alert_kernel(message) if isinstance(exc, RuntimeError) else None
        obs = Observation(
            "alert" if kernel else "error",
            kernel=kernel,
            message=(short(message) if kernel else short(f"{message}\n{where(exc)}"))
            or type(exc).__name__,
            exc_type=type(exc).__name__,
        )
    retire = None
    try:
        restored = isolation.restore(saved, started)
    except isolation.Unrestorable as exc:
        restored = isolation.retiring(exc)
        retire = f"the probe changed {exc}, which cannot be restored"
    obs = replace(obs, run=label, env=dict(env) if env else None, restored=tuple(restored))
    return obs, sample, retire


#: Why a backward-only run observed nothing: the probe ran its backward unmarked, mode off.
UNMARKED = (
    "not observed: the probe does not mark its backward (use detaudit.probes.backward), "
    "so the runner cannot run only the backward under the mode"
)


def observe_backward_only(
    fn: Callable[[Any], Any],
    device: Any,
    seed: int,
    env: Mapping[str, str | None] | None = None,
) -> tuple[Observation, str | None]:
    """Run ``fn`` with the mode off but for its marked backward; (observation, retire or None).

    A probe that marks no backward ran entirely with the mode off: that run
    observed nothing about the mode, and says so (``unobserved``) unless it failed.
    One that misuses the mark (a phase with no backward in it, a backward
    outside every phase, a phase inside another) is an ``error`` naming the
    misuse (:data:`~detaudit.runner.protocol.PHASE_MISUSE`), not an observation.
    """
    with _phase.backward_only() as marks:
        obs, _, retire = run_once(fn, device, seed, False, False, "backward-only", env)
    misuse = marks.misuse()
    if misuse and obs.outcome not in ("error", "skipped"):
        obs = Observation(
            "error",
            exc_type=PHASE_MISUSE,
            message=misuse,
            run=obs.run,
            restored=obs.restored,
            env=obs.env,
        )
    elif not marks.marked and obs.outcome not in ("error", "skipped"):
        obs = Observation("unobserved", message=UNMARKED, run=obs.run, restored=obs.restored)
    return obs, retire


def started_with(env: Mapping[str, str | None]) -> dict[str, str | None]:
    """The value (None: unset) each of ``env``'s variables had when this worker started.

    Torch reads some only at start-up (``ATEN_CPU_CAPABILITY``, ``OMP_NUM_THREADS``,
    ``CUBLAS_WORKSPACE_CONFIG`` before torch 2.10), so setting one in a running
    worker would change nothing: the pool starts a worker with the entry's ``env``.
    """
    return {name: START_ENVIRON.get(name) for name in env}


def _not_started_with(env: Mapping[str, str | None], started: Mapping[str, str | None]) -> str:
    def shown(values: Mapping[str, str | None]) -> str:
        return ", ".join(f"{k}={'(unset)' if v is None else repr(v)}" for k, v in values.items())

    return (
        f"this worker did not start with the entry's env ({shown(env)}) but with "
        f"{shown(started)}; torch reads such variables at start-up, so an entry with env "
        "runs in a worker started with it"
    )


def _signature(obs: Observation) -> tuple[Any, ...]:
    return obs.outcome, obs.kernel, obs.exc_type, bool(obs.warnings)


def handle(request: RunRequest) -> RunAnswer:
    """Run one (entry, device): strict once, warn-only, mode off, backward-only; see the module doc.

    Mode-on samples are the strict run (when it ran) plus warn-only runs,
    ``repeat`` in all (an entry that raises gets ``repeat`` warn-only runs, the
    strict run returning nothing); mode-off samples are ``repeat`` runs.
    A series stops at its first run that returns nothing to compare.
    """
    import torch

    started = time.perf_counter()

    def answer(**fields: Any) -> RunAnswer:
        return RunAnswer(
            id=request.id,
            device=request.device,
            seconds=time.perf_counter() - started,
            **fields,
        )

    info = devices.find(request.device)
    if info is None:
        return answer(skip=f"no device {request.device!r} is registered in this worker's detaudit")
    if not info.available():
        return answer(skip=info.missing)
    if request.skip:
        return answer(skip=request.skip)
    try:
        fn = load_probe(request.probe, request.probe_path, request.probe_args)
    except Exception as exc:  # noqa: BLE001
        return answer(
            strict=Observation(
                "error",
                exc_type=type(exc).__name__,
                message=short(f"cannot load probe {request.probe}: {exc}"),
                run="strict",
            )
        )
    device = torch.device(info.torch_type)
    repeat, seed = int(request.repeat), int(request.seed)
    env = started_with(request.env) if request.env else None
    if env is not None and request.env is not None and env != dict(request.env):
        return answer(
            strict=Observation(
                "error",
                exc_type="EnvNotAtStart",
                message=_not_started_with(request.env, env),
                run="strict",
                env=env,
            )
        )

    # Entries that name the aten ops they mean to reach: the strict and first mode-off
    # runs record what they dispatch (reach.py), so the report can say what ran instead.
    recorded: dict[str, list[str]] | None = {} if request.reaches and reach.available() else None
    strict_ops = recorded.setdefault("strict", []) if recorded is not None else None
    strict, first, retire = run_once(fn, device, seed, True, False, "strict", env, strict_ops)
    if strict.outcome == "skipped":
        return answer(skip=strict.message, retire=retire)
    if retire:
        return answer(strict=strict, digests_on=(first,) if first else (), retire=retire)
    on = [first] if first else []
    later: list[Observation] = []
    warn_only: Observation | None = None
    runs = 0
    # ``repeat`` mode-on samples in all: the strict run's (when it ran) counts as
    # one, so --repeat 1 after a strict run that ran makes no warn-only run (one
    # run cannot show that the bits repeat: ``bits_repeat`` stays None).
    while len(on) < repeat:
        runs += 1
        obs, sample, retire = run_once(fn, device, seed, True, True, f"warn-only {runs}", env)
        if warn_only is None:
            warn_only = obs
        elif _signature(obs) != _signature(warn_only):
            later.append(obs)
        if sample:
            on.append(sample)
        if retire or sample is None:
            break
    off: list[str] = []
    first_off: Observation | None = None
    for runs in range(1, repeat + 1):
        if retire:
            break
        off_ops = None
        if recorded is not None and runs == 1:
            off_ops = recorded.setdefault("mode-off 1", [])
        obs, sample, retire = run_once(
            fn, device, seed, False, False, f"mode-off {runs}", env, off_ops
        )
        if first_off is None:
            first_off = obs
            if obs.outcome != "ran" or obs.warnings:
                later.append(obs)
        elif _signature(obs) != _signature(first_off):
            later.append(obs)
        if sample is None:
            break
        off.append(sample)
    backward_only = None
    if request.backward_only and not retire:
        backward_only, retire = observe_backward_only(fn, device, seed, env)
    cost: Cost | None = None
    if request.cost and strict.outcome == "ran" and not retire:
        from detaudit.runner.cost import measure

        saved = isolation.snapshot()
        cost = measure(fn, device, seed, int(request.cost))
        try:
            isolation.restore(saved)
        except isolation.Unrestorable as exc:
            retire = f"the probe changed {exc}, which cannot be restored"
    compiled: Compiled | None = None
    if request.compile and not retire:
        from detaudit.runner.compiled import observe as observe_compiled

        compiled, retire = observe_compiled(
            fn,
            device,
            seed,
            repeat,
            request.compile,
            bool(request.compile_deterministic),
            first,
            request.compile_timeout,
        )
    return answer(
        strict=strict,
        warn_only=warn_only,
        later=tuple(later),
        digests_on=tuple(on),
        digests_off=tuple(off),
        cost=cost,
        retire=retire,
        compiled=compiled,
        backward_only=backward_only,
        ops=None if recorded is None else {run: tuple(ops) for run, ops in recorded.items()},
    )
