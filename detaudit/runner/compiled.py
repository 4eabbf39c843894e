"""The compiled observation (``audit --compile``): run a probe through ``torch.compile``.

Inductor generates its own kernels (C++ with OpenMP on the CPU, Triton on
CUDA), so an eager audit says nothing about a compiled model: compiled
``index_add``/``scatter_add`` have used atomic adds without the eager alert
(https://github.com/pytorch/pytorch/issues/101105,
https://github.com/pytorch/pytorch/issues/113707). This module compiles the
whole probe, turns the mode on with the real ``torch.use_deterministic_algorithms(True)``
(which also sets Inductor's ``deterministic`` flag, as a user's call would),
runs it ``repeat`` times seeded alike, and reports the outcome, the kernel an
alert names and how many bit patterns the runs gave.

Inductor's random numbers are not eager's; a probe builds its inputs with the
RNG, so ``fallback_random`` is on during the compiled runs: the compiled probe
gets the very inputs the eager one got, and its bits can be compared with
eager's. Every Inductor setting touched is put back afterwards, and dynamo is
reset before and after, so one entry's graphs never reach the next.

The compiled runs have a budget (``--compile-timeout``): past it a timer
stops them, the observation is ``timeout`` and the worker retires (the
compiler's threads and subprocesses may still run), while the eager runs,
already done, stay the entry's result. Compiled code stuck in native code the
timer cannot interrupt is still caught by the pool's limit for the whole entry.

Imported only for ``--compile``: importing Inductor costs seconds. Runs in
probe workers: standard library, torch and the model's run records only, Python 3.9 syntax.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from detaudit.model.observation import Compiled
from detaudit.probes import ProbeSkipped
from detaudit.runner import isolation
from detaudit.runner.probing import (
    ProbeOutputError,
    alert_kernel,
    check_output,
    compile_probe,
    digest,
    seed_all,
    short,
    synchronize,
    where,
)

__all__ = ["COMPILE_ERROR", "inductor_settings", "observe", "setting_names"]

#: The ``reason`` of a compiled observation whose error came from dynamo, AOTAutograd or Inductor.
COMPILE_ERROR = "compile-error"

#: Inductor settings that bear on determinism besides those named ``*determin*``.
_ALSO = ("fallback_random", "batch_invariant")
#: The prefix of the environment variables Inductor sets for its own compiled code.
_COMPILER_ENVIRON = "_TORCHINDUCTOR_"
#: Modules whose exceptions are the compiler's, not the op's.
_COMPILER = (
    "torch._dynamo",
    "torch._inductor",
    "torch._functorch",
    "torch.fx",
    "torch._subclasses",
)


def _config() -> Any:
    from torch._inductor import config

    return config


def setting_names(config: Any) -> list[str]:
    """Inductor's boolean settings about determinism that this torch has, sorted."""
    names = getattr(config, "_config", None) or dir(config)
    found = {
        name
        for name in names
        if "." not in name
        and ("determin" in name.lower() or name in _ALSO)
        and isinstance(getattr(config, name, None), bool)
    }
    return sorted(found)


def inductor_settings() -> dict[str, bool]:
    """The installed values of Inductor's determinism settings (imports Inductor's config)."""
    config = _config()
    return {name: getattr(config, name) for name in setting_names(config)}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _failure(exc: BaseException, backend: str) -> Compiled:
    """The observation of a compiled run that raised: an alert, a compile error or an error."""
    chain = _chain(exc)
    # The innermost alert first: dynamo wraps it in messages that quote it (``RuntimeError("put_``).
    alerting = next((e for e in reversed(chain) if alert_kernel(str(e))), None)
    kernel = alert_kernel(str(alerting)) if alerting is not None else None
    if kernel:
        return Compiled(
            backend,
            "alert",
            kernel=kernel,
            message=short(str(alerting)),
            exc_type=type(exc).__name__,
        )
    compiler = any(type(e).__module__.startswith(_COMPILER) for e in chain)
    return Compiled(
        backend,
        "error",
        message=short(f"{exc}\n{where(exc)}") or type(exc).__name__,
        exc_type=type(exc).__name__,
        reason=COMPILE_ERROR if compiler else None,
    )


class CompileTimeout(BaseException):
    """The compiled runs' budget ran out; not an Exception, so no compiler wrapper catches it."""


