"""Where a torch build's files come from: an install folder, another interpreter, a wheel, pip.

A :class:`Build` lists the build's shared libraries (as paths on disk) and its
Python files (as text). None of this imports torch: another interpreter is
asked where its torch is with :func:`importlib.util.find_spec`, and a wheel is
read as the zip it is (only its libraries are extracted, to a temporary folder).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform as host
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentUnsupported, UsageError

__all__ = ["Build", "cache_dir", "download_wheel", "open_build", "source_of"]

_LIBRARY = re.compile(r"^torch/(lib/[^/]+\.(so(\.\d+)*|dylib)|_C[^/]*\.(so|dylib))$")
_VERSION = re.compile(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def _is_library(name: str) -> bool:
    return bool(_LIBRARY.match(name))


def _version_of(text: str) -> str:
    found = _VERSION.search(text)
    return found.group(1) if found else "unknown"


@dataclass(frozen=True, slots=True)
class Source:
    """Which build to read: ``kind`` is installed, python, wheel or version."""

    kind: str
    value: str = ""
    platform: str = ""
    python_version: str = "3.11"
    cache: str = ""


class Build:
    """The files of one torch build: ``libraries()`` and ``python_files()``."""

    version: str
    describe: str

    def libraries(self) -> Iterator[tuple[str, Path]]:  # pragma: no cover - interface
        raise NotImplementedError

    def python_files(self) -> Iterator[tuple[str, str]]:  # pragma: no cover - interface
        raise NotImplementedError


class FolderBuild(Build):
    """An installed torch: the folder ``torch`` is in."""

    def __init__(self, torch_dir: Path, describe: str) -> None:
        self.torch_dir = torch_dir
        self.describe = describe
        version = torch_dir / "version.py"
        self.version = _version_of(version.read_text("utf-8")) if version.is_file() else "unknown"

    def libraries(self) -> Iterator[tuple[str, Path]]:
        root = self.torch_dir.parent
        for path in sorted(self.torch_dir.glob("lib/*")) + sorted(self.torch_dir.glob("_C*")):
            name = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and _is_library(name):
                yield name, path

    def python_files(self) -> Iterator[tuple[str, str]]:
        root = self.torch_dir.parent
        for path in sorted(self.torch_dir.rglob("*.py")):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                yield path.relative_to(root).as_posix(), path.read_text("utf-8")


class WheelBuild(Build):
    """A torch wheel: libraries extracted one at a time into ``scratch``, Python read in place."""

    def __init__(self, wheel: Path, scratch: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as exc:
            raise UsageError(f"{wheel}: not a readable wheel: {exc}", option="wheel") from None
        self.scratch = scratch
        self.describe = f"wheel {wheel.name}"
        try:
            self.version = _version_of(self.zip.read("torch/version.py").decode("utf-8"))
        except KeyError:
            raise UsageError(
                f"{wheel}: no torch/version.py: not a torch wheel", option="wheel"
            ) from None

    def libraries(self) -> Iterator[tuple[str, Path]]:
        for info in self.zip.infolist():
            if not _is_library(info.filename):
                continue
            target = Path(self.zip.extract(info, self.scratch))
            try:
                yield info.filename, target
            finally:
                target.unlink()  # one 500 MB library on disk at a time

    def python_files(self) -> Iterator[tuple[str, str]]:
        for info in self.zip.infolist():
            if info.filename.startswith("torch/") and info.filename.endswith(".py"):
                with contextlib.suppress(UnicodeDecodeError):
                    yield info.filename, self.zip.read(info).decode("utf-8")


def _installed_torch_dir() -> Path:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentUnsupported(
            "no torch is installed for this Python; give --wheel or --torch-version"
        )
    return Path(next(iter(spec.submodule_search_locations)))


_FIND_TORCH = (
    "import importlib.util as u; s = u.find_spec('torch'); "
    "print(list(s.submodule_search_locations)[0] if s else '')"
)


def _python_torch_dir(python: str) -> Path:
    try:
        done = subprocess.run(
            [python, "-c", _FIND_TORCH], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise UsageError(
            f"{python}: cannot run it: {exc.strerror or exc}", option="python"
        ) from None
    except subprocess.TimeoutExpired:
        raise EnvironmentUnsupported(f"{python}: no answer in 120 s", option="python") from None
    found = done.stdout.strip()
    if done.returncode != 0 or not found:
        raise EnvironmentUnsupported(f"{python}: it has no torch installed", option="python")
    return Path(found)


def cache_dir() -> Path:
    """Where downloaded wheels are kept: ``$XDG_CACHE_HOME/detaudit/wheels``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "detaudit" / "wheels"


