"""Turn a worker's answer for one planned (entry, device) into a :class:`ProbeResult`. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from ..model.report import Compiled, Cost, Observation, ProbeResult, Status
from ..model.vocabulary import clean_run_status
from . import reach
from .protocol import PHASE_MISUSE, Lost, RunAnswer
from .spec import Planned

__all__ = ["classify", "drift_of"]


def drift_of(status: Status, expected: Status | None) -> bool | None:
    """True when an observed status differs from the documented one; None if either is unknown."""
    if expected is None or not status.observed:
        return None
    return status != expected


def _distinct(digests: Sequence[str]) -> int | None:
    """How many different bit patterns the runs gave; None when no run returned."""
    return len(set(digests)) if digests else None


def _failed_mode_on(later: Sequence[Observation]) -> Observation | None:
    """The first warn-only run after the first that failed (an error where the first ran)."""
    return next(
        (
            o
            for o in later
            if (o.run or "").startswith("warn-only") and o.outcome in ("error", "skipped")
        ),
        None,
    )


def _run_status(obs: Observation, planned: Planned) -> Status | None:
    """The status one run gives; None when it observed nothing (skipped, ``unobserved``).

    The strict run and the backward-only run are read alike, so the two can be compared.
    """
    if obs.outcome == "alert":
        return Status.RAISES
    if obs.outcome == "error":
        return Status.ERROR
    if obs.outcome != "ran":
        return None
    if obs.warnings:
        return Status.WARNS
    return clean_run_status(planned.device, planned.entry.covered)


def _backward_only(planned: Planned, answer: RunAnswer) -> dict[str, object]:
    """The backward-only observation and the status it alone gives (none for forward entries)."""
    if not answer.backward_only:
        return {}
    obs = Observation.from_dict(answer.backward_only)
    return {"backward_only": obs, "backward_only_status": _run_status(obs, planned)}


def _reach(planned: Planned, answer: RunAnswer, strict: Observation) -> dict[str, object]:
    """Whether the strict run reached the entry's ``reaches`` ops (see :mod:`.reach`)."""
    ops = answer.ops or {}
    ran = ops.get("strict")
    if not planned.entry.reaches or ran is None or strict.outcome not in ("ran", "alert"):
        return {}
    missing = reach.unreached(planned.entry.reaches, ran)
    if not missing:
        return {}
    off = ops.get("mode-off 1")
    return {
        "unreached": missing,
        "instead": reach.instead(ran, off),
        "reached_without_mode": None if off is None else not reach.unreached(missing, off),
    }


def classify(planned: Planned, answer: RunAnswer | Lost) -> ProbeResult:
    """Classify what the worker observed; see :class:`~detaudit.model.report.Status`.

    The status is the strict run's. A later mode-on run that failed where the
    strict one ran makes it ``error``: the probe does not behave the same under
    the same mode, so no status can be trusted. Every later run that failed is
    kept in ``later`` either way. A probe that misused ``backward_phase()``
    (its backward-only run says how) is ``error`` too.
    """
    entry = planned.entry
    common = {
        "id": entry.id,
        "api": entry.api,
        "group": entry.group,
        "condition": entry.condition,
        "device": planned.device,
        "pass_": entry.pass_,
        "expected": planned.expected,
        "expected_from": planned.expected_from,
        "seconds": round(float(answer.seconds), 4),
        "remedy": getattr(entry, "remedy", "") or None,
    }
    if isinstance(answer, Lost):
        status = Status.CRASHED if answer.crashed is not None else Status.TIMEOUT
        return ProbeResult(
            status=status, message=answer.why, stderr=answer.stderr or None, **common
        )
    if answer.skip is not None:
        return ProbeResult(status=Status.SKIPPED, message=answer.skip, **common)

    strict = Observation.from_dict(answer.strict or {"outcome": "error", "message": "no run"})
    warn_only = Observation.from_dict(answer.warn_only) if answer.warn_only else None
    later = tuple(Observation.from_dict(o) for o in answer.later)
    kernel = strict.kernel
    message = strict.message
    status = _run_status(strict, planned) or Status.ERROR  # a strict run always observes
    if status is Status.ERROR:
        message = f"{strict.exc_type}: {strict.message}"
    elif status is Status.WARNS:
        message = strict.warnings[0]
    failed = _failed_mode_on(
        ([warn_only] if warn_only and warn_only.outcome == "error" else []) + list(later)
    )
    if failed is not None and status in (Status.CONVERTS, Status.OK, Status.WARNS):
        status = Status.ERROR
        message = (
            f"the strict run ran, but {failed.run} failed: {failed.exc_type}: {failed.message}"
        )
    backward_only = _backward_only(planned, answer)
    misused = backward_only.get("backward_only")
    if isinstance(misused, Observation) and misused.exc_type == PHASE_MISUSE:
        # The probe is wrong, not the op: neither way can be trusted, and none differs.
        status, kernel, message = Status.ERROR, None, f"{PHASE_MISUSE}: {misused.message}"
    on, off = list(answer.digests_on), list(answer.digests_off)
    distinct_on, distinct_off = _distinct(on), _distinct(off)
    timed = answer.cost or {}
    cost = Cost.from_samples(timed["off"], timed["on"]) if timed.get("off") else None
    return ProbeResult(
        status=status,
        drift=drift_of(status, planned.expected),
        kernel=kernel,
        message=message,
        repeatable=distinct_on == 1 if len(on) >= 2 else None,
        varies_without_mode=distinct_off > 1 if len(off) >= 2 else None,
        strict=strict,
        warn_only=warn_only,
        runs_mode_on=len(on),
        runs_mode_off=len(off),
        distinct_on=distinct_on,
        distinct_off=distinct_off,
        digest=on[0] if on else None,
        later=later,
        cost=cost,
        compiled=Compiled.from_dict(answer.compiled) if answer.compiled else None,
        **backward_only,
        **_reach(planned, answer, strict),
        **common,
    )
