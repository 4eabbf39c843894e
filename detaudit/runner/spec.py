"""Plan an audit: which (entry, device) pairs to run, as primitive task dicts."""

from __future__ import annotations

from typing import Any

from ..catalog import Catalog, Entry
from ..errors import EnvironmentUnsupported, UsageError

__all__ = ["DEVICE_CHOICES", "plan", "resolve_devices", "task_for"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "all")


def resolve_devices(requested: str, cuda_available: bool) -> tuple[str, ...]:
    """Turn ``--device`` into the devices to audit.

    ``auto`` (the default) is every device present; ``all`` is cpu and cuda,
    with cuda results ``skipped`` when there is no GPU; ``cuda`` without a GPU
    is an :class:`EnvironmentUnsupported` error, not a report full of skips.
    """
    if requested == "auto":
        return ("cpu", "cuda") if cuda_available else ("cpu",)
    if requested == "all":
        return ("cpu", "cuda")
    if requested == "cuda" and not cuda_available:
        raise EnvironmentUnsupported(
            "--device cuda: this torch sees no CUDA device (torch.cuda.is_available() is False); "
            "run on a GPU machine or use --device cpu"
        )
    if requested in ("cpu", "cuda"):
        return (requested,)
    raise UsageError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {requested!r}")


def task_for(
    entry: Entry, device: str, *, repeat: int, seed: int, cost: int | None = None
) -> dict[str, Any]:
    """The request a worker needs to run ``entry`` on ``device``: primitives only.

    ``cost``: also time the probe with the mode off and on, ``cost`` runs each.
    """
    task = {
        "type": "run",
        "id": entry.id,
        "probe": entry.probe,
        "probe_path": entry.probe_path,
        "device": device,
        "repeat": repeat,
        "seed": seed,
    }
    if cost:
        task["cost"] = cost
    return task


def plan(
    catalog: Catalog,
    devices: tuple[str, ...],
    *,
    repeat: int,
    seed: int,
    cost: int | None = None,
) -> list[dict[str, Any]]:
    """One task per (entry, device), in catalogue order, devices interleaved per entry."""
    return [
        task_for(entry, device, repeat=repeat, seed=seed, cost=cost)
        for entry in catalog
        for device in devices
    ]
