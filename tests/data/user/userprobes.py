"""Probes for a user catalogue used by the tests: one alert, one crash, one hang."""

from __future__ import annotations

import os
import time

import torch


def put_plain(device: torch.device) -> torch.Tensor:
    """put_ with accumulate=False and colliding indices: alerts on every device."""
    index = torch.randint(0, 64, (512,), device=device)
    return torch.zeros(64, device=device).put_(index, torch.randn(512, device=device))


def index_add(device: torch.device) -> torch.Tensor:
    """index_add with colliding indices: deterministic on CPU."""
    index = torch.randint(0, 64, (512,), device=device)
    return torch.zeros(64, device=device).index_add(0, index, torch.randn(512, device=device))


def abort(device: torch.device) -> torch.Tensor:
    """Kill the worker the hard way, as a segfault or a CUDA fatal error would."""
    os.abort()


def hang(device: torch.device) -> torch.Tensor:
    """Run far past any sane --timeout."""
    time.sleep(3600)
    return torch.zeros(1)


def missing_op(device: torch.device) -> torch.Tensor:
    """An op this torch does not have: the probe says so and is skipped."""
    from detaudit.probes import skip

    if not hasattr(torch, "no_such_op"):
        skip("torch has no torch.no_such_op")
    return torch.no_such_op(device)  # type: ignore[attr-defined]


def broken(device: torch.device) -> torch.Tensor:
    """Fails with an ordinary error (a shape mismatch), not the determinism alert."""
    return torch.zeros(3, device=device) + torch.zeros(4, device=device)


# What a worker's process looks like before any probe ran (this module is loaded
# by the first probe of the state catalogue, before it changes anything).
BASELINE = {
    "threads": torch.get_num_threads(),
    "cwd": os.getcwd(),
    "environ": dict(os.environ),
    "default_device": str(torch.get_default_device()),
    "anomaly": torch.is_anomaly_enabled(),
    "matmul_precision": torch.get_float32_matmul_precision(),
}


def mutate_state(device: torch.device) -> torch.Tensor:
    """Change every global flag and process setting a probe could leave behind."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.set_num_threads(1 if BASELINE["threads"] != 1 else 2)
    torch.set_default_device("meta")
    torch.set_anomaly_enabled(True)
    torch.set_float32_matmul_precision("medium")
    os.chdir("/")
    os.environ["DETAUDIT_TEST_LEAK"] = "1"
    os.environ.pop("PATH", None)
    return torch.zeros(1, device="cpu", dtype=torch.float32)


def check_state(device: torch.device) -> torch.Tensor:
    """Fail (an ``error`` result) unless every flag is back as it was before any probe ran."""
    state = {
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "fill_uninitialized_memory": torch.utils.deterministic.fill_uninitialized_memory,
        "default_dtype": torch.get_default_dtype(),
        "grad_enabled": torch.is_grad_enabled(),
        "threads": torch.get_num_threads(),
        "default_device": str(torch.get_default_device()),
        "anomaly": torch.is_anomaly_enabled(),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
    }
    expected = {
        "cudnn.benchmark": False,
        "cudnn.deterministic": False,
        "fill_uninitialized_memory": True,
        "default_dtype": torch.float32,
        "grad_enabled": True,
        **{k: BASELINE[k] for k in ("threads", "default_device", "anomaly", "matmul_precision")},
        "cwd": BASELINE["cwd"],
        "environ": BASELINE["environ"],
    }
    leaked = {k: v for k, v in state.items() if v != expected[k]}
    if leaked:
        raise AssertionError(f"leaked state: {sorted(leaked)}")
    return torch.zeros(1)


def mode_off(device: torch.device) -> torch.Tensor:
    """Turn deterministic mode off, then run an op that alerts under it."""
    torch.use_deterministic_algorithms(False)
    return put_plain(device)


def warn_only_on(device: torch.device) -> torch.Tensor:
    """Switch the strict mode to warn-only, then run an op that alerts under it."""
    if torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(True, warn_only=True)
    return put_plain(device)


def no_return(device: torch.device) -> None:
    """An in-place op as the last line and no ``return``: nothing to compare."""
    x = torch.zeros(8, device=device)
    x.index_add_(0, torch.tensor([0, 1], device=device), torch.ones(2, device=device))


class _Thing:
    pass


def returns_object(device: torch.device) -> tuple:
    """A tensor and an object whose repr holds its address (differs every run)."""
    return torch.zeros(2, device=device), _Thing()


def returns_nested(device: torch.device) -> dict:
    """Nested containers of tensors are a fine result."""
    return {"a": [torch.ones(2, device=device), (torch.zeros(1, device=device),)]}


def flaky_later(device: torch.device) -> torch.Tensor:
    """Runs cleanly the first time in each worker, then fails: the strict run hides it."""
    global _CALLS
    _CALLS += 1
    if _CALLS > 1:
        raise IndexError("only the first run works")
    return torch.ones(2, device=device)


_CALLS = 0


def long_error(device: torch.device) -> torch.Tensor:
    """A RuntimeError whose message is one 200,000-character token (no alert)."""
    raise RuntimeError("x" * 200_000)


def warn_alert(device: torch.device) -> torch.Tensor:
    """Emit a nondeterminism warning (as some ops do) and run on."""
    import warnings

    warnings.warn("fake_kernel_ does not have a deterministic implementation, but you set ...", stacklevel=1)
    return torch.zeros(1)