@contextmanager
def _budget(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CompileTimeout` in this block once ``seconds`` have passed (SIGALRM).

    Only in the main thread of a process that has ``setitimer``; otherwise, or
    with no budget, the pool's limit for the whole entry is the only one.
    """
    if (
        not seconds
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    armed = [True]

    def expire(signum: int, frame: object) -> None:
        if armed[0]:  # a late delivery after the block ended is dropped
            armed[0] = False
            raise CompileTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _keep_compiler_environment(*snapshots: dict[str, Any]) -> None:
    """Keep the variables Inductor sets for its own compiled code (``_TORCHINDUCTOR_*``).

    Its first compile in a process exports a pointer its C++ wrappers read; that
    is the compiler's state, not the probe's, and removing it would break them.
    """
    import os

    own = {k: v for k, v in os.environ.items() if k.startswith(_COMPILER_ENVIRON)}
    for snapshot in snapshots:
        snapshot["environment variables"] = {**snapshot["environment variables"], **own}


def observe(
    fn: Callable[[Any], Any],
    device: Any,
    seed: int,
    repeat: int,
    backend: str,
    deterministic: bool,
    eager_digest: str | None,
    budget: float | None = None,
) -> tuple[Compiled, str | None]:
    """Compile ``fn`` and run it ``repeat`` times with the mode on; return (observation, retire).

    ``deterministic``: also turn every Inductor determinism setting on.
    ``budget``: seconds the compiling and the runs may take (``--compile-timeout``). The
    observation: ``backend``, ``outcome`` (ran, alert, error, skipped, timeout),
    ``kernel``, ``message``, ``exc_type``, ``reason`` (``compile-error``),
    ``warnings``, ``runs`` and ``distinct`` (bit patterns over the runs that
    returned), ``digest`` (the first), ``same_as_eager``, ``settings`` (Inductor's,
    during the runs), ``seconds`` (compiling included) and ``restored``.
    """
    import torch

    config = _config()
    names = setting_names(config)
    settings_before = {name: getattr(config, name) for name in names}
    saved = isolation.snapshot()
    state = saved  # the state the probe starts from, once the runner set its mode
    started = time.perf_counter()
    obs = Compiled(backend, "ran")
    timed_out = False
    digests: list[str] = []
    alerts: list[str] = []
    try:
        torch._dynamo.reset()
        if hasattr(config, "fallback_random"):
            config.fallback_random = True  # the compiled probe's inputs equal eager's
        torch.use_deterministic_algorithms(True)  # the real switch: Inductor reads it too
        if deterministic:
            for name in names:
                setattr(config, name, True)
        obs = replace(obs, settings={name: getattr(config, name) for name in names})
        state = isolation.snapshot()
        with _budget(budget):
            compiled = compile_probe(
                fn, lambda f: torch.compile(f, backend=backend, fullgraph=False)
            )
            for _ in range(repeat):
                seed_all(seed)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    out = compiled(device)
                    synchronize(device)
                check_output(out)
                digests.append(digest(out))
                alerts += [str(w.message) for w in caught if alert_kernel(str(w.message))]
    except CompileTimeout:
        done = f"; {len(digests)} of {repeat} runs had returned" if digests else ""
        obs = replace(
            obs,
            outcome="timeout",
            message=f"still compiling or running after --compile-timeout {budget:g} s; "
            f"stopped, the worker replaced{done}",
        )
        timed_out = True
    except ProbeSkipped as exc:
        obs = replace(obs, outcome="skipped", message=short(str(exc)))
    except ProbeOutputError as exc:
        obs = replace(
            obs, outcome="error", exc_type="ProbeOutputError", message=short(str(exc))
        )
    except Exception as exc:  # noqa: BLE001 - a compile error is this entry's result
        failed = _failure(exc, backend)
        message = failed.message
        if digests:
            message = f"run {len(digests) + 1} of {repeat} failed: {message}"
        obs = replace(failed, settings=obs.settings, message=message)
    finally:
        torch._dynamo.reset()
    if alerts:
        obs = replace(
            obs,
            warnings=tuple(short(a) for a in dict.fromkeys(alerts)),
            kernel=obs.kernel if obs.kernel is not None else alert_kernel(alerts[0]),
        )
    obs = replace(
        obs,
        runs=len(digests),
        distinct=len(set(digests)) if digests else None,
        digest=digests[0] if digests else None,
        same_as_eager=digests[0] == eager_digest if digests and eager_digest else None,
        seconds=round(time.perf_counter() - started, 4),
    )
    _keep_compiler_environment(saved, state)
    # Stopped anywhere inside the compiler: its threads and subprocesses may still run.
    retire = "the compiled runs ran past --compile-timeout" if timed_out else None
    try:
        restored = isolation.restore(saved, state)
    except isolation.Unrestorable as exc:
        restored = isolation.retiring(exc)
        retire = f"the compiled probe changed {exc}, which cannot be restored"
    for name, value in settings_before.items():  # after the comparison: the runner set these
        setattr(config, name, value)
    return replace(obs, restored=tuple(restored)), retire
