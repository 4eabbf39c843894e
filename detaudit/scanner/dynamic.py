"""The dynamic scan: every aten op the user's code dispatches, matched to the catalogue, with its line.

Modelled on ``torch/utils/flop_counter.py``: a public context manager
(:func:`scan`) over a private ``TorchDispatchMode``
(:mod:`detaudit.scanner.mode`) that consults a registry keyed by aten op
(:class:`~detaudit.scanner.matching.Matcher`). Unlike the audit, this runs in
the user's process, so it imports torch; the private torch names it needs are
resolved when a scan starts (:mod:`detaudit.scanner.torchapi`).

Alerts: the code runs under ``use_deterministic_algorithms(True, warn_only=True)``,
so an op that would raise only warns and the code runs to the end; the mode
records each alert on the op being dispatched. The user's flags are restored
afterwards.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from .. import devices as registry
from .. import torchstate
from ..catalog import Catalog, load_catalog
from ..errors import ReportError, UsageError
from ..frames import Frames
from ..model import reportfile
from ..model.report import Report
from ..runner.probing import alert_kernel
from .findings import assemble
from .matching import Matcher
from .mode import ScanMode, scan_mode
from .records import Hit, ScanResult
from .signatures import load_signatures
from .torchapi import scan_api

__all__ = ["Findings", "load_report", "scan"]

#: The flags the scan changes, and so restores.
_OWN_FLAGS = ("use_deterministic_algorithms",)
#: Messages of torch's nondeterministic alerts (see detaudit.runner.probing.alert_kernel).
_ALERT_MESSAGE = r"(?s).*(does not have a deterministic implementation|uses CuBLAS)"


def load_report(report: str | Path | Report) -> tuple[Report, str]:
    """A report and where it came from; a missing or bad file is a :class:`ReportError`."""
    if isinstance(report, Report):
        return report, "report"
    try:
        return reportfile.load_report(report), str(report)
    except ReportError as exc:
        raise ReportError(str(exc), option="report") from None


class Findings:
    """What a scan has found: live while its ``with`` block runs, final after it ends.

    ``findings.result`` is a :class:`~detaudit.scanner.records.ScanResult`;
    ``findings.hits`` its hits.
    """

    def __init__(
        self,
        catalog: Catalog,
        mode: ScanMode,
        reports: Sequence[tuple[Report, str]],
        device: str | None,
        observe: bool,
        census: dict[str, set[str]] | None = None,
    ) -> None:
        self._catalog = catalog
        self._mode = mode
        self._reports = list(reports)
        self._device = device
        self._observe = observe
        self._final: ScanResult | None = None
        self._census = census

    @property
    def result(self) -> ScanResult:
        """The scan's result (a snapshot while the scan still runs)."""
        return self._final if self._final is not None else self._build()

    @property
    def hits(self) -> tuple[Hit, ...]:
        """Every hit, in the order the ops first ran."""
        return self.result.hits

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def _finish(self) -> None:
        self._final = self._build()

    def _build(self) -> ScanResult:
        mode = self._mode
        return assemble(
            self._catalog,
            mode.matcher,
            mode.counts,
            mode.alerts,
            self._reports,
            self._device,
            self._observe,
            self._census,
        )


@functools.cache
def _census_alerts(python: str | None) -> dict[str, set[str]] | None:
    """Device -> the alert names of this build's sites, from a census an audit cached; or None."""
    from ..sites.audited import cached_census

    census = cached_census(python)
    if census is None:
        return None
    alerts: dict[str, set[str]] = {}
    compiled: set[str] = set()  # devices with a site in a compiled library, not only in Python
    for site in census.sites:
        alerts.setdefault(str(site.device), set()).add(site.alert)
        if not site.library.endswith(".py"):
            compiled.add(str(site.device))
    if census.cublas_check:
        alerts.setdefault("cuda", set()).add("cublas")
        compiled.add("cuda")
    # a CPU wheel's census holds the CUDA sites of torch's Python files only: it cannot say
    # whether a CUDA kernel's site is there, so it says nothing for that device
    return {device: names for device, names in alerts.items() if device in compiled}


@contextmanager
def scan(
    *,
    catalogs: Sequence[str | Path] = (),
    builtin: bool = True,
    catalog: Catalog | None = None,
    reports: Sequence[str | Path | Report] = (),
    device: str | None = None,
    observe: bool = True,
    python: str | None = None,
) -> Iterator[Findings]:
    """Scan the code run inside the ``with`` block for catalogued ops.

    ``with detaudit.scan(reports=["gpu.json"]) as found: train_step()``; then
    ``found.hits`` lists each catalogued op once per place with its entry,
    aten op, pass, device, call count, source line, and what deterministic
    mode did here (``observe``: run under ``warn_only`` and record alerts) and
    on each report's machine (on ``device``, default cuda where the report
    has it). The user's deterministic flag is restored afterwards.

    The first scan with a given torch traces every probe in a worker (seconds)
    and caches what they dispatched; see :mod:`detaudit.scanner.signatures`.
    """
    if device is not None and not registry.known(device):
        raise UsageError(
            f"must be {' or '.join(registry.names())}, got {device!r}", option="device"
        )
    api = scan_api()  # a torch without the names the scan needs fails before anything loads
    if catalog is None:
        catalog = load_catalog(catalogs, builtin=builtin)
    loaded = [load_report(r) for r in reports]
    matcher = Matcher(catalog, load_signatures(catalog, torch.__version__, python=python))
    mode = scan_mode(api, matcher, Frames(), observe)
    findings = Findings(catalog, mode, loaded, device, observe, _census_alerts(python))
    saved = torchstate.snapshot()
    own = {name: saved[name] for name in _OWN_FLAGS}
    user_warns = bool(saved["use_deterministic_algorithms"][0])
    with warnings.catch_warnings():
        original = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            kernel = alert_kernel(str(message))
            if kernel is not None:
                mode.alert(kernel)
            if kernel is None or user_warns:  # alerts we caused are ours to report, not print
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        warnings.filterwarnings("always", message=_ALERT_MESSAGE)
        if observe:
            torchstate.set_deterministic_algorithms(True, warn_only=True)
        try:
            with mode:
                yield findings
        finally:
            mode.pending = []
            torchstate.restore(own)
            findings._finish()
