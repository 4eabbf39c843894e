"""Sweep PyTorch's OpInfo database under deterministic mode and find the ops that alert.

The parent side of ``detaudit discover``: it plans one request per op, runs
them in the audit's isolated workers (:class:`~detaudit.runner.pool.WorkerPool`;
the OpInfo side is :mod:`detaudit.docs.opinfo`), and marks each alert the
catalogue does not cover. Coverage comes from the catalogue's data: an entry
covers an alert on a device it lists when its API names the op (``torch.nn.
MaxUnpool2d`` and ``nn.functional.max_unpool2d`` both give ``max_unpool2d``)
or when the alert's kernel starts with that name (``reflection_pad1d_backward``),
or when the entry's ``kernels`` (PyTorch's alert names, as data) hold it.
This process never imports torch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import devices as registry
from ..catalog import Catalog, load_catalog
from ..errors import EnvironmentUnsupported, UsageError, WorkerError
from ..model.vocabulary import Pass, Status
from ..options import AuditOptions
from ..runner.pool import WorkerPool
from ..runner.protocol import (
    Lost,
    OpInfoListAnswer,
    OpInfoListRequest,
    OpInfoSweepAnswer,
    OpInfoSweepRequest,
)
from ..runner.spec import resolve_devices

__all__ = [
    "Alert",
    "Discovery",
    "OpAlerts",
    "covering_entries",
    "discover",
    "emit_catalog",
]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Alert:
    """One kind of alert an op gave: a pass, a status and the kernel it named."""

    pass_: Pass
    status: Status  # raises | warns
    kernel: str
    count: int  # samples that gave it
    first_sample: int
    sample: str  # the first such sample, as OpInfo summarises it
    message: str
    covered_by: tuple[str, ...] = ()  # catalogue entry ids

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON."""
        return {
            "pass": self.pass_,
            "status": self.status,
            "kernel": self.kernel,
            "count": self.count,
            "first_sample": self.first_sample,
            "sample": self.sample,
            "message": self.message,
            "covered_by": list(self.covered_by),
        }


@dataclass(frozen=True, slots=True)
class OpAlerts:
    """An OpInfo op whose run alerted, with every alert it gave."""

    id: str  # op name, plus ".variant"
    name: str
    variant: str
    api: str
    dtype: str
    samples: int
    alerts: tuple[Alert, ...]

    @property
    def covered(self) -> bool:
        """True when the catalogue covers every alert of the op."""
        return all(alert.covered_by for alert in self.alerts)

    def to_dict(self) -> dict[str, Any]:
        """The op as JSON."""
        return {
            "id": self.id,
            "name": self.name,
            "variant": self.variant,
            "api": self.api,
            "dtype": self.dtype,
            "samples": self.samples,
            "covered": self.covered,
            "alerts": [a.to_dict() for a in self.alerts],
        }


@dataclass(frozen=True, slots=True)
class Discovery:
    """The outcome of one sweep."""

    torch: str
    device: str
    seconds: float
    ops: int  # ops swept
    samples: int  # samples run forward
    backward: int  # samples also run backward
    errors: int  # runs that failed with an exception other than an alert
    alerting: tuple[OpAlerts, ...]
    failures: tuple[tuple[str, str], ...] = ()  # (op id, why): crashed, timed out, no samples
    errored: tuple[tuple[str, int, str], ...] = ()  # (op id, runs that failed, first message)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def uncovered(self) -> list[OpAlerts]:
        """Alerting ops with an alert the catalogue does not cover."""
        return [op for op in self.alerting if not op.covered]

    def to_dict(self) -> dict[str, Any]:
        """The sweep as JSON."""
        return {
            "torch": self.torch,
            "device": self.device,
            "seconds": round(self.seconds, 2),
            "ops": self.ops,
            "samples": self.samples,
            "backward": self.backward,
            "errors": self.errors,
            "alerting": [op.to_dict() for op in self.alerting],
            "uncovered": [op.id for op in self.uncovered],
            "failures": [{"op": op, "why": why} for op, why in self.failures],
            "errored": [
                {"op": op, "runs": runs, "first": first} for op, runs, first in self.errored
            ],
            "settings": dict(self.settings),
        }


# --------------------------------------------------------------------------- coverage


