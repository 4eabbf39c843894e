"""The probe worker: a child process that imports torch once and runs many probes.

Protocol: one JSON object per line. The parent writes requests on stdin; the
worker answers on a private copy of its original stdout, while fd 1 is pointed
at stderr so that a probe's prints (Python or C) cannot corrupt the channel.

Requests: ``{"type": "environment"}``, ``{"type": "run", ...}`` (see
:func:`run_task`) for ``detaudit discover``, ``opinfo-list`` and
``opinfo-sweep`` (see :mod:`detaudit.opinfo`), and for the scanner ``trace``
(see :mod:`detaudit.scanner.trace`). The worker greets with
``{"type": "hello", ...}`` once torch is imported. It may run under another
interpreter than detaudit's, so it uses only the standard library, torch and
numpy, and syntax that Python 3.9 runs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

# "put_ does not have a deterministic implementation, but you set ..."
_KERNEL_RE = re.compile(r"(\S+) does not have a deterministic implementation")
# The cuBLAS alert names no kernel; see
# https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility
_CUBLAS_RE = re.compile(r"not deterministic because it uses CuBLAS")
_MESSAGE_LIMIT = 600


def alert_kernel(message: str) -> str | None:
    """The kernel a nondeterministic alert names, or None if ``message`` is no alert."""
    match = _KERNEL_RE.search(message)
    if match:
        return match.group(1)
    if _CUBLAS_RE.search(message):
        return "cublas"
    return None


def _digest_into(obj: Any, h: hashlib._Hash) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        if t.is_sparse:
            t = t.coalesce().to_dense()
        if t.is_quantized:
            t = t.int_repr()
        t = t.cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            h.update(f"K{key!s}".encode())
            _digest_into(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _digest_into(item, h)
    else:
        h.update(f"V{obj!r}".encode())


def digest(obj: Any) -> str:
    """A hash of the exact bits of every tensor in ``obj`` (nested containers allowed)."""
    h = hashlib.blake2b(digest_size=16)
    _digest_into(obj, h)
    return h.hexdigest()


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    torch.manual_seed(seed)  # seeds every CUDA device too


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def run_once(
    fn: Callable[[Any], Any], device: Any, seed: int, mode: bool, warn_only: bool
) -> tuple[dict[str, Any], str | None]:
    """Run ``fn`` once under the given mode; return (observation, digest or None)."""
    import torch

    from detaudit import torchstate
    from detaudit.probes import ProbeSkipped

    saved = torchstate.snapshot()
    try:
        _seed(seed)
        # Eager flag only: the probes run eager kernels, and importing Inductor
        # (which torch.use_deterministic_algorithms does) would cost a second.
        torchstate.set_deterministic_algorithms(mode, warn_only)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn(device)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        alerts = [str(w.message) for w in caught if alert_kernel(str(w.message))]
        obs: dict[str, Any] = {"outcome": "ran", "warnings": [_short(a) for a in alerts]}
        if alerts:
            obs["kernel"] = alert_kernel(alerts[0])
        return obs, digest(out)
    except ProbeSkipped as exc:
        return {"outcome": "skipped", "message": _short(str(exc))}, None
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome, never the end
        message = str(exc)
        kernel = alert_kernel(message) if isinstance(exc, RuntimeError) else None
        obs = {
            "outcome": "alert" if kernel else "error",
            "kernel": kernel,
            "message": _short(message) or type(exc).__name__,
            "exc_type": type(exc).__name__,
        }
        if not kernel:
            obs["message"] = _short(f"{message}\n{_where(exc)}")
        return obs, None
    finally:
        torchstate.restore(saved)


def _where(exc: BaseException) -> str:
    """The innermost frame of ``exc``, as ``file:line in function``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"at {last.filename}:{last.lineno} in {last.name}"


_PROBES: dict[str, Callable[[Any], Any]] = {}


def resolve(probe: str, folder: str | None) -> Callable[[Any], Any]:
    """Import ``module:function``, with ``folder`` (a user catalogue's) on sys.path."""
    key = f"{folder}|{probe}"
    if key not in _PROBES:
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
        module_name, function = probe.split(":")
        _PROBES[key] = getattr(importlib.import_module(module_name), function)
    return _PROBES[key]


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one (entry, device): strict once, warn-only, then mode off; see the README.

    Mode-on samples are the strict run (when it ran) plus warn-only runs, at
    least one and ``repeat`` in all; mode-off samples are ``repeat`` runs.
    """
    import torch

    started = time.perf_counter()
    result: dict[str, Any] = {"type": "result", "id": task["id"], "device": task["device"]}
    repeat, seed = int(task["repeat"]), int(task["seed"])

    def finish(**fields: Any) -> dict[str, Any]:
        result.update(fields)
        result["seconds"] = time.perf_counter() - started
        return result

    if task["device"] == "cuda" and not torch.cuda.is_available():
        return finish(skip="no CUDA device is available to this torch")
    try:
        fn = resolve(task["probe"], task.get("probe_path"))
    except Exception as exc:  # noqa: BLE001
        obs = {"outcome": "error", "exc_type": type(exc).__name__, "message": _short(str(exc))}
        return finish(strict=obs)
    device = torch.device(task["device"])

    strict, first = run_once(fn, device, seed, True, False)
    if strict["outcome"] == "skipped":
        return finish(skip=strict["message"])
    on: list[str] = [first] if first else []
    warn_only, sample = run_once(fn, device, seed, True, True)
    if sample:
        on.append(sample)
    while sample and len(on) < repeat:
        _, sample = run_once(fn, device, seed, True, True)
        if sample:
            on.append(sample)
    off: list[str] = []
    for _ in range(repeat):
        _, sample = run_once(fn, device, seed, False, False)
        if sample is None:
            break
        off.append(sample)
    finish(strict=strict, warn_only=warn_only, digests_on=on, digests_off=off)
    if task.get("cost") and strict["outcome"] == "ran":
        from detaudit.runner.cost import measure

        result["cost"] = measure(fn, device, seed, int(task["cost"]))
    return result


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("type") == "environment":
        from detaudit.environment import fingerprint

        return {"type": "environment", "environment": fingerprint(bool(request.get("cuda", True)))}
    if request.get("type") == "run":
        return run_task(request)
    if request.get("type") in ("opinfo-list", "opinfo-sweep"):
        from detaudit import opinfo

        return opinfo.handle(request)
    if request.get("type") == "trace":  # the scanner's signature derivation
        from detaudit.scanner.trace import trace_task

        return trace_task(request)
    return {"type": "error", "message": f"unknown request {request.get('type')!r}"}


def main() -> None:
    """Serve requests until stdin closes."""
    importlib.import_module("detaudit.runner.lifeline").hold()  # die with the parent
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed to fd 1 from now on lands in stderr
    sys.stdout = sys.stderr

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    import torch

    send(
        {
            "type": "hello",
            "pid": os.getpid(),
            "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(),
        }
    )
    for line in sys.stdin:
        if line.strip():
            send(_handle(json.loads(line)))


if __name__ == "__main__":
    main()
