"""Turn a worker's answer record for one planned (entry, device) into a :class:`ProbeResult`. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..model.report import Observation, ProbeResult, Status
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


def _reach(
    planned: Planned, answer: RunAnswer, strict: Observation
) -> tuple[tuple[str, ...], tuple[str, ...], bool | None]:
    """Whether the strict run reached the entry's ``reaches`` ops (see :mod:`.reach`).

    (the ops it did not dispatch, those it dispatched that the first mode-off run did
    not, whether that run dispatched the missing ones): empty when it reached them all.
    """
    ops = answer.ops or {}
    ran = ops.get("strict")
    if not planned.entry.reaches or ran is None or strict.outcome not in ("ran", "alert"):
        return (), (), None
    missing = reach.unreached(planned.entry.reaches, ran)
    if not missing:
        return (), (), None
    off = ops.get("mode-off 1")
    found = None if off is None else not reach.unreached(missing, off)
    return missing, reach.instead(ran, off), found


def classify(planned: Planned, answer: RunAnswer | Lost) -> ProbeResult:
    """Classify what the worker observed; see :class:`~detaudit.model.report.Status`.

    The status is the strict run's. A later mode-on run that failed where the
    strict one ran makes it ``error``: the probe does not behave the same under
    the same mode, so no status can be trusted. Every later run that failed is
    kept in ``later`` either way. A probe that misused ``backward_phase()``
    (its backward-only run says how) is ``error`` too.
    """
    entry = planned.entry
    # What every result of this (entry, device) says, whatever its worker observed.
    base = ProbeResult(
        id=entry.id,
        api=entry.api,
        group=entry.group,
        condition=entry.condition,
        device=planned.device,
        pass_=entry.pass_,
        status=Status.ERROR,
        expected=planned.expected,
        expected_from=planned.expected_from,
        seconds=round(float(answer.seconds), 4),
        remedy=getattr(entry, "remedy", "") or None,
    )
    if isinstance(answer, Lost):
        status = Status.CRASHED if answer.crashed is not None else Status.TIMEOUT
        return replace(base, status=status, message=answer.why, stderr=answer.stderr or None)
    if answer.skip is not None:
        return replace(base, status=Status.SKIPPED, message=answer.skip)

    strict = answer.strict or Observation("error", message="no run")
    warn_only = answer.warn_only
    later = answer.later
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
    # A backward entry's backward-only run and the status it alone gives (forward: none).
    backward_only = answer.backward_only
    backward_only_status = _run_status(backward_only, planned) if backward_only else None
    if backward_only is not None and backward_only.exc_type == PHASE_MISUSE:
        # The probe is wrong, not the op: neither way can be trusted, and none differs.
        status, kernel, message = Status.ERROR, None, f"{PHASE_MISUSE}: {backward_only.message}"
    on, off = answer.digests_on, answer.digests_off
    unreached, instead, reached_without_mode = _reach(planned, answer, strict)
    return replace(
        base,
        status=status,
        drift=drift_of(status, planned.expected),
        kernel=kernel,
        message=message,
        strict=strict,
        warn_only=warn_only,
        runs_mode_on=len(on),
        runs_mode_off=len(off),
        distinct_on=_distinct(on),
        distinct_off=_distinct(off),
        digest=on[0] if on else None,
        later=later,
        cost=answer.cost,
        compiled=answer.compiled,
        backward_only=backward_only,
        backward_only_status=backward_only_status,
        unreached=unreached,
        instead=instead,
        reached_without_mode=reached_without_mode,
    )
