"""The device registry: one record per device an audit can run on; cpu, cuda and mps built in.

Every layer asks this module, never ``if device == "cuda"``: which devices
exist and which ``--device auto`` takes (:func:`names`, :attr:`DeviceInfo.auto`),
whether this torch has one (:attr:`DeviceInfo.available`), how to wait for its
kernels, seed it and find its default generator, the random-generator canary a
report records for it, the facts the fingerprint takes and the words a report's
title adds. A device's *name* is the word reports, catalogues and ``--device``
use; it stays a plain string in every record.

Adding a device (XPU, say) is one :class:`DeviceInfo` plus the probes that
need it: a package declares it under the ``detaudit.devices`` entry-point group,
``xpu = "detaudit_xpu:XPU"`` (``[project.entry-points."detaudit.devices"]`` in its
``pyproject.toml``). The CLI, the library and every probe worker (which run with
the same ``sys.path``) then find it; catalogue entries may name it in
``devices:``. Entry points are read only when a name is not built in, or when
every device is listed.

Imported by probe workers (which may run another interpreter): standard library
only at import time, torch imported inside the functions, syntax that Python 3.9
runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "DeviceInfo",
    "by_type",
    "find",
    "get",
    "known",
    "loaded",
    "names",
    "ordered",
    "present",
    "registered",
    "site_device",
]

#: The entry-point group a package declares its devices in (each entry point names a DeviceInfo).
ENTRY_POINT_GROUP = "detaudit.devices"

#: The words ``--device`` takes beside device names; no device may be called so.
_RESERVED = ("auto", "all")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _no_wait(device: Any) -> None:
    """Nothing to wait for: the device runs its kernels before they return (the CPU)."""


def _no_facts() -> dict[str, Any]:
    return {}


def _no_headline(environment: Any) -> str | None:
    return None


def _always() -> bool:
    return True


def _never() -> bool:
    return False


def _one() -> int:
    return 1


@dataclass(frozen=True)
class DeviceInfo:
    """What detaudit knows of one device, and how to ask torch about it.

    ``name``: the word of ``--device``, catalogue ``devices:`` lists and reports.
    ``label``: how prose names it (``CUDA``). ``torch_type``: the ``torch.device``
    type its probes get (default: the name). ``available``: whether this torch
    has one (called in workers). ``check``/``hint``: what ``available`` read and
    what to do, for the error when ``--device NAME`` asks for an absent one.
    ``auto``: ``--device auto`` audits it when present (``all`` takes every device).
    ``synchronize(torch_device)``: wait for its queued kernels. ``seed(seed)``:
    seed its generators, where :func:`torch.manual_seed` does not (None: it does).
    ``generator(index)``: the default generator of device ``index`` (None:
    :data:`torch.default_generator`). ``canary``: how many numbers the random-generator
    canary draws on it (0: none is taken); ``canary_field``: the report's
    :class:`~detaudit.model.environment.Environment` field it is recorded in (two reports'
    results on the device are bit-compared only where their canaries agree; a field the
    report lacks is dropped, and the device's results are then never bit-compared).
    ``initialized()``: it has started in this process (the env report then takes its facts,
    and a snapshot its generators' states). ``count()``: how many devices of it this process
    has once it has started, the indices ``generator`` takes. ``lazy_seeds()``: while it has
    not started, the seeding torch has queued for its start (None: torch queues none for it);
    ``requeue(queued)`` puts that back without starting it, and, if it has started since,
    gives its generators the state they would have had had it started after: fresh, then
    seeded as queued. A snapshot (:func:`detaudit.repro.helpers.capture`) takes both.
    ``facts()``: the fingerprint's facts of it (Environment fields, e.g. the GPU's name and
    driver); ``headline(environment)``: the words a report's title adds for it, or None.
    ``site_names``/``site_libraries``: regular expressions that mark an alert site of a torch
    build (``detaudit sites``) as this device's, by its alert and function names or its
    library's file name; see :func:`site_device`.
    """

    name: str
    label: str
    available: Callable[[], bool]
    check: str = ""
    hint: str = ""
    torch_type: str = ""
    auto: bool = True
    synchronize: Callable[[Any], None] = _no_wait
    seed: Callable[[int], None] | None = None
    generator: Callable[[int], Any] | None = None
    canary: int = 0
    canary_field: str | None = None
    initialized: Callable[[], bool] = _never
    count: Callable[[], int] = _one
    lazy_seeds: Callable[[], Any] | None = None
    requeue: Callable[[Any], None] | None = None
    facts: Callable[[], Mapping[str, Any]] = _no_facts
    headline: Callable[[Any], str | None] = _no_headline
    site_names: str = ""
    site_libraries: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in _RESERVED:
            raise UsageError(
                f"device name must be a lowercase word (letters, digits, _), not auto or all, "
                f"got {self.name!r}"
            )
        if not self.torch_type:
            object.__setattr__(self, "torch_type", self.name)

    @property
    def missing(self) -> str:
        """Why a result on this device is ``skipped`` when the worker's torch has none."""
        return f"no {self.label} device is available to this torch"

    @property
    def absent(self) -> str:
        """The error when ``{0} NAME`` (the device option, as the caller names it) asks for it."""
        why = f" ({self.check})" if self.check else ""
        hint = f"; {self.hint}" if self.hint else ";"
        return f"{self.name}: this torch sees no {self.label} device{why}{hint} or use {{0}} cpu"


# ----------------------------------------------------------------------------- cpu


def _cpu_generator(index: int) -> Any:
    import torch

    return torch.default_generator


CPU = DeviceInfo(
    name="cpu",
    label="CPU",
    available=_always,
    initialized=_always,
    generator=_cpu_generator,
    # mt19937 and, for randn, a Box-Muller path that depends on ATen's CPU capability.
    canary=1 << 16,
    canary_field="rng_cpu",
)


# ----------------------------------------------------------------------------- cuda


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _cuda_initialized() -> bool:
    import torch

    return bool(torch.cuda.is_initialized())


def _cuda_synchronize(device: Any) -> None:
    import torch

    torch.cuda.synchronize(device)


def _cuda_generator(index: int) -> Any:
    import torch

    return torch.cuda.default_generators[index]


def _cuda_count() -> int:
    import torch

    return int(torch.cuda.device_count())


def _cuda_seed_tracker() -> Any:
    # torch.manual_seed before CUDA starts queues the CUDA seeding here (a private
    # object); CUDA's start runs the queue.
    import torch

    return getattr(torch.cuda, "_lazy_seed_tracker", None)


def _cuda_lazy_seeds() -> Any:
    tracker = _cuda_seed_tracker()
    if tracker is None:
        return None
    return (tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order))


