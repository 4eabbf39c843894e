"""Plan an audit: which (entry, device) pairs to run, each with its request and expectation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .. import devices as registry
from ..catalog import Catalog, Entry
from ..errors import EnvironmentUnsupported, UsageError
from ..model.vocabulary import Pass, Status
from .protocol import RunRequest

__all__ = [
    "COMPILES_SKIP",
    "MAX_TIMEOUT",
    "Planned",
    "check_seed_option",
    "check_timeout",
    "device_choices",
    "plan",
    "resolve_devices",
]

#: The longest ``timeout`` (a week, in seconds): the clock functions overflow far above it.
MAX_TIMEOUT = 7 * 24 * 3600


def check_timeout(timeout: float, *, option: str = "timeout") -> None:
    """A :class:`UsageError` unless ``timeout`` is a positive, finite number of seconds."""
    if not 0 < timeout <= MAX_TIMEOUT:  # NaN fails both comparisons
        raise UsageError(
            f"must be a positive, finite number of seconds (at most {MAX_TIMEOUT}), got {timeout}",
            option=option,
        )


def check_seed_option(seed: object) -> int:
    """``seed`` as an int, or a :class:`UsageError` unless every RNG a run seeds takes it.

    :func:`~detaudit.runner.probing.seed_all` seeds Python's, numpy's and
    torch's generators alike; numpy's takes the narrowest range, [0, 2**32 - 1]
    (torch's takes [-2**63, 2**64 - 1]), so a seed outside it would make every
    result ``error``.
    """
    from .probing import SEED_MAX, check_seed

    try:
        return check_seed(seed)
    except (TypeError, ValueError):
        raise UsageError(
            f"must be a whole number in [0, {SEED_MAX}] (numpy.random.seed's range; "
            f"every run seeds Python, numpy and torch with it), got {seed!r}",
            option="seed",
        ) from None


def device_choices() -> tuple[str, ...]:
    """What ``device`` takes: ``auto``, every registered device's name, ``all``."""
    return ("auto", *registry.names(), "all")


def resolve_devices(requested: str, present: Collection[str]) -> tuple[str, ...]:
    """Turn ``--device`` into the devices to audit; ``present``: those the worker's torch has.

    ``auto`` (the default) is every present device whose registry entry says
    ``auto``; ``all`` is every registered device, with results ``skipped`` where
    the device is absent; a device asked for by name and absent (``cuda``
    without a GPU, ``mps`` without Apple silicon's) is an
    :class:`EnvironmentUnsupported` error, not a report full of skips.
    """
    if requested == "auto":
        return tuple(i.name for i in registry.registered() if i.auto and i.name in present)
    if requested == "all":
        return registry.names()
    info = registry.find(requested)
    if info is None:
        raise UsageError(
            f"must be one of {', '.join(device_choices())}, got {requested!r}", option="device"
        )
    if info.name not in present:
        raise EnvironmentUnsupported(info.absent, option="device", also=("device",))
    return (info.name,)


@dataclass(frozen=True, slots=True)
class Planned:
    """One (entry, device) of an audit: the request a worker runs, and what the docs expect.

    The expectation is attached once, here, so classification never goes back
    into the catalogue.
    """

    entry: Entry
    device: str
    request: RunRequest
    expected: Status | None = None
    expected_from: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.entry.id, self.device


#: Why an entry whose probe compiles is not run without ``--compile``.
COMPILES_SKIP = (
    "the probe calls torch.compile: run it with `detaudit audit --compile` "
    "(a compile cache of the audit's own, and --compile-timeout more seconds)"
)


def plan(
    catalog: Catalog,
    devices: tuple[str, ...],
    torch_version: str,
    *,
    repeat: int,
    seed: int,
    cost: int | None = None,
    compile: str | None = None,
    compile_deterministic: bool = False,
    compile_timeout: float | None = None,
) -> list[Planned]:
    """One planned probe per (entry, device), in catalogue order, devices interleaved per entry.

    ``cost``: also time each probe with the mode off and on, ``cost`` runs each.
    ``compile``: also run each probe through ``torch.compile`` with this backend,
    for ``compile_timeout`` seconds at most.
    """
    planned = []
    for entry in catalog:
        for device in devices:
            expected, basis = catalog.expected(entry, device, torch_version)
            request = RunRequest(
                id=entry.id,
                probe=entry.probe,
                probe_path=entry.probe_path,
                probe_args=entry.args_dict() or None,
                device=str(device),  # the wire carries plain strings
                repeat=repeat,
                seed=seed,
                cost=cost or None,
                # An entry that compiles itself is its own compiled observation.
                compile=None if entry.compiles else compile,
                compile_deterministic=compile_deterministic,
                compile_timeout=compile_timeout if compile and not entry.compiles else None,
                skip=COMPILES_SKIP if entry.compiles and not compile else None,
                env=dict(entry.env) or None,  # the caller's own value stays in the report's env
                backward_only=entry.pass_ == Pass.BACKWARD,  # observed two ways
                reaches=entry.reaches,
            )
            planned.append(Planned(entry, device, request, expected, basis))
    return planned
