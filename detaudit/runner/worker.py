"""The probe worker: a child process that imports torch once and serves many requests.

Protocol (:mod:`detaudit.runner.protocol`): one JSON object per line. The
parent writes requests on stdin; the worker answers on a private copy of its
original stdout, while fd 1 is pointed at stderr so that a probe's prints
(Python or C) cannot corrupt the channel. It greets with a
:class:`~detaudit.runner.protocol.Hello` once torch is imported.

The channel is the runner's alone: both pipes move to close-on-exec
descriptors far above the ones a probe's files get (fd 0 reads /dev/null), so
a probe writing to fd 3 misses them. One that finds them anyway and closes or
replaces the answer pipe makes the worker leave with
:data:`~detaudit.runner.protocol.CHANNEL_LOST_EXIT`; what it writes there, the
pool reads as a broken channel (:mod:`detaudit.runner.pool`): only that
probe's entry is lost.

Each request kind has one handler, registered by the room that owns it in
:data:`detaudit.handlers.HANDLERS` by module path and imported on first use, so a worker that only audits never imports
the OpInfo database or the scanner. A worker may run under another
interpreter than detaudit's: standard library and torch only, syntax that
Python 3.9 runs.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

from detaudit import devices
from detaudit.handlers import HANDLERS
from detaudit.runner import lifeline
from detaudit.runner.protocol import (
    CHANNEL_LOST_EXIT,
    Hello,
    ProtocolError,
    Refused,
    decode_request,
    encode,
)

__all__ = ["HANDLERS", "handle", "main"]

_LOADED: dict[str, Callable[[Any], Any]] = {}

#: The lowest descriptor the protocol pipes move to: a probe's own files get the lowest free
#: ones (3, 4, ...), so one that writes to "fd 3" (the channel's old number) misses them.
CHANNEL_FLOOR = 700


def _handler(kind: str) -> Callable[[Any], Any]:
    if kind not in _LOADED:
        module, _, function = HANDLERS[kind].partition(":")
        _LOADED[kind] = getattr(importlib.import_module(module), function)
    return _LOADED[kind]


def handle(message: dict[str, Any]) -> Any:
    """The answer record for one decoded JSON request (a :class:`Refused` if it is none)."""
    try:
        request = decode_request(message)
    except ProtocolError as exc:
        return Refused(message=str(exc), id=message.get("id"))
    return _handler(request.kind)(request)


def _numpy_version() -> str | None:
    try:
        import numpy
    except ImportError:
        return None
    return numpy.__version__


def _private(fd: int) -> int:
    """A close-on-exec copy of ``fd`` at or above :data:`CHANNEL_FLOOR` (lower if the limit is)."""
    import fcntl
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    floor = CHANNEL_FLOOR
    if soft != resource.RLIM_INFINITY:
        floor = max(3, min(floor, soft - 16))
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


def _channel_lost(fd: int, why: str) -> None:
    """Leave at once: the probe closed or replaced the answer pipe, so no answer can reach the pool."""
    sys.stderr.write(
        f"detaudit worker: the probe {why} the runner's channel (fd {fd}); the worker leaves\n"
    )
    sys.stderr.flush()
    os._exit(CHANNEL_LOST_EXIT)


def main() -> None:
    """Serve requests until stdin closes (or a handler says the process must retire)."""
    lifeline.hold()  # first, before torch starts threads: die with the parent
    lifeline.enter_workdir()
    answers_fd, requests_fd = _private(1), _private(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # a probe that reads stdin reads nothing, not the next request
    os.close(null)
    os.dup2(2, 1)  # anything printed to fd 1 from now on lands in stderr
    sys.stdout = sys.stderr
    pipe = os.fstat(answers_fd)
    # Never closed here: the pipes close when the process is gone, so the pool's EOF
    # means a dead worker (or a probe's hand), not one still tearing torch down.
    channel = os.fdopen(answers_fd, "w", buffering=1, encoding="utf-8", closefd=False)
    requests = os.fdopen(requests_fd, "r", encoding="utf-8", closefd=False)

    def send(record: Any) -> None:
        try:
            now = os.fstat(answers_fd)
        except OSError:
            _channel_lost(answers_fd, "closed")
        if (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino):
            _channel_lost(answers_fd, "replaced")
        try:
            channel.write(json.dumps(encode(record)) + "\n")
            channel.flush()
        except OSError:
            _channel_lost(answers_fd, "closed")

    import torch

    send(
        Hello(
            pid=os.getpid(),
            torch=torch.__version__,
            python=platform.python_version(),
            numpy=_numpy_version(),
            devices=devices.present(),
        )
    )
    while True:
        try:
            line = requests.readline()
        except OSError:
            _channel_lost(requests_fd, "closed")
        if not line:
            break
        if not line.strip():
            continue
        answer = handle(json.loads(line))
        send(answer)
        if getattr(answer, "retire", None):
            break  # state a probe changed and nothing can restore: the pool starts a new worker


if __name__ == "__main__":
    main()
