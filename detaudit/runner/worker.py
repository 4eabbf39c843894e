"""The probe worker: a child process that imports torch once and serves many requests.

Protocol (:mod:`detaudit.runner.protocol`): one JSON object per line. The
parent writes requests on stdin; the worker answers on a private copy of its
original stdout, while fd 1 is pointed at stderr so that a probe's prints
(Python or C) cannot corrupt the channel. It greets with a
:class:`~detaudit.runner.protocol.Hello` once torch is imported.

Each request kind has one handler, registered in :data:`HANDLERS` by module
path and imported on first use, so a worker that only audits never imports
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

from detaudit.runner import lifeline
from detaudit.runner.probing import mps_available
from detaudit.runner.protocol import Hello, ProtocolError, Refused, decode_request, encode

__all__ = ["HANDLERS", "handle", "main"]

#: Request kind -> ``module:function`` that answers it (a request record in, an answer out).
HANDLERS: dict[str, str] = {
    "environment": "detaudit.runner.fingerprint:handle",
    "run": "detaudit.runner.observe:handle",
    "trace": "detaudit.scanner.trace:handle",
    "opinfo-list": "detaudit.docs.opinfo:handle_list",
    "opinfo-sweep": "detaudit.docs.opinfo:handle_sweep",
}

_LOADED: dict[str, Callable[[Any], Any]] = {}


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


def main() -> None:
    """Serve requests until stdin closes (or a handler says the process must retire)."""
    lifeline.hold()  # first, before torch starts threads: die with the parent
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed to fd 1 from now on lands in stderr
    sys.stdout = sys.stderr

    def send(record: Any) -> None:
        channel.write(json.dumps(encode(record)) + "\n")
        channel.flush()

    import torch

    send(
        Hello(
            pid=os.getpid(),
            torch=torch.__version__,
            cuda_available=torch.cuda.is_available(),
            python=platform.python_version(),
            numpy=_numpy_version(),
            mps_available=mps_available(),
        )
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(json.loads(line))
        send(answer)
        if getattr(answer, "retire", None):
            break  # state a probe changed and nothing can restore: the pool starts a new worker


if __name__ == "__main__":
    main()
