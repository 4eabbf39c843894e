"""The fingerprint of torch, CUDA, cuDNN and each device (its GPU and driver), taken inside a worker.

Runs in the probe worker (possibly under another interpreter), so it uses only
the standard library, torch and numpy, and syntax that Python 3.9 runs.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Iterable
from typing import Any

from detaudit import devices as registry

__all__ = ["fingerprint", "handle", "rng_canary"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rng_canary(device: str) -> str:
    """A digest of what seed 0 draws on ``device``: equal digests, equal probe inputs.

    Probes build random inputs with torch's generator of their device (CPU: mt19937
    and, for ``randn``, a Box-Muller path that depends on ATen's CPU capability;
    CUDA: Philox); the registry says how many numbers to draw
    (:attr:`~detaudit.devices.DeviceInfo.canary`). Drawn from a private generator:
    the global RNG state is untouched.
    """
    import torch

    from detaudit.runner.probing import digest

    info = registry.get(device)
    if not info.canary:
        raise ValueError(f"device {device} has no random-generator canary")
    generator = torch.Generator(device=info.torch_type)
    generator.manual_seed(0)
    n, on = info.canary, info.torch_type
    draws = [
        torch.randn(n, generator=generator, device=on),
        torch.randn(n, generator=generator, device=on, dtype=torch.float64),
        torch.rand(n, generator=generator, device=on),
        torch.randint(0, 1 << 20, (n,), generator=generator, device=on),
        torch.randperm(1000, generator=generator, device=on),
    ]
    return digest(draws)


def fingerprint(devices: Iterable[str] = ()) -> dict[str, Any]:
    """Describe this process's torch and machine.

    Each device started in this process (the CPU always is) and each of
    ``devices`` that is present adds its facts (the GPU's name and driver) and
    its random-generator canary (:mod:`detaudit.devices`).
    """
    import torch

    try:
        import numpy

        numpy_version: str | None = numpy.__version__
    except ImportError:
        numpy_version = None
    cudnn = None
    if torch.backends.cudnn.is_available():
        version = torch.backends.cudnn.version()
        cudnn = str(version) if version is not None else None
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_git": getattr(torch.version, "git_version", None),
        # Where that torch was imported from (as sys.path found it, links not followed):
        # the proof that the workers ran the --python interpreter's torch.
        "torch_path": os.path.dirname(os.path.abspath(torch.__file__)),
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "gpu": None,
        "gpu_capability": None,
        "gpu_driver": None,
        "gpu_count": 0,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "os": platform.platform(),
        "cpu": _cpu_name(),
        "numpy": numpy_version,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "hostname": socket.gethostname(),
    }
    asked = {registry.get(name).name for name in devices}
    for info in registry.loaded():
        if info.canary_field:
            env[info.canary_field] = None
    for info in registry.loaded():
        if (info.name in asked or info.initialized()) and info.available():
            env.update(info.facts())
            if info.canary and info.canary_field:
                env[info.canary_field] = rng_canary(info.name)
    return env


def handle(request: Any) -> Any:
    """Answer an :class:`~detaudit.runner.protocol.EnvironmentRequest` in a worker.

    The answer carries the report's :class:`~detaudit.model.environment.Environment`:
    a fact of a plugin device that the report has no field for is left out (the env
    report, :mod:`detaudit.repro.envreport`, keeps every fact).
    """
    from detaudit.model.environment import Environment
    from detaudit.runner.protocol import EnvironmentAnswer

    facts = fingerprint(request.devices)
    if request.compile:
        facts["inductor"] = _inductor_settings()
    return EnvironmentAnswer(environment=Environment.from_dict(facts))


def _inductor_settings() -> dict[str, bool] | None:
    """Inductor's determinism settings as installed (``audit --compile``); None without Inductor."""
    from detaudit.runner.compiled import inductor_settings

    try:
        return inductor_settings()
    except ImportError:
        return None