def _snake(name: str) -> str:
    """``MaxUnpool2d`` -> ``max_unpool2d``, ``NLLLoss`` -> ``nll_loss``, ``put_`` -> ``put``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower().strip("_")


def _key(dotted: str) -> str:
    return _snake(dotted.rsplit(".", 1)[-1])


def covering_entries(
    catalog: Catalog, names: Sequence[str], kernel: str, device: str
) -> tuple[str, ...]:
    """Ids of the entries that cover an alert of the op called ``names`` on ``device``.

    ``names`` are the op's OpInfo name and aliases. An entry covers it when it
    lists ``device`` and its API's last part names the op, or the alert's
    ``kernel`` is that name or starts with it and an underscore, or is one of
    the entry's ``kernels``.
    """
    op_keys = {_key(n) for n in names}
    named, kernel = kernel, kernel.strip("_")
    found = []
    for entry in catalog:
        key = _key(entry.api)
        if not entry.silent and device in entry.devices and (
            key in op_keys
            or kernel == key
            or kernel.startswith(key + "_")
            or _names_kernel(entry.kernels, named)
        ):
            found.append(entry.id)
    return tuple(found)


def _names_kernel(kernels: Sequence[str], named: str) -> bool:
    """Whether an entry's ``kernels`` (PyTorch's alert names) hold the one an alert named.

    The alert's whole name is the kernel (``detaudit.runner.probing.alert_kernel``):
    "median CUDA with indices output", not its last word.
    """
    return named in kernels


def _op_alerts(catalog: Catalog, op: str, answer: OpInfoSweepAnswer, device: str) -> OpAlerts:
    names = [answer.name, *answer.aliases]
    return OpAlerts(
        id=op,
        name=answer.name,
        variant=answer.variant,
        api=answer.api,
        dtype=answer.dtype or "",
        samples=answer.samples,
        alerts=tuple(
            Alert(
                pass_=Pass(a.pass_),
                status=Status(a.status),
                kernel=a.kernel,
                count=a.count,
                first_sample=a.first_sample,
                sample=a.sample,
                message=a.message,
                covered_by=covering_entries(catalog, names, a.kernel, device),
            )
            for a in answer.alerts
        ),
    )


# --------------------------------------------------------------------------- the sweep


def _failure(answer: Any) -> str:
    if isinstance(answer, Lost):
        return answer.why
    return getattr(answer, "message", None) or "no answer"


def discover(
    options: AuditOptions | None = None,
    *,
    ops: Sequence[str] = (),
    samples: int | None = None,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
    **given: Any,
) -> Discovery:
    """Run every OpInfo op (or those ``ops`` names) under deterministic mode in workers.

    ``options`` (or its fields as keywords) give the device (default ``cpu``;
    one device, not ``auto`` or ``all``), catalogues, timeout, jobs, Python and
    seed. ``samples`` limits the samples per op (all by default). ``progress(op,
    done, total)`` is called as each op finishes. Raises
    :class:`~detaudit.errors.EnvironmentUnsupported` when the OpInfo database
    cannot be imported (``expecttest`` missing) or CUDA is asked for and absent,
    :class:`~detaudit.errors.UsageError` for an unknown op or bad limits.
    """
    if options is None:
        options = AuditOptions(**{"device": "cpu", **given})
    elif given:
        options = options.but(**given)
    device, timeout, jobs, python, seed = (
        options.device, options.timeout, options.jobs, options.python, options.seed
    )  # fmt: skip
    if not registry.known(device):
        raise UsageError(
            f"must be one of {', '.join(registry.names())}, got {device!r}", option="device"
        )
    if samples is not None and samples < 1:
        raise UsageError(f"must be at least 1, got {samples}", option="samples")
    started = time.perf_counter()
    # One worker first (it lists the ops); one more per op to sweep, up to ``jobs``.
    with WorkerPool(1, python=python, timeout=timeout) as pool:
        if catalog is None:
            catalog = load_catalog(options.catalogs, builtin=options.builtin)
        hello = pool.wait_ready()
        (device,) = resolve_devices(device, hello.devices)
        listing = pool.ask(OpInfoListRequest(ops=tuple(ops)))
        if not isinstance(listing, OpInfoListAnswer):
            raise WorkerError(f"listing the OpInfo database failed: {_failure(listing)}")
        if listing.unavailable:
            raise EnvironmentUnsupported(f"detaudit discover: {listing.unavailable}")
        if listing.unknown:
            raise UsageError(
                f": no OpInfo op {', '.join(map(repr, listing.unknown))} in torch "
                f"{hello.torch} (names as in op_db, e.g. put, nn.functional.max_unpool2d)",
                option="ops",
            )
        requests = [
            OpInfoSweepRequest(id=op, device=str(device), samples=samples, seed=seed)
            for op in listing.ops
        ]
        pool.grow(min(jobs, len(requests)))
        answers: dict[str, Any] = {}
        for answer in pool.ask_all(requests):
            answers[answer.id] = answer
            if progress is not None:
                progress(answer.id, len(answers), len(requests))

    alerting, failures, errored = [], [], []
    totals = {"samples": 0, "backward": 0, "errors": 0}
    for request in requests:
        op, answer = request.id, answers[request.id]
        if not isinstance(answer, OpInfoSweepAnswer):
            failures.append((op, _failure(answer)))
            continue
        for key in totals:
            totals[key] += getattr(answer, key)
        if answer.skip is not None:
            failures.append((op, answer.skip))
        if answer.errors:
            errored.append((op, answer.errors, answer.error or ""))
        if answer.alerts:
            alerting.append(_op_alerts(catalog, op, answer, device))
    return Discovery(
        torch=hello.torch,
        device=device,
        seconds=time.perf_counter() - started,
        ops=len(requests),
        alerting=tuple(alerting),
        failures=tuple(failures),
        errored=tuple(errored),
        settings={"ops": list(ops), "samples": samples, "seed": seed, "timeout": timeout},
        **totals,
    )


# --------------------------------------------------------------------------- --emit-yaml


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower()
    return name if name and not name[0].isdigit() else f"m_{name}"


def emit_catalog(found: Discovery, yaml_path: str | Path) -> dict[Path, str]:
    """Catalogue entries for the uncovered alerts: ``{path: text}`` for the YAML and its probes.

    One ``raises`` entry per (op, pass, kernel) not covered, probed by one small
    function in ``<stem>_probes.py`` beside the YAML that runs the alerting
    OpInfo sample through :func:`detaudit.docs.opinfo.sample_probe`. Empty when
    every alert is covered.
    """
    yaml_path = Path(yaml_path)
    module = f"{_identifier(yaml_path.stem)}_probes"
    entries: list[dict[str, Any]] = []
    functions: list[str] = []
    for op in found.uncovered:
        for a in op.alerts:
            if a.covered_by:
                continue
            entry_id = f"opinfo.{op.id}.{a.pass_}".lower()
            if any(e["id"] == entry_id for e in entries):  # one pass, several kernels
                entry_id = f"{entry_id}.{a.kernel}".lower()
            entry_id = re.sub(r"[^a-z0-9._-]+", "-", entry_id)
            function = _identifier(entry_id.removeprefix("opinfo."))
            how = "raised" if a.status == "raises" else "warned (in strict mode)"
            entries.append(
                {
                    "id": entry_id,
                    "api": op.api,
                    "condition": f"OpInfo sample {a.first_sample} ({op.dtype}): {a.sample}",
                    # plain strings: yaml.safe_dump cannot represent an enum
                    "devices": [str(found.device)],
                    "pass": str(a.pass_),
                    "probe": f"{module}:{function}",
                    "source": f"detaudit discover on torch {found.torch} ({found.device})",
                    "notes": (
                        f"{how} {a.kernel} in {a.count} of {op.samples} OpInfo samples; "
                        "written by detaudit discover: review the condition before keeping it"
                    ),
                }
            )
            functions.append(
                f"def {function}(device):\n"
                f'    """{op.id}, OpInfo sample {a.first_sample} ({op.dtype}), {a.pass_}: '
                f'{how} {a.kernel}."""\n'
                f"    return sample_probe({op.id!r}, {a.first_sample}, {str(a.pass_)!r}, "
                f"{op.dtype!r}, device)\n"
            )
    if not entries:
        return {}
    header = (
        f"# Written by `detaudit discover` (torch {found.torch}, {found.device}): OpInfo ops\n"
        "# that alerted under deterministic mode and that the catalogue did not cover.\n"
        f"# Probes: {module}.py beside this file. Check with `detaudit catalog validate`.\n"
    )
    body = yaml.safe_dump({"raises": entries}, sort_keys=False, width=100, allow_unicode=True)
    probes = (
        f'"""Probes for {yaml_path.name}, written by `detaudit discover`: '
        'each runs one OpInfo sample."""\n\n'
        "from detaudit.docs.opinfo import sample_probe\n\n\n" + "\n\n".join(functions)
    )
    return {yaml_path: header + body, yaml_path.with_name(f"{module}.py"): probes}
