"""The dynamic scan: every aten op the user's code dispatches, matched to the catalogue, with its line.

Modelled on ``torch/utils/flop_counter.py``: a public context manager
(:func:`scan`) over a private ``TorchDispatchMode`` that consults a registry
keyed by aten op (:class:`~detaudit.scanner.matching.Matcher`). Unlike the
audit, this runs in the user's process, so it imports torch.

Source lines: a forward op is located at the first frame of user code on the
stack (frames inside torch, detaudit and the standard library are skipped).
For a backward op, that forward location is left in the metadata of the
autograd node the forward op created; during backward,
``torch._C._current_autograd_node()`` names the node being run, so its
backward ops report the forward line.

Alerts: the code runs under ``use_deterministic_algorithms(True, warn_only=True)``,
so an op that would raise only warns and the code runs to the end. Each op is
called through ``torch._C._disabled_torch_function_impl``, a C entry point that
flushes torch's warnings when the op returns, so an alert is seen while its
op is still the one being dispatched. The user's flags are restored afterwards.
"""

from __future__ import annotations

import os
import re
import runpy
import site
import sys
import sysconfig
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .. import torchstate
from ..catalog import Catalog, load_catalog
from ..errors import ReportError, UsageError
from ..model import reportfile
from ..model.report import Report
from ..model.vocabulary import DEVICES, Status, clean_run_status
from ..render.markdown import title
from ..runner.probing import alert_kernel
from .matching import Matcher, report_device, status_in
from .records import Elsewhere, Hit, ReportRef, ScanResult
from .signatures import load_signatures, op_key
from .trace import bound_arguments, feature

__all__ = ["Findings", "Program", "load_report", "run_program", "scan"]

#: Metadata key under which a forward op's user location is left on its autograd node.
NODE_LOCATION = "detaudit.location"
#: The flags the scan changes, and so restores.
_OWN_FLAGS = ("use_deterministic_algorithms",)
#: Messages of torch's nondeterministic alerts (see detaudit.runner.probing.alert_kernel).
_ALERT_MESSAGE = r"(?s).*(does not have a deterministic implementation|uses CuBLAS)"

_call = torch._C._disabled_torch_function_impl
_current_node = torch._C._current_autograd_node
_grad_enabled = torch.is_grad_enabled
_Location = tuple[str, int, str]


def _op_label(func: Any) -> str:
    """``aten::index_add_``, or ``aten::median.dim`` when the overload is not the default."""
    name, overload = func._schema.name, func._overloadname
    return name if overload in ("default", "") else f"{name}.{overload}"


def _device_of(args: Sequence[Any]) -> str:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device.type
        if isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, torch.Tensor):
                    return item.device.type
    return "cpu"


def _needs_grad(args: Sequence[Any]) -> bool:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            if arg.requires_grad:
                return True
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, torch.Tensor) and item.requires_grad:
                    return True
    return False


class _Frames:
    """Find the innermost frame of user code: not torch, not detaudit, not the standard library."""

    def __init__(self) -> None:
        skip = [Path(torch.__file__).parent, Path(__file__).resolve().parents[1]]
        paths = sysconfig.get_paths()
        stdlib = {paths["stdlib"], paths["platstdlib"]}
        sites = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
        if site.ENABLE_USER_SITE:
            sites.add(site.getusersitepackages())
        self._skip = tuple(f"{os.path.realpath(p)}{os.sep}" for p in skip)
        self._stdlib = tuple(f"{os.path.realpath(p)}{os.sep}" for p in stdlib)
        self._sites = tuple(f"{os.path.realpath(p)}{os.sep}" for p in sites)
        self._user: dict[str, bool] = {}

    def _is_user(self, filename: str) -> bool:
        if filename.startswith("<"):
            return not filename.startswith(("<frozen", "<built-in"))
        path = os.path.realpath(filename)
        if path.startswith(self._skip):
            return False
        if path.startswith(self._sites):
            return True  # third-party libraries count as the user's code
        return not path.startswith(self._stdlib)

    def find(self, frame: Any) -> _Location | None:
        """(file, line, function) of the innermost user frame from ``frame`` outwards."""
        user = self._user
        while frame is not None:
            code = frame.f_code
            name = code.co_filename
            known = user.get(name)
            if known is None:
                known = user[name] = self._is_user(name)
            if known:
                return name, frame.f_lineno, code.co_name
            frame = frame.f_back
        return None


_HitKey = tuple[tuple[str, ...], str, str, str, _Location | None, str]


