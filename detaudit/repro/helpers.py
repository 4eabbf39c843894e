"""Reproducibility helpers: seed every RNG, turn deterministic mode on, and put it all back.

``seed_everything`` does what the seed document's ``setup_seed`` does (seed
``random``, numpy, torch CPU and CUDA; ``cudnn.deterministic``;
``use_deterministic_algorithms``) plus the settings it misses: cuDNN
benchmarking off, ``CUBLAS_WORKSPACE_CONFIG``, ``fill_uninitialized_memory``
and oneDNN's deterministic flag. Unlike ``setup_seed`` it returns the state it
replaced, and :func:`deterministic` restores that state on exit. The devices
it seeds and whose generators it saves are the registry's
(:mod:`detaudit.devices`): a device a package registers is seeded and restored too.

torch and numpy are imported inside the functions, so that importing this
module (the pytest plugin does, in every run) costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .. import devices, torchstate
from ..runner.probing import SEED_MAX, check_seed, seed_all
from .bitwise import first_difference

if TYPE_CHECKING:
    import torch

__all__ = [
    "CUBLAS_DETERMINISTIC_CONFIGS",
    "DETERMINISTIC_FLAGS",
    "ENV_VARS",
    "SEED_MAX",
    "ReproducibilityWarning",
    "SavedState",
    "assert_reproducible",
    "capture",
    "check_seed",
    "dataloader_generator",
    "deterministic",
    "seed_everything",
    "seed_worker",
    "set_cublas_workspace_config",
]

# The two values cuBLAS documents as deterministic; the first is the larger,
# faster workspace. https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility
CUBLAS_DETERMINISTIC_CONFIGS = (":4096:8", ":16:8")

# The environment variables seed_everything may change, and so SavedState restores.
ENV_VARS = ("CUBLAS_WORKSPACE_CONFIG",)

# What seed_everything sets besides use_deterministic_algorithms, by torchstate
# flag name. A flag this torch lacks (mkldnn.deterministic before 2.x,
# fill_uninitialized_memory before 2.1) is skipped.
DETERMINISTIC_FLAGS: dict[str, Any] = {
    "cudnn.deterministic": True,
    # Benchmarking picks convolution algorithms by timing them, so the choice
    # can change from run to run.
    # https://pytorch.org/docs/stable/notes/randomness.html#cuda-convolution-benchmarking
    "cudnn.benchmark": False,
    "fill_uninitialized_memory": True,
    "mkldnn.deterministic": True,
}

_INDUCTOR_CONFIG = "torch._inductor.config"


class ReproducibilityWarning(UserWarning):
    """A setting detaudit applied may not take effect as intended."""


@dataclass(frozen=True, slots=True, eq=False)
class SavedState:
    """torch flags, detaudit's environment variables and RNG states as they were.

    :meth:`restore` puts all of it back. ``generators`` holds, by device name, the
    states of the default generators of every registered device that had started
    (the CPU always); ``lazy_seeds`` the seeding torch had queued for the start of
    each device that had not (CUDA's), which restoring puts back without starting it
    (see :class:`~detaudit.devices.DeviceInfo`).
    """

    flags: dict[str, Any]
    env: dict[str, str | None]
    python_rng: tuple = field(repr=False)
    numpy_rng: Any = field(repr=False)
    generators: dict[str, tuple[torch.Tensor, ...]] = field(repr=False)
    lazy_seeds: dict[str, Any] = field(repr=False)

    def restore(self) -> None:
        """Put every flag, environment variable and RNG state back as it was."""
        import numpy

        torchstate.restore(self.flags)
        for name, value in self.env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        random.setstate(self.python_rng)
        numpy.random.set_state(self.numpy_rng)
        for name, states in self.generators.items():
            generator = devices.get(name).generator
            assert generator is not None  # capture took only devices that have one
            for index, state in enumerate(states):
                generator(index).set_state(state)
        for name, queued in self.lazy_seeds.items():
            requeue = devices.get(name).requeue
            assert requeue is not None  # capture took only devices that queue
            requeue(queued)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (for comparing two states with :func:`first_difference`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _device_rngs() -> tuple[dict[str, tuple[torch.Tensor, ...]], dict[str, Any]]:
    """The generator states of the started devices, and the seeds queued for the others."""
    generators: dict[str, tuple[torch.Tensor, ...]] = {}
    lazy: dict[str, Any] = {}
    for info in devices.registered():
        if info.initialized():
            # A device without a generator of its own draws from the CPU's, saved as "cpu".
            if info.generator is not None:
                generator = info.generator
                generators[info.name] = tuple(
                    generator(index).get_state() for index in range(info.count())
                )
        elif info.lazy_seeds is not None and info.requeue is not None:
            lazy[info.name] = info.lazy_seeds()
    return generators, lazy


def _import_inductor_config() -> None:
    """Import Inductor's config (over a second), so that snapshots hold its flag."""
    try:
        __import__(_INDUCTOR_CONFIG)
    except ImportError:  # torch < 2.0 has no Inductor
        pass


def capture(*, inductor: bool = False) -> SavedState:
    """The current flags, environment variables and RNG states.

    With ``inductor=True`` Inductor's config is imported first, so that its
    ``deterministic`` flag is saved too (``torch.use_deterministic_algorithms``
    sets it). Without, the flag is saved only if Inductor is already imported.
    """
    import numpy

    if inductor:
        _import_inductor_config()
    generators, lazy = _device_rngs()
    return SavedState(
        flags=torchstate.snapshot(),
        env={name: os.environ.get(name) for name in ENV_VARS},
        python_rng=random.getstate(),
        numpy_rng=numpy.random.get_state(),
        generators=generators,
        lazy_seeds=lazy,
    )


def set_cublas_workspace_config() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if it is unset; warn if CUDA has already started.

    Without it, CUDA matmuls raise under deterministic mode (CUDA >= 10.2).
    cuBLAS reads it when it sets up its workspace, which may have happened once
    CUDA is initialised.
    """
    import torch

    if os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        return
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC_CONFIGS[0]
    if torch.cuda.is_initialized():
        warnings.warn(
            "CUBLAS_WORKSPACE_CONFIG was unset when CUDA was already initialised: detaudit set "
            f"it to {CUBLAS_DETERMINISTIC_CONFIGS[0]}, but cuBLAS will not pick it up if it has "
            "already set up its workspace, and CUDA matmuls may then stay nondeterministic "
            "without any error. Export CUBLAS_WORKSPACE_CONFIG=:4096:8 before starting Python, "
            "or call detaudit.seed_everything() before anything touches CUDA.",
            ReproducibilityWarning,
            stacklevel=3,
        )


def _enable(warn_only: bool) -> None:
    import torch

    set_cublas_workspace_config()
    # The public function, so that Inductor's deterministic mode comes on too.
    if warn_only:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
    torchstate.set_flags(DETERMINISTIC_FLAGS)


def _apply(saved: SavedState, seed: int | None, mode: bool, warn_only: bool) -> None:
    try:
        if seed is not None:
            seed_all(seed)
        if mode:
            _enable(warn_only)
    except BaseException:  # e.g. the cuBLAS warning under -W error: leave nothing half set
        saved.restore()
        raise


def seed_everything(
    seed: int, *, deterministic: bool = True, warn_only: bool = False
) -> SavedState:
    """Seed random, numpy and torch (every registered device) and, unless ``deterministic=False``,
    turn on deterministic mode and the settings it needs. Returns the state it replaced.

    Deterministic mode means: ``torch.use_deterministic_algorithms(True,
    warn_only=warn_only)``, ``cudnn.deterministic = True``, ``cudnn.benchmark =
    False``, ``fill_uninitialized_memory = True``, ``mkldnn.deterministic = True``
    (where torch has them), and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if unset.
    With ``deterministic=False`` only the RNGs are seeded. Call ``.restore()`` on
    the result to undo everything.
    """
    seed = check_seed(seed)
    saved = capture(inductor=deterministic)
    _apply(saved, seed, deterministic, warn_only)
    return saved


@contextlib.contextmanager
def _scope(seed: int | None, *, mode: bool, warn_only: bool = False) -> Iterator[SavedState]:
    if seed is not None:
        seed = check_seed(seed)
    saved = capture(inductor=mode)
    _apply(saved, seed, mode, warn_only)
    try:
        yield saved
    finally:
        saved.restore()


def deterministic(
    seed: int | None = None, *, warn_only: bool = False
) -> contextlib.AbstractContextManager[SavedState]:
    """Context manager (or decorator): :func:`seed_everything` on entry, everything restored on exit.

    With ``seed=None`` the RNGs are not seeded, but their states are still
    restored on exit, as are every flag and ``CUBLAS_WORKSPACE_CONFIG``, also
    when the block raises. The first use imports Inductor (over a second), as
    ``torch.use_deterministic_algorithms`` does. Yields the saved state.
    """
    if seed is not None:
        check_seed(seed)  # a bad seed fails here, not at the ``with``
    return _scope(seed, mode=True, warn_only=warn_only)


def assert_reproducible(fn: Callable[[], Any], *, seed: int = 0, deterministic: bool = True) -> Any:
    """Run ``fn()`` twice from ``seed``; raise AssertionError naming the first difference.

    Each run is seeded with ``seed`` (and, unless ``deterministic=False``, runs
    under deterministic mode), and the state is restored after it. The results
    must be bitwise equal: tensors, numpy arrays and nested lists, tuples, dicts
    or dataclasses of them. Returns the first run's result.
    """
    results = []
    for _ in range(2):
        with _scope(seed, mode=deterministic):
            results.append(fn())
    difference = first_difference(results[0], results[1])
    if difference is not None:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        raise AssertionError(
            f"{name} is not reproducible: two runs from seed {seed} differ at {difference}"
        )
    return results[0]


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and numpy in each worker from torch's seed.

    torch gives every worker its own seed (derived from the DataLoader's
    generator); without this, numpy and ``random`` repeat across workers or vary
    across runs.
    """
    import numpy
    import torch

    worker_seed = torch.initial_seed() % 2**32
    numpy.random.seed(worker_seed)
    random.seed(worker_seed)


def dataloader_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``, for DataLoader's ``generator=``."""
    import torch

    generator = torch.Generator()
    generator.manual_seed(check_seed(seed))
    return generator
