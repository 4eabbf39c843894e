"""Turn a worker's raw outcome for one (entry, device) into a :class:`ProbeResult`. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import Entry
from ..results import Cost, Observation, ProbeResult, Status

__all__ = ["classify", "drift_of"]


def drift_of(status: Status, expected: str | None) -> bool | None:
    """True when an observed status differs from the documented one; None if either is unknown."""
    if expected is None or not status.observed:
        return None
    return status.value != expected


def _same(digests: list[str]) -> bool | None:
    """Did every sample give the same bits? None with fewer than two samples."""
    return len(set(digests)) == 1 if len(digests) >= 2 else None


def classify(
    entry: Entry,
    device: str,
    raw: Mapping[str, Any],
    *,
    expected: str | None = None,
    expected_from: str | None = None,
) -> ProbeResult:
    """Classify what the worker observed; see :class:`~detaudit.results.Status`."""
    common = {
        "id": entry.id,
        "api": entry.api,
        "group": entry.group,
        "condition": entry.condition,
        "device": device,
        "pass_": entry.pass_,
        "expected": expected,
        "expected_from": expected_from,
        "seconds": round(float(raw.get("seconds", 0.0)), 4),
    }
    if "skip" in raw:
        return ProbeResult(status=Status.SKIPPED, message=raw["skip"], **common)
    if "crashed" in raw:
        return ProbeResult(
            status=Status.CRASHED,
            message=raw["crashed"],
            stderr=raw.get("stderr") or None,
            **common,
        )
    if "timeout" in raw:
        return ProbeResult(
            status=Status.TIMEOUT,
            message=f"still running after {raw['timeout']:g} s; worker killed",
            stderr=raw.get("stderr") or None,
            **common,
        )

    strict = Observation.from_dict(raw["strict"])
    warn_only = Observation.from_dict(raw["warn_only"]) if raw.get("warn_only") else None
    kernel = strict.kernel
    message = strict.message
    if strict.outcome == "alert":
        status = Status.RAISES
    elif strict.outcome == "error":
        status = Status.ERROR
        message = f"{strict.exc_type}: {strict.message}"
    elif strict.warnings:
        status = Status.WARNS
        message = strict.warnings[0]
    else:
        status = Status.CONVERTS if device in entry.devices else Status.OK
    on, off = list(raw.get("digests_on", ())), list(raw.get("digests_off", ()))
    off_same = _same(off)
    timed = raw.get("cost") or {}
    cost = Cost.from_samples(timed["off"], timed["on"]) if timed.get("off") else None
    return ProbeResult(
        status=status,
        drift=drift_of(status, expected),
        kernel=kernel,
        message=message,
        repeatable=_same(on),
        varies_without_mode=None if off_same is None else not off_same,
        strict=strict,
        warn_only=warn_only,
        runs_mode_on=len(on),
        runs_mode_off=len(off),
        cost=cost,
        **common,
    )
