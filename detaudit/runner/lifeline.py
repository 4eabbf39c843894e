"""A worker's lifeline: it and whatever its probe started die when the process that started it does.

The pool starts each worker in its own session (its own process group) and
names itself in ``DETAUDIT_PARENT_PID``. :func:`hold`, called first thing in
the worker, makes the worker end when that parent is gone, even if the
parent was SIGKILLed and even if a probe hangs:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill the worker
  at once, and a small *warden* process, forked before torch is imported,
  kills the worker's process group (a probe's own subprocesses) once the
  worker is gone;
- elsewhere, a daemon thread polls ``os.getppid()`` and kills the group.

It runs in the worker, which may run under another interpreter than
detaudit's: standard library only, and syntax that Python 3.9 runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["PARENT_ENV", "WORKDIR_ENV", "enter_workdir", "hold"]

#: The environment variable in which the pool names itself (its pid).
PARENT_ENV = "DETAUDIT_PARENT_PID"
#: The caller's working folder. A worker starts in the folder that holds only detaudit's
#: package (``python -m`` puts the start folder first on ``sys.path``, so a ``torch/`` in
#: the caller's folder, a PyTorch checkout, would shadow the interpreter's torch) and then
#: moves to this one.
WORKDIR_ENV = "DETAUDIT_WORKER_CWD"
#: Seconds between two looks at the parent, for the warden and the fallback thread.
POLL_SECONDS = 0.2

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PR_SET_NAME = 15


def hold() -> None:
    """Tie this worker's life to its parent's (the pid in ``DETAUDIT_PARENT_PID``).

    Does nothing when the variable is unset (a worker started by hand). The
    variable is removed so that a probe's subprocesses do not inherit it.
    """
    expected = os.environ.pop(PARENT_ENV, "")
    if not expected.isdigit():
        return
    leader = os.getpgid(0) == os.getpid()  # started with start_new_session=True
    hard = _kill_me_with_parent()
    parent = os.getppid()
    # Checked after prctl: had the parent died before it, nothing would kill us.
    # A different but living expected parent means a launcher in between
    # (a wrapper that forks the interpreter); then that launcher is the one to watch.
    if parent != int(expected) and not _exists(int(expected)):
        _end(leader)
    if hard:
        if leader:
            _start_warden()
    else:
        threading.Thread(
            target=_watch, args=(parent, leader), name="detaudit-lifeline", daemon=True
        ).start()


def _kill_me_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # some minimal builds lack it: then the thread watches

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end(leader: bool) -> None:
    """Kill this process, with its whole group when it leads one."""
    if leader:
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _watch(parent: int, leader: bool) -> None:
    """The fallback where the kernel cannot do it: poll for the parent's death."""
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _end(leader)


def _start_warden() -> None:
    """Fork a process that kills this worker's group once the worker is gone.

    The kernel's SIGKILL ends the worker only; the warden ends what its probe
    left running. Forked before torch is imported (no threads yet), it holds
    none of the worker's pipes, so the pool still sees the worker's death.
    """
    worker = os.getpid()
    try:
        if os.fork() != 0:
            return
    except OSError:
        return  # no process to spare: the worker still dies with its parent
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, _max_fd())
        _name_me(b"detaudit-warden")
        while os.getppid() == worker:
            time.sleep(POLL_SECONDS)
        os.killpg(0, signal.SIGKILL)  # this warden included
    finally:
        os._exit(0)


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024


def _name_me(name: bytes) -> None:
    """Set this process's name as ``ps`` shows it (Linux), so a warden is recognisable."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def enter_workdir() -> None:
    """Move to the caller's working folder (see :data:`WORKDIR_ENV`); ``sys.path`` keeps the start one."""
    folder = os.environ.pop(WORKDIR_ENV, "")
    if folder:
        try:
            os.chdir(folder)
        except OSError:
            pass  # gone since the pool started us: stay where we are, as a probe would find it
