"""What ``detaudit env`` reports: this process's reproducibility settings, each with advice."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from .. import devices as registry
from .. import torchstate
from ..runner.fingerprint import fingerprint
from .helpers import CUBLAS_DETERMINISTIC_CONFIGS, DETERMINISTIC_FLAGS

__all__ = ["EnvReport", "Setting", "env_report"]

# One line of advice per setting, shown when it is not as reproducibility wants it.
ADVICE = {
    "use_deterministic_algorithms": (
        "call detaudit.seed_everything(seed) or torch.use_deterministic_algorithms(True): "
        "nondeterministic ops then raise instead of running"
    ),
    "warn_only": (
        "warn_only=True only warns, and nondeterministic ops still run: pass warn_only=False "
        "to make them raise"
    ),
    "cudnn.deterministic": (
        "set torch.backends.cudnn.deterministic = True: cuDNN then uses only deterministic "
        "convolution algorithms"
    ),
    "cudnn.benchmark": (
        "set torch.backends.cudnn.benchmark = False: benchmarking picks convolution algorithms "
        "by timing them, so the choice, and the bits, can change from run to run"
    ),
    "fill_uninitialized_memory": (
        "set torch.utils.deterministic.fill_uninitialized_memory = True: under deterministic "
        "mode torch.empty and friends then fill new memory (NaN, or the largest integer), "
        "so code that reads it repeats"
    ),
    "mkldnn.deterministic": (
        "set torch.backends.mkldnn.deterministic = True: oneDNN (mkldnn) then dispatches only "
        "implementations whose results repeat bitwise"
    ),
    "inductor.deterministic": (
        "set torch._inductor.config.deterministic = True (torch.use_deterministic_algorithms"
        "(True) does): compiled code then skips on-device benchmarking"
    ),
    "CUBLAS_WORKSPACE_CONFIG": (
        "export CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) before Python starts, or call "
        "detaudit.seed_everything before CUDA initialises: without it, CUDA matmuls raise "
        "under deterministic mode (CUDA >= 10.2)"
    ),
    "PYTHONHASHSEED": (
        "export PYTHONHASHSEED=0 (or any fixed number) before Python starts: str and bytes "
        "hashes, and so the iteration order of sets, otherwise change from run to run"
    ),
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its value, whether it is as reproducibility wants it, and advice if not.

    ``ok`` is None where the setting does not apply (a flag this torch lacks,
    Inductor not imported, warn_only while deterministic mode is off).
    """

    name: str
    value: bool | str | None
    ok: bool | None
    advice: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EnvReport:
    """The environment fingerprint (versions, GPU) and every reproducibility setting."""

    environment: dict[str, Any]
    settings: tuple[Setting, ...]

    @property
    def ok(self) -> bool:
        """True if no setting needs changing."""
        return all(s.ok is not False for s in self.settings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"environment": {...}, "settings": [{name, value, ok, advice}]}``."""
        return {
            "environment": dict(self.environment),
            "settings": [s.to_dict() for s in self.settings],
        }


def _setting(name: str, value: bool | str | None, ok: bool | None) -> Setting:
    return Setting(name, value, ok, ADVICE[name] if ok is False else None)


def _flag(flags: dict[str, Any], name: str, wanted: bool) -> Setting:
    if name not in flags:
        missing = "not imported" if name.startswith("inductor.") else "not in this torch"
        return _setting(name, missing, None)
    return _setting(name, bool(flags[name]), bool(flags[name]) == wanted)


def env_report(*, with_cuda: bool | None = None) -> EnvReport:
    """This process's reproducibility settings, and the fingerprint of torch and the machine.

    ``with_cuda`` asks every device present (the GPU: its name and driver) for its
    facts (:mod:`detaudit.devices`); by default only those already started, because
    asking CUDA starts it (and ``CUBLAS_WORKSPACE_CONFIG`` must be set before that).
    """
    asked = registry.present() if with_cuda else ()
    flags = torchstate.snapshot()
    mode, warn_only = flags["use_deterministic_algorithms"]
    settings = [
        _setting("use_deterministic_algorithms", mode, mode),
        # warn_only matters only while the mode is on (and torch 1.10 has none: None)
        _setting("warn_only", warn_only, None if not mode or warn_only is None else not warn_only),
        *(_flag(flags, name, wanted) for name, wanted in DETERMINISTIC_FLAGS.items()),
        _flag(flags, "inductor.deterministic", True),
    ]
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    settings.append(
        _setting("CUBLAS_WORKSPACE_CONFIG", cublas, cublas in CUBLAS_DETERMINISTIC_CONFIGS)
    )
    # Read at interpreter start, so only reported: this process cannot change it.
    hash_seed = os.environ.get("PYTHONHASHSEED")
    settings.append(_setting("PYTHONHASHSEED", hash_seed, hash_seed not in (None, "random")))
    return EnvReport(environment=fingerprint(asked), settings=tuple(settings))