class _ScanMode(TorchDispatchMode):
    """Count every catalogued op by (entries, op, pass, device, location); record alerts."""

    def __init__(self, matcher: Matcher, frames: _Frames, observe: bool) -> None:
        super().__init__()
        self.matcher = matcher
        self.frames = frames
        self.observe = observe
        self.rules: dict[Any, tuple[list, list] | None] = {}
        self.counts: Counter[_HitKey] = Counter()
        self.alerts: dict[_HitKey, str] = {}
        self.pending: list[tuple[torch.Tensor, _Location]] = []
        self.current: tuple[Any, Sequence[Any], _HitKey | None] | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.pending:
            self._label_nodes()
        kwargs = kwargs or {}
        try:
            rules = self.rules[func]
        except KeyError:
            rules = self.rules[func] = self._rules_for(func)
        key = None if rules is None else self._hit(func, args, kwargs, rules)
        if self.observe and not torch._C._get_deterministic_algorithms_warn_only():
            # the scanned code asked for strict mode: keep alerts as warnings
            torchstate.set_deterministic_algorithms(True, warn_only=True)
        self.current = (func, args, key)
        try:
            out = _call(func, types, args, kwargs)
        finally:
            self.current = None
        if _grad_enabled() and _needs_grad(args):
            self._remember(out)
        return out

    # ------------------------------------------------------------------ locations

    def _remember(self, out: Any) -> None:
        """Keep the user line of a forward op for the autograd node it is about to get."""
        location = self.frames.find(sys._getframe(1))
        if location is None:
            return
        if isinstance(out, torch.Tensor):
            self.pending.append((out, location))
        elif isinstance(out, (tuple, list)):
            self.pending.extend((t, location) for t in out if isinstance(t, torch.Tensor))

    def _label_nodes(self) -> None:
        """Autograd attaches grad_fn after a dispatch returns: label those nodes now."""
        for tensor, location in self.pending:
            node = tensor.grad_fn
            if node is not None:
                metadata = node.metadata
                if NODE_LOCATION not in metadata:
                    metadata[NODE_LOCATION] = location
        self.pending = []

    def _locate(self, node: Any) -> tuple[_Location | None, str]:
        """Where the op's user code is: its forward call for a backward op, else its caller."""
        if node is not None:
            location = node.metadata.get(NODE_LOCATION)
            if location is not None:
                return location, "forward"
        location = self.frames.find(sys._getframe(1))
        if location is None:
            return None, "unknown"
        return location, "backward" if node is not None else "call"

    # ------------------------------------------------------------------ matching

    def _rules_for(self, func: Any) -> tuple[list, list] | None:
        key = op_key(f"{func._schema.name}.{func._overloadname}")
        forward, backward = self.matcher.rules(key, "forward"), self.matcher.rules(key, "backward")
        return (forward, backward) if forward or backward else None

    def _hit(self, func: Any, args: Sequence[Any], kwargs: dict, rules: tuple) -> _HitKey | None:
        node = _current_node()
        pass_ = "forward" if node is None else "backward"
        candidates = rules[0] if node is None else rules[1]
        if not candidates:
            return None
        bound = {name: (value, given) for name, value, given in bound_arguments(func, args, kwargs)}

        def get(argument: str, part: str) -> tuple[object, bool]:
            if argument == "overload":
                return func._overloadname, True
            value, given = bound.get(argument, (None, False))
            return feature(value, part), given

        entries = tuple(dict.fromkeys(i for r in candidates if r.test(get) for i in r.entries))
        if not entries:
            return None
        location, located = self._locate(node)
        key = (entries, _op_label(func), pass_, _device_of(args), location, located)
        self.counts[key] += 1
        return key

    def alert(self, kernel: str) -> None:
        """An alert was raised (as a warning): record it on the op being dispatched.

        An op that no entry matches becomes a hit of its own; an alert raised
        while no op is being dispatched is kept too, with the op unknown.
        """
        func, args, key = self.current or (None, (), None)
        if key is None:
            node = _current_node()
            location, located = self._locate(node)
            pass_ = "forward" if node is None else "backward"
            op = _op_label(func) if func is not None else "(unknown op)"
            key = ((), op, pass_, _device_of(args) if args else "?", location, located)
            self.counts[key] += 1
        self.alerts[key] = kernel


# ---------------------------------------------------------------------------- results


def load_report(report: str | Path | Report) -> tuple[Report, str]:
    """A report and where it came from; a missing or bad file is a :class:`ReportError`."""
    if isinstance(report, Report):
        return report, "report"
    try:
        return reportfile.load_report(report), str(report)
    except ReportError as exc:
        raise ReportError(f"--report {exc}") from None


def _shown_file(path: str, cwd: str) -> str:
    if path.startswith(cwd + os.sep):
        return os.path.relpath(path, cwd)
    return path