def _cuda_requeue(queued: Any) -> None:
    import torch

    tracker = _cuda_seed_tracker()
    if tracker is not None and queued is not None:
        tracker.manual_seed_all_cb, tracker.manual_seed_cb, order = queued
        tracker.call_order = list(order)
    if torch.cuda.is_initialized():
        # CUDA started since: its generators get the state they would have had had it
        # started after, fresh and then seeded as queued.
        for index in range(torch.cuda.device_count()):
            fresh = torch.Generator(device=f"cuda:{index}").get_state()
            torch.cuda.default_generators[index].set_state(fresh)
        for call in queued[2] if queued is not None else ():
            if call:
                call[0]()


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version, from the kernel module or nvidia-smi."""
    import subprocess

    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as handle:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", handle.read())
            if match:
                return match.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        return out.strip().splitlines()[0] or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _cuda_facts() -> dict[str, Any]:
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return {
        "gpu": torch.cuda.get_device_name(0),
        "gpu_capability": f"sm_{major}{minor}",
        "gpu_driver": _nvidia_driver(),
        "gpu_count": torch.cuda.device_count(),
    }


def _gpu_headline(environment: Any) -> str | None:
    gpu = getattr(environment, "gpu", None)
    capability = getattr(environment, "gpu_capability", None)
    if not gpu:
        return None
    return f"{gpu} ({capability})" if capability else str(gpu)


CUDA = DeviceInfo(
    name="cuda",
    label="CUDA",
    available=_cuda_available,
    check="torch.cuda.is_available() is False",
    hint="run on a GPU machine",
    synchronize=_cuda_synchronize,
    generator=_cuda_generator,
    # torch's Philox kernels cap their grid at the GPU's SM count, so the element ->
    # random-number mapping of a large tensor depends on the GPU model; 2**22 elements is
    # past that cap on every GPU so far (H200: 132 SMs x 2048 threads x 4 = 1,081,344).
    canary=1 << 22,
    canary_field="rng_cuda",
    initialized=_cuda_initialized,
    count=_cuda_count,
    lazy_seeds=_cuda_lazy_seeds,
    requeue=_cuda_requeue,
    facts=_cuda_facts,
    headline=_gpu_headline,
    site_names=r"(cuda|CUDA|cudnn|_gpu\b|_gpu_|miopen)",
    site_libraries=r"(?i)cuda",
)


# ----------------------------------------------------------------------------- mps


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)  # builds without MPS lack it
    return bool(backend is not None and backend.is_available())


def _mps_synchronize(device: Any) -> None:
    import torch

    torch.mps.synchronize()


MPS = DeviceInfo(
    name="mps",
    label="MPS",
    available=_mps_available,
    check="torch.backends.mps.is_available() is False",
    hint="run on Apple silicon with an MPS build of torch",
    synchronize=_mps_synchronize,
    site_names=r"(\bmps\b|_mps\b|\bMPS\b|::mps::|Mps|_mps_)",
    # No canary: no result on MPS has been observed by this project, so none is compared.
)

#: The devices every detaudit knows, in the order reports list them.
BUILTIN: tuple[DeviceInfo, ...] = (CPU, CUDA, MPS)
_BUILTIN = {info.name: info for info in BUILTIN}

_plugins: tuple[DeviceInfo, ...] | None = None


def _load_plugins() -> tuple[DeviceInfo, ...]:
    """The devices the installed packages declare (entry points), by entry-point name; read once."""
    global _plugins
    if _plugins is None:
        from importlib.metadata import entry_points

        found: dict[str, DeviceInfo] = {}
        points = entry_points()
        group = (
            points.select(group=ENTRY_POINT_GROUP)
            if hasattr(points, "select")
            else points.get(ENTRY_POINT_GROUP, ())  # Python 3.9
        )
        for point in sorted(group, key=lambda p: p.name):
            info = point.load()
            where = f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP})"
            if not isinstance(info, DeviceInfo):
                raise UsageError(f"{where} names {type(info).__name__}, not a DeviceInfo")
            if info.name in _BUILTIN or info.name in found:
                raise UsageError(f"{where}: device {info.name!r} is already registered")
            found[info.name] = info
        _plugins = tuple(found.values())
    return _plugins


def registered() -> tuple[DeviceInfo, ...]:
    """Every device: the built-in ones, then those the installed packages declare."""
    return BUILTIN + _load_plugins()


def loaded() -> tuple[DeviceInfo, ...]:
    """The devices known without reading entry points: built-ins, and plugins once read."""
    return BUILTIN + (_plugins or ())


def names() -> tuple[str, ...]:
    """Every device's name, in the order reports list them."""
    return tuple(info.name for info in registered())


