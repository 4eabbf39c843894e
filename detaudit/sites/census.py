"""The alert census of one torch build: every alert site of its libraries and Python files.

Records are frozen and serialise with ``to_dict``/``from_dict``; :func:`take_census`
builds one from a :class:`~detaudit.sites.fetch.Build` (the files of a torch
build, wherever they come from). Nothing here imports torch.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import devices as registry
from ..model.vocabulary import DEVICES, Device

__all__ = ["Census", "Site", "device_of", "python_sites", "take_census"]


def _word(name: str) -> str:
    """A built-in device's name as its vocabulary word (:class:`Device`); another's as-is."""
    return Device(name) if name in DEVICES else name


def device_of(alert: str, function: str, library: str) -> str:
    """The device a site's code runs for, read from the names (library, function, alert).

    The registry's site patterns decide (:func:`detaudit.devices.site_device`).
    """
    return _word(registry.site_device(alert, function, library))


@dataclass(frozen=True, slots=True)
class Site:
    """One call that raises a nondeterministic alert: the name it passes, and where it is.

    ``where`` is the call's address (``0x...``) in a library, or ``line N`` in a
    Python file. ``literal`` is False for a Python f-string, whose ``alert`` is
    the f-string's text with its ``{...}`` holes (e.g. ``max_unpooling{dim}d_forward_out``).
    ``function`` is the demangled C++ function (mangled when no demangler was
    found; empty when no symbol covers the address), or the Python function.
    """

    alert: str
    function: str
    library: str
    device: str  # a Device for the built-in ones
    where: str
    literal: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "alert": self.alert,
            "function": self.function,
            "library": self.library,
            "device": str(self.device),
            "where": self.where,
            **({} if self.literal else {"literal": False}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Site:
        """The inverse of :meth:`to_dict`."""
        return cls(
            alert=str(data["alert"]),
            function=str(data.get("function", "")),
            library=str(data.get("library", "")),
            device=_word(str(data.get("device", "cpu"))),
            where=str(data.get("where", "")),
            literal=bool(data.get("literal", True)),
        )


@dataclass(frozen=True, slots=True)
class Census:
    """Every alert site of one torch build, and whether it holds the cuBLAS workspace check.

    ``undecoded`` are calls whose string could not be read (their ``alert`` is
    empty); ``cublas_check`` the libraries holding the check's message;
    ``demangler`` the tool that demangled ``function`` ("" when none was found).
    """

    torch: str
    source: str
    sites: tuple[Site, ...]
    libraries: tuple[str, ...]
    cublas_check: tuple[str, ...] = ()
    undecoded: tuple[Site, ...] = ()
    demangler: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        """The distinct alert names, sorted."""
        return tuple(sorted({s.alert for s in self.sites}))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "torch": self.torch,
            "source": self.source,
            "libraries": list(self.libraries),
            "cublas_check": list(self.cublas_check),
            "demangler": self.demangler,
            "sites": [s.to_dict() for s in self.sites],
            "undecoded": [s.to_dict() for s in self.undecoded],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Census:
        """The inverse of :meth:`to_dict`."""
        return cls(
            torch=str(data.get("torch", "")),
            source=str(data.get("source", "")),
            sites=tuple(Site.from_dict(s) for s in data.get("sites", [])),
            libraries=tuple(str(x) for x in data.get("libraries", [])),
            cublas_check=tuple(str(x) for x in data.get("cublas_check", [])),
            undecoded=tuple(Site.from_dict(s) for s in data.get("undecoded", [])),
            demangler=str(data.get("demangler", "")),
            notes=tuple(str(x) for x in data.get("notes", [])),
        )


def demangle(names: Iterable[str]) -> tuple[dict[str, str], str]:
    """``({mangled: demangled}, tool)`` by ``c++filt``; names stay as they are without it."""
    names = sorted({n for n in names if n})
    tool = shutil.which("c++filt")
    if tool is None or not names:
        return {n: n for n in names}, "c++filt" if tool else ""
    # Mach-O names carry one more leading underscore than the Itanium ABI's.
    plain = [n[1:] if n.startswith("__Z") else n for n in names]
    done = subprocess.run(
        [tool], input="\n".join(plain) + "\n", capture_output=True, text=True, check=False
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != len(names):
        return {n: n for n in names}, ""
    return dict(zip(names, lines)), "c++filt"


def _alert_text(node: ast.expr) -> tuple[str, bool] | None:
    """The literal string an alert call passes, or an f-string's text with its holes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts), False
    return None


def python_sites(name: str, source: str) -> list[Site]:
    """The ``alert_not_deterministic("...")`` calls of one Python file (``name`` its path)."""
    if "alert_not_deterministic" not in source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[Site] = []
    functions: list[tuple[int, int, str]] = [
        (n.lineno, n.end_lineno or n.lineno, n.name)
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        callee = node.func
        called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if called != "alert_not_deterministic":
            continue
        text = _alert_text(node.args[0])
        if text is None:
            continue
        inner = [f for f in functions if f[0] <= node.lineno <= f[1]]
        function = max(inner)[2] if inner else ""
        alert, literal = text
        found.append(
            Site(
                alert,
                function,
                name,
                device_of(alert, function, name),
                f"line {node.lineno}",
                literal,
            )
        )
    return found


def take_census(build) -> Census:
    """The census of ``build`` (a :class:`~detaudit.sites.fetch.Build`)."""
    # numpy (in binary) loads only when a census is taken: every command imports this module
    from .binary import ALERT_SYMBOL, CUBLAS_MARKERS, scan_library

    raw: list[tuple[str, str, int, str | None]] = []  # (library, symbol, address, alert)
    libraries: list[str] = []
    cublas: list[str] = []
    for name, path in build.libraries():
        if not _mentions(path, (ALERT_SYMBOL.encode(), *CUBLAS_MARKERS)):
            continue
        scan = scan_library(path)
        libraries.append(name)
        if scan.cublas_markers:
            cublas.append(name)
        raw += [(name, c.symbol, c.address, c.alert) for c in scan.calls]
    names, tool = demangle(symbol for _, symbol, _, _ in raw)
    sites: list[Site] = []
    undecoded: list[Site] = []
    for library, symbol, address, alert in raw:
        function = names.get(symbol, symbol)
        site = Site(
            alert or "", function, library, device_of(alert or "", function, library), hex(address)
        )
        (sites if alert else undecoded).append(site)
    for name, source in build.python_files():
        sites += python_sites(name, source)
    notes = () if tool else ("no c++filt found: functions are shown mangled",)
    return Census(
        torch=build.version,
        source=build.describe,
        sites=tuple(sorted(sites, key=lambda s: (str(s.device), s.alert, s.library, s.where))),
        libraries=tuple(libraries),
        cublas_check=tuple(cublas),
        undecoded=tuple(undecoded),
        demangler=tool,
        notes=notes,
    )


def _mentions(path: Path, needles: tuple[bytes, ...]) -> bool:
    """True if the file's bytes contain one of ``needles`` (read in chunks, never whole)."""
    keep = max(len(n) for n in needles)
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            window = tail + chunk
            if any(n in window for n in needles):
                return True
            tail = chunk[-keep:]
    return False