class Findings:
    """What a scan has found: live while its ``with`` block runs, final after it ends.

    ``findings.result`` is a :class:`~detaudit.scanner.records.ScanResult`;
    ``findings.hits`` its hits.
    """

    def __init__(
        self,
        catalog: Catalog,
        mode: _ScanMode,
        reports: Sequence[tuple[Report, str]],
        device: str | None,
        observe: bool,
    ) -> None:
        self._catalog = catalog
        self._mode = mode
        self._reports = list(reports)
        self._device = device
        self._observe = observe
        self._final: ScanResult | None = None

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
        matcher, mode = self._mode.matcher, self._mode
        refs = []
        for report, source in self._reports:
            refs.append(
                ReportRef(
                    title=title(report),
                    source=source,
                    device=report_device(report, self._device),
                    torch=report.environment.torch,
                )
            )
        cwd = os.getcwd()
        hits = []
        for key, calls in list(mode.counts.items()):
            entries, op, pass_, device, location, located = key
            kernel = mode.alerts.get(key)
            file, line, function = location or ("?", 0, "?")
            entry = matcher.shown(entries, device) if entries else None
            info = self._catalog.get(entry) if entry else None
            here = None
            if self._observe:
                covered = info.devices if info is not None else ()
                here = Status.RAISES if kernel else clean_run_status(device, covered)
            elsewhere = tuple(
                Elsewhere(index, *status_in(report, entries, ref.device, matcher.shown))
                for index, ((report, _), ref) in enumerate(zip(self._reports, refs))
                if entries
            )
            hits.append(
                Hit(
                    entry=entry,
                    entries=entries,
                    api=info.api if info else "",
                    group=info.group if info else "",
                    op=op,
                    pass_=pass_,
                    device=device,
                    calls=calls,
                    file=_shown_file(file, cwd),
                    line=line,
                    function=function,
                    located=located,
                    here=here,
                    kernel=kernel,
                    elsewhere=elsewhere,
                )
            )
        hits.sort(key=lambda h: (h.file, h.line, h.pass_ != "forward", h.op))
        return ScanResult(
            torch=torch.__version__,
            devices=tuple(dict.fromkeys(h.device for h in hits)),
            observed=self._observe,
            hits=tuple(hits),
            reports=tuple(refs),
            catalog_hash=self._catalog.hash,
        )


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
    if device is not None and device not in DEVICES:
        raise UsageError(f"--device must be {' or '.join(DEVICES)}, got {device!r}")
    if catalog is None:
        catalog = load_catalog(catalogs, builtin=builtin)
    loaded = [load_report(r) for r in reports]
    matcher = Matcher(catalog, load_signatures(catalog, torch.__version__, python=python))
    mode = _ScanMode(matcher, _Frames(), observe)
    findings = Findings(catalog, mode, loaded, device, observe)
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


# ---------------------------------------------------------------------------- programs


@dataclass(frozen=True, slots=True)
class Program:
    """How a scanned program ended: its exit code and, if it raised, the traceback."""

    exit_code: int
    error: str | None = None


def _is_python(word: str) -> bool:
    """``python``, ``python3``, ``python3.11`` or this interpreter's path."""
    return (
        word == sys.executable or re.fullmatch(r"python[\d.]*", os.path.basename(word)) is not None
    )


def parse_command(command: Sequence[str]) -> tuple[str, str, list[str]]:
    """``[--] [python] SCRIPT ARGS`` or ``[--] python -m MODULE ARGS`` -> (kind, target, args)."""
    words = list(command)
    if words[:1] == ["--"]:
        words = words[1:]
    if words and _is_python(words[0]):
        words = words[1:]
        if words[:1] == ["-m"] and len(words) > 1:
            return "module", words[1], words[2:]
        if words and words[0].startswith("-"):
            raise UsageError(
                f"scan: python option {words[0]!r} is not supported; "
                "give `-- python SCRIPT ARGS` or `-- python -m MODULE ARGS`"
            )
    if not words:
        raise UsageError(
            "scan: nothing to run; give `detaudit scan SCRIPT ARGS`, "
            "`detaudit scan -- python SCRIPT ARGS` or `detaudit scan --static PATH...`"
        )
    if not Path(words[0]).is_file():
        raise UsageError(
            f"scan: {words[0]}: no such Python script (the scan runs a script in-process: "
            "`detaudit scan [-- python] SCRIPT ARGS`)"
        )
    return "script", words[0], words[1:]


def run_program(command: Sequence[str]) -> Program:
    """Run a Python script or module in this process, as ``python`` would, with its arguments.

    ``sys.argv`` and ``sys.path`` are set for it and restored afterwards. Its
    exception (KeyboardInterrupt aside) or non-zero ``sys.exit`` is returned,
    not raised, so that a scan reports what ran before it.
    """
    kind, target, args = parse_command(command)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    try:
        if kind == "module":
            sys.argv = [target, *args]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [target, *args]
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return Program(0)
        return Program(
            code if isinstance(code, int) else 1, None if isinstance(code, int) else str(code)
        )
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the program's failure is its outcome
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if "runpy" not in f.filename and __file__ != f.filename]
        text = "".join(traceback.format_list(own)) + "".join(
            traceback.format_exception_only(type(exc), exc)
        )
        return Program(1, "Traceback (most recent call last):\n" + text)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return Program(0)