def find(name: str) -> DeviceInfo | None:
    """The device called ``name``, or None; entry points are read only for a name not built in."""
    info = _BUILTIN.get(name)
    if info is None:
        info = next((p for p in _load_plugins() if p.name == name), None)
    return info


def get(name: str) -> DeviceInfo:
    """The device called ``name``; a :class:`UsageError` if no device is."""
    info = find(name)
    if info is None:
        raise UsageError(f"must be one of {', '.join(names())}, got {name!r}", option="device")
    return info


def known(name: str) -> bool:
    """Is ``name`` a device's name?"""
    return find(name) is not None


def ordered(chosen: Iterable[str]) -> tuple[str, ...]:
    """The known names among ``chosen``, in the registry's order (built-ins first)."""
    wanted = set(chosen)
    listed = loaded() if wanted <= set(_BUILTIN) else registered()
    return tuple(info.name for info in listed if info.name in wanted)


def by_type(torch_type: str) -> DeviceInfo | None:
    """The first device whose probes run on ``torch.device`` type ``torch_type`` (cpu, cuda...)."""
    for info in loaded():
        if info.torch_type == torch_type:
            return info
    return next((p for p in _load_plugins() if p.torch_type == torch_type), None)


def site_device(alert: str, function: str, library: str) -> str:
    """The device an alert site's code runs for, read from its names; the CPU's if none says.

    Later devices are asked first: their words are more specific than CUDA's generic GPU
    ones (an MPS kernel's ``_mps_``), so MPS, then CUDA; a plugin's before both.
    """
    text = f"{alert} {function}"
    for info in reversed(registered()):
        if (info.site_names and re.search(info.site_names, text)) or (
            info.site_libraries and re.search(info.site_libraries, library)
        ):
            return info.name
    return CPU.name


def present() -> tuple[str, ...]:
    """The names of the devices this process's torch has (imports torch: workers only).

    A device whose check fails (a plugin's backend this torch lacks) is absent: one broken
    plugin must not stop an audit of the others.
    """
    return tuple(info.name for info in registered() if _has(info))


def _has(info: DeviceInfo) -> bool:
    try:
        return bool(info.available())
    except Exception:  # noqa: BLE001 -- see present()
        return False
