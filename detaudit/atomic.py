"""Write files atomically, one or several together: every file is written, or none is.

Each file goes to a temporary file in its own folder first; only when every
temporary is complete are they renamed over their targets. A failure (disk
full, read-only filesystem, Ctrl-C) removes the temporaries, and any target a
rename had already replaced gets its old content back. Two runs writing the
same set at once (two audits with one ``--out``) take turns: each holds an
exclusive ``flock`` on the folder while it writes, so the set on disk is one
run's, never the JSON of one and the Markdown of the other.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: written without the lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["unwritable_reason", "write_text_atomic", "write_texts_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_special(path: Path) -> bool:
    """True for an existing target that is not a regular file (``/dev/stdout``, a FIFO).

    Renaming over it would replace the device node itself, so it is written in place.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders that creating ``folder`` would create, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (nothing is left in it).

    Advisory: other detaudit writers of the folder wait for it. Best effort:
    where the filesystem cannot lock (some NFS setups), the files are written
    without it.
    """
    fd = None
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def write_texts_atomic(
    files: Mapping[str, str] | Mapping[Path, str] | Mapping[str | Path, str],
) -> list[Path]:
    """Write every ``{path: text}`` so that either all of them are written or none is.

    Missing folders are created (and removed again on failure). A target that
    is a symlink to a regular file is written through the link. Raises the
    :class:`OSError` of the first failure, with ``filename`` set to the target
    it was writing; the targets are then as they were before the call. The
    folder holding every target is locked while they are written (see the
    module's docstring); while it is still missing, the nearest folder above it.
    """
    targets = [Path(p) for p in files]
    texts = list(files.values())
    if not targets:
        return []
    common = Path(os.path.commonpath([os.path.abspath(t.parent) for t in targets]))
    anchor = common  # lock the folder as it is now: two writers may both be creating it
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    created: list[Path] = []
    temporaries: dict[Path, str] = {}  # target -> its temporary
    backups: dict[Path, str] = {}  # replaced target -> a hard link to its old content
    renamed: list[Path] = []
    current = targets[0]
    with contextlib.ExitStack() as locks:
        locks.enter_context(_locked(anchor))
        try:
            for target in targets:
                current = target
                for folder in _missing_folders(target.parent):
                    try:
                        folder.mkdir()
                    except FileExistsError:
                        # another writer, which locked a nearer folder, made it just now
                        if not folder.is_dir():
                            raise
                        continue
                    created.append(folder)
            if anchor != common:  # a writer that found it there locks it, not the anchor
                locks.enter_context(_locked(common))
            mode = 0o666 & ~_umask()  # mkstemp makes 0600; give the usual mode
            for target, text in zip(targets, texts):
                current = target
                if _is_special(target):
                    continue
                real = Path(os.path.realpath(target))
                fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
                temporaries[target] = tmp
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, mode)
            for target, text in zip(targets, texts):
                current = target
                if target not in temporaries:  # a device or FIFO: written in place, no rollback
                    with open(target, "w", encoding="utf-8") as handle:
                        handle.write(text)
            for target, tmp in temporaries.items():
                current = target
                real = Path(os.path.realpath(target))
                if real.is_file():
                    backup = f"{tmp}.old"
                    with contextlib.suppress(OSError):  # no hard links here: no rollback for it
                        os.link(real, backup)
                        backups[real] = backup
                os.replace(tmp, real)
                renamed.append(real)
        except BaseException as exc:
            _roll_back(temporaries.values(), renamed, backups, created)
            if isinstance(exc, OSError):
                exc.filename = str(current)
            raise
        for backup in backups.values():
            with contextlib.suppress(OSError):
                os.unlink(backup)
    return targets


def _roll_back(
    temporaries, renamed: list[Path], backups: dict[Path, str], created: list[Path]
) -> None:
    """Undo a partial :func:`write_texts_atomic`: old contents back, nothing new left."""
    for tmp in temporaries:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    for real in renamed:
        with contextlib.suppress(OSError):
            if real in backups:
                os.replace(backups.pop(real), real)
            else:
                os.unlink(real)
    for backup in backups.values():
        with contextlib.suppress(OSError):
            os.unlink(backup)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    An interruption (Ctrl-C included) leaves ``path`` as it was and no
    temporary file behind.
    """
    return write_texts_atomic({path: text})[0]


def unwritable_reason(folder: str | Path) -> str | None:
    """Why files cannot be written into ``folder`` (created if missing), or None if they can.

    Checked before long work starts, so that its result is not lost at the end:
    a path under a regular file, a folder that cannot be created, or one where
    no file can be created (tried for real: ``os.access`` says yes to root).
    The check leaves nothing behind.
    """
    folder = Path(folder)
    probe = folder
    while not os.path.exists(probe):
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        if probe == probe.parent:
            return f"{probe} does not exist"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    lead = f"{probe}" if probe == folder else f"cannot create {folder}: {probe}"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{lead} is not writable (permission denied)"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".detaudit-check.", dir=probe)
    except OSError as exc:
        return f"{lead} is not writable (creating a file there: {exc.strerror or exc})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None