def _platform_matches(name: str, platform: str) -> bool:
    if platform:
        return platform in name
    machine = host.machine().lower()
    system = sys.platform
    if system.startswith("linux"):
        return "linux" in name and machine in name
    if system == "darwin":
        return "macosx" in name and machine in name
    return True


def _same_version(a: str, b: str) -> bool:
    """``2.10`` and ``2.10.0`` name one release (as ``pip download torch==2.10`` reads it)."""

    def release(v: str) -> tuple[str, ...]:
        parts = v.split(".")
        while len(parts) > 1 and parts[-1] == "0":
            parts.pop()
        return tuple(parts)

    return release(a) == release(b)


def _cached_wheel(folder: Path, version: str, platform: str, python_version: str) -> Path | None:
    tag = "cp" + python_version.replace(".", "")
    for wheel in sorted(folder.glob("torch-*.whl")):
        parts = wheel.name.split("-")
        if len(parts) < 5 or not _same_version(parts[1], version):
            continue
        if tag in wheel.name and _platform_matches(wheel.name, platform):
            return wheel
    return None


def download_wheel(
    version: str, platform: str = "", python_version: str = "3.11", cache: str = ""
) -> Path:
    """The torch ``version`` wheel, from the cache or by ``pip download`` into it; installs nothing."""
    folder = Path(cache) if cache else cache_dir()
    found = _cached_wheel(folder, version, platform, python_version)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", f"torch=={version}", "--no-deps",
        "--only-binary=:all:", "--python-version", python_version, "-d", str(folder),
        "--disable-pip-version-check", "--quiet",
    ]  # fmt: skip
    if platform:
        command += ["--platform", platform]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = _cached_wheel(folder, version, platform, python_version)
    if done.returncode != 0 or found is None:
        last = (done.stderr.strip().splitlines() or ["no wheel came"])[-1]
        where = f" for {platform}" if platform else ""
        raise EnvironmentUnsupported(f"pip download torch=={version}{where} failed: {last}")
    return found


def source_of(
    text: str, platform: str = "", python_version: str = "3.11", cache: str = ""
) -> Source:
    """A ``--diff`` side: a wheel file, an interpreter, a torch folder, or else a version."""
    path = Path(text)
    if text.endswith(".whl"):
        return Source("wheel", text)
    if path.is_dir():
        return Source("folder", text)
    if path.is_file() and os.access(path, os.X_OK):
        return Source("python", text)
    if re.fullmatch(r"\d+(\.\d+)*([a-z0-9.+]*)", text):
        return Source("version", text, platform, python_version, cache)
    raise UsageError(f"{text}: not a wheel, a Python, a torch folder or a version", option="diff")


@contextlib.contextmanager
def open_build(source: Source) -> Iterator[Build]:
    """The :class:`Build` ``source`` names; temporary files are removed afterwards."""
    if source.kind == "installed":
        torch_dir = _installed_torch_dir()
        yield FolderBuild(torch_dir, f"installed {torch_dir}")
        return
    if source.kind == "python":
        torch_dir = _python_torch_dir(source.value)
        yield FolderBuild(torch_dir, f"{source.value}: {torch_dir}")
        return
    if source.kind == "folder":
        folder = Path(source.value)
        torch_dir = folder if (folder / "version.py").is_file() else folder / "torch"
        if not (torch_dir / "version.py").is_file():
            raise UsageError(f"{source.value}: no torch/version.py there: not a torch folder")
        yield FolderBuild(torch_dir, f"folder {torch_dir}")
        return
    if source.kind == "version":
        wheel = download_wheel(source.value, source.platform, source.python_version, source.cache)
    else:
        wheel = Path(source.value)
        if not wheel.is_file():
            raise UsageError(f"{wheel}: no such file", option="wheel")
    scratch = Path(tempfile.mkdtemp(prefix="detaudit-sites-"))
    build = None
    try:
        build = WheelBuild(wheel, scratch)
        yield build
    finally:
        if build is not None:
            build.zip.close()
        shutil.rmtree(scratch, ignore_errors=True)
