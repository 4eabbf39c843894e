"""The fingerprint of torch, CUDA, cuDNN, GPU and driver, taken inside a worker.

Runs in the probe worker (possibly under another interpreter), so it uses only
the standard library, torch and numpy, and syntax that Python 3.9 runs.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from typing import Any

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


def _driver_version() -> str | None:
    """The NVIDIA driver version, from the kernel module or nvidia-smi."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as handle:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", handle.read())
            if match:
                return match.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        return out.strip().splitlines()[0] or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


#: Canary sizes. On CUDA, torch's Philox kernels cap their grid at the GPU's SM count, so
#: the element -> random-number mapping of a large tensor depends on the GPU model; a
#: canary of 2**22 elements is past that cap on every GPU so far (H200: 132 SMs x 2048
#: threads x 4 = 1,081,344), and its digest differs wherever the cap does.
_CANARY = {"cpu": 1 << 16, "cuda": 1 << 22}


def rng_canary(device: str) -> str:
    """A digest of what seed 0 draws on ``device``: equal digests, equal probe inputs.

    Probes build random inputs with torch's generator of their device (CPU: mt19937
    and, for ``randn``, a Box-Muller path that depends on ATen's CPU capability;
    CUDA: Philox). Drawn from a private generator: the global RNG state is untouched.
    """
    import torch

    from detaudit.runner.probing import digest

    generator = torch.Generator(device=device)
    generator.manual_seed(0)
    n = _CANARY[device]
    draws = [
        torch.randn(n, generator=generator, device=device),
        torch.randn(n, generator=generator, device=device, dtype=torch.float64),
        torch.rand(n, generator=generator, device=device),
        torch.randint(0, 1 << 20, (n,), generator=generator, device=device),
        torch.randperm(1000, generator=generator, device=device),
    ]
    return digest(draws)


def fingerprint(with_cuda: bool = True) -> dict[str, Any]:
    """Describe this process's torch and machine; queries the GPU only if ``with_cuda``."""
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
        "rng_cpu": rng_canary("cpu"),
        "rng_cuda": None,
    }
    if with_cuda and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        env.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_capability=f"sm_{major}{minor}",
            gpu_driver=_driver_version(),
            gpu_count=torch.cuda.device_count(),
            rng_cuda=rng_canary("cuda"),
        )
    return env


def handle(request: Any) -> Any:
    """Answer an :class:`~detaudit.runner.protocol.EnvironmentRequest` in a worker."""
    from detaudit.runner.protocol import EnvironmentAnswer

    environment = fingerprint(bool(request.cuda))
    if getattr(request, "compile", False):
        environment["inductor"] = _inductor_settings()
    return EnvironmentAnswer(environment=environment)


def _inductor_settings() -> dict[str, bool] | None:
    """Inductor's determinism settings as installed (``audit --compile``); None without Inductor."""
    from detaudit.runner.compiled import inductor_settings

    try:
        return inductor_settings()
    except ImportError:
        return None
