"""The options of one audit, defined once: the CLI builds them, the API, fleet and discover take them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import UsageError
from .runner.spec import check_seed_option, check_timeout, device_choices

__all__ = ["COMPILE_TIMEOUT", "DEFAULT_REPEAT", "AuditOptions"]

#: Runs with the mode on (the strict one included) and with it off, per entry and device.
#: Five of each keep a full CPU audit within 2.5x a bare ``import torch``
#: (benchmarks/audit_vs_import.py) while giving races five chances to show.
DEFAULT_REPEAT = 5

#: Seconds an entry may take on top of ``timeout`` with ``compile``: a worker's first
#: compile with the audit's empty cache took 27 s on the 2-core build machine.
COMPILE_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """What one audit runs and how; checked once, when built (a bad value is a UsageError).

    The error names the field (``option="timeout"``), never a command-line flag:
    the CLI words it. ``discover`` reads ``device``, ``catalogs``, ``builtin``,
    ``timeout``, ``jobs``, ``python`` and ``seed``; the rest are the audit's.
    """

    device: str = "auto"
    catalogs: tuple[str, ...] = ()
    builtin: bool = True
    only: tuple[str, ...] = ()
    repeat: int = DEFAULT_REPEAT
    timeout: float = 60.0
    jobs: int = 1
    #: The interpreter the probe workers run under (it needs torch); None: this one.
    python: str | None = None
    seed: int = 0
    #: Also time each entry, ``cost`` runs with the mode off and ``cost`` on; None: no timing.
    cost: int | None = None
    #: Also run each probe through ``torch.compile`` with this backend; None: eager only.
    compile: str | None = None
    compile_deterministic: bool = False
    compile_timeout: float = COMPILE_TIMEOUT
    #: Read the audited torch's libraries for the alert names no entry probed.
    census: bool = True

    def __post_init__(self) -> None:
        # Sequences arrive as lists from the CLI and the API: the record keeps tuples
        # (one path or id given alone is one, not its characters).
        object.__setattr__(self, "catalogs", tuple(str(c) for c in _several(self.catalogs)))
        object.__setattr__(self, "only", tuple(_several(self.only)))
        if self.device not in device_choices():
            raise UsageError(
                f"must be one of {', '.join(device_choices())}, got {self.device!r}",
                option="device",
            )
        _at_least_one("repeat", self.repeat)
        check_timeout(self.timeout)
        object.__setattr__(self, "seed", check_seed_option(self.seed))
        _at_least_one("jobs", self.jobs)
        if self.cost is not None:
            _at_least_one("cost", self.cost, " run")
        if self.compile is not None:
            if not self.compile.strip():
                raise UsageError(
                    "needs a backend name, e.g. {0}=inductor", option="compile", also=("compile",)
                )
            check_timeout(self.compile_timeout, option="compile_timeout")
        elif self.compile_deterministic:
            raise UsageError("needs {0}", option="compile_deterministic", also=("compile",))

    def but(self, **changes: Any) -> AuditOptions:
        """A copy with ``changes``, checked again."""
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The options as the report's ``settings`` record them (the keys reports have)."""
        settings: dict[str, Any] = {
            "device": self.device,
            "repeat": self.repeat,
            "timeout": self.timeout,
            "seed": self.seed,
            "only": list(self.only),
            "catalogs": list(self.catalogs),
            "builtin": self.builtin,
            "jobs": self.jobs,
        }
        if self.cost:
            settings["cost_runs"] = self.cost
        if self.compile:
            settings.update(
                compile=self.compile,
                compile_deterministic=self.compile_deterministic,
                compile_timeout=self.compile_timeout,
            )
        return settings

    def absolute(self) -> AuditOptions:
        """The same options with every catalogue path absolute (for a job run elsewhere)."""
        return self.but(catalogs=tuple(str(Path(c).expanduser().absolute()) for c in self.catalogs))


def _several(value: Any) -> Any:
    return (value,) if isinstance(value, (str, Path)) else value


def _at_least_one(name: str, value: object, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"must be at least 1{unit}, got {value!r}", option=name)
