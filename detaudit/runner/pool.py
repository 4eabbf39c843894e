"""A pool of probe worker processes: spawn, dispatch, time out, replace the dead.

A worker imports torch once and runs many probes. When one dies (segfault,
abort, CUDA fatal error) or hangs past the timeout, the probe it was running
becomes a ``crashed`` or ``timeout`` outcome and a fresh worker takes its
place; the audit goes on. Everything here is I/O; no torch in this process.

The timeout counts from the moment a request is sent to a worker that has
said hello, so a worker's start (importing torch) never eats it. A worker's
first request also pays for what it does lazily on first use (imports, the
first dispatch under a Python dispatch mode: about 2 s for a scanner trace,
the time torch's import takes), which a loaded machine stretches alike; so
the first request gets, on top of the timeout, the time its worker took to start
(at most the timeout again: hello is only read when the caller next waits).

The answer pipe is the runner's alone, but a probe can still find it: a line
that is not a protocol answer, an answer for another request, or the pipe
closed while the worker lives on makes the request ``crashed`` with
:data:`CHANNEL_HIT` as the reason, and a fresh worker takes its place.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from ..errors import WorkerError
from ..signalhold import signals_held
from .lifeline import PARENT_ENV, WORKDIR_ENV
from .protocol import CHANNEL_LOST_EXIT, Hello, Lost, ProtocolError, decode_answer, encode

__all__ = ["WorkerPool"]

#: Seconds a new worker may take to import torch and say hello.
START_TIMEOUT = 180.0
_STDERR_TAIL = 2000
#: Seconds to wait for a SIGKILLed worker to be reaped before giving up on it.
_KILL_WAIT = 10.0
#: Seconds a worker whose answer pipe closed may take to exit before it counts as alive:
#: a worker that dies closes its pipe as it exits, so only a probe's hand keeps it running.
_EOF_WAIT = 2.0
#: Why a request is lost when its worker's answers stop making sense: only a probe touches that pipe.
CHANNEL_HIT = "the probe wrote to or closed the runner's channel (the worker's answer pipe)"
#: The signals the CLI turns into an exception; held back while the pool's bookkeeping changes.


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen
    stderr: IO[bytes]
    started: float
    ready: bool = False
    startup: float = 0.0  # seconds from spawn to hello
    served: int = 0  # requests sent to it
    buffer: bytes = b""
    task: dict[str, Any] | None = None
    limit: float = 0.0  # the seconds its task may take
    deadline: float = 0.0
    sent: float = 0.0
    stderr_from: int = 0
    lane: str = ""  # "": serves any request; else only its lane's (see WorkerPool.start_lane)

    @property
    def stdin(self) -> IO[bytes]:
        return cast("IO[bytes]", self.proc.stdin)  # started with stdin=PIPE

    @property
    def stdout(self) -> IO[bytes]:
        return cast("IO[bytes]", self.proc.stdout)  # started with stdout=PIPE

    def stderr_tail(self) -> str:
        """What the worker wrote to stderr since its current task began (the end of it)."""
        fd = self.stderr.fileno()
        size = os.fstat(fd).st_size
        start = max(self.stderr_from, size - _STDERR_TAIL)
        return os.pread(fd, size - start, start).decode("utf-8", "replace").strip()


def _package_dir() -> Path:
    """This detaudit package's folder (``.../detaudit``), wherever it was installed."""
    return Path(__file__).resolve().parents[1]


def _code_folder() -> str:
    """A new temporary folder that holds only a link to this detaudit package.

    The workers get it, not the folder the package lies in: with a
    non-editable install that is the site-packages of detaudit's environment,
    whose torch would then shadow the ``--python`` interpreter's own.
    """
    folder = tempfile.mkdtemp(prefix="detaudit-code-")
    os.symlink(_package_dir(), os.path.join(folder, "detaudit"), target_is_directory=True)
    return folder


def _worker_pythonpath(code: str, inherited: str | None) -> str:
    """``code`` first, then the caller's PYTHONPATH less the folder this package lies in.

    That folder is on the caller's PYTHONPATH when the caller is a fleet job
    (or a user) that put this detaudit there; passed on, it would bring the
    rest of detaudit's environment (its torch) into the worker.
    """
    own = os.path.realpath(_package_dir().parent)
    parts = inherited.split(os.pathsep) if inherited else []
    kept = [p for p in parts if os.path.realpath(p) != own]
    return os.pathsep.join([code, *kept])


class WorkerPool:
    """Run request dicts on ``jobs`` isolated worker processes.

    Use as a context manager; :meth:`close` kills whatever is still running:
    each worker's process group, so a probe's own subprocesses too. Should
    this process die without closing the pool (even by SIGKILL), the workers
    end themselves (see :mod:`detaudit.runner.lifeline`).
    """

    def __init__(
        self,
        jobs: int = 1,
        *,
        python: str | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str | None] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.jobs = jobs
        self.python = python or sys.executable
        self.timeout = timeout
        # Set (a string) or unset (None) in every worker's environment, on top of ours: a worker
        # starts with it, since torch reads some variables only at start-up.
        self.env = dict(env or {})
        self.hello: Hello | None = None
        self._selector = selectors.DefaultSelector()
        self._workers: list[_Worker] = []
        self._code: str | None = None  # the workers' PYTHONPATH folder (see _code_folder)
        # lane -> the variables its workers start with on top of ``env`` (see start_lane)
        self._lane_env: dict[str, dict[str, str | None]] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> WorkerPool:  # noqa: PYI034
        try:
            for _ in range(self.jobs):
                self._spawn()
        except BaseException:
            self.close()  # __exit__ will not run: stop the workers already started
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def grow(self, jobs: int) -> None:
        """Start workers until ``jobs`` run; none are stopped when fewer are asked for.

        An audit starts one worker at once (its torch import overlaps loading
        the catalogue) and grows the pool once it knows how many tasks there
        are: never more workers than (entry, device) tasks.
        """
        while sum(not w.lane for w in self._workers) < jobs:
            self._spawn()
        self.jobs = max(self.jobs, jobs)

    def start_lane(
        self, lane: str, env: Mapping[str, str | None] | None = None, *, workers: int = 1
    ) -> None:
        """Start ``workers`` workers of their own for ``lane``'s requests now, unless they run.

        An audit starts one at once for its slow-to-start entries (``slow_start``
        in the catalogue: a probe that Dynamo traces for seconds): it imports
        torch beside the shared worker and runs those entries while the shared
        one runs the rest (:meth:`run`'s ``lanes``). ``env``: set (a string) or unset
        (None) in the lane's workers' environment on top of the pool's, as they
        start (an entry's ``env``: torch reads some variables only at start-up).
        A lane's ``env`` is fixed by its first start. Lanes do not count in ``jobs``.
        """
        if lane not in self._lane_env:
            self._lane_env[lane] = dict(env or {})
        while sum(w.lane == lane for w in self._workers) < workers:
            self._spawn(lane)

    def starts_with(self, env: Mapping[str, str | None], lane: str = "") -> bool:
        """Whether ``lane``'s workers (the shared ones by default) start with every value of ``env``.

        An entry whose ``env`` they start with runs on them as it would on workers of
        its own: the worker checks it (``EnvNotAtStart`` otherwise).
        """
        start = self._environment(lane)
        return all(start.get(name) == value for name, value in env.items())

    def _environment(self, lane: str) -> dict[str, str]:
        """The environment a worker of ``lane`` starts with, but the folder :meth:`_spawn` makes."""
        merged = {**os.environ, **self.env, **self._lane_env.get(lane, {})}
        env = {name: value for name, value in merged.items() if value is not None}
        env["PYTHONPATH"] = _worker_pythonpath(self._code or "", env.get("PYTHONPATH"))
        env[PARENT_ENV] = str(os.getpid())
        try:
            env[WORKDIR_ENV] = os.getcwd()
        except OSError:  # the caller's folder was removed: the worker stays in the code folder
            pass
        return env

    def _spawn(self, lane: str = "") -> _Worker:
        if self._code is None:
            self._code = _code_folder()
        env = self._environment(lane)
        stderr = tempfile.TemporaryFile(prefix="detaudit-worker-")  # noqa: SIM115 - lives as long as the worker
        try:
            proc = subprocess.Popen(
                [self.python, "-m", "detaudit.runner.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=self._code,  # not the caller's folder: its torch/ would come first (lifeline)
                start_new_session=True,  # Ctrl-C reaches the parent only; we kill the group
            )
        except OSError as exc:
            stderr.close()
            raise WorkerError(
                f"cannot start a worker with {self.python}: {exc.strerror or exc}"
            ) from None
        with signals_held():  # an interrupt now would lose track of the new worker
            worker = _Worker(proc, stderr, time.monotonic(), lane=lane)
            self._workers.append(worker)
            os.set_blocking(worker.stdout.fileno(), False)
            self._selector.register(worker.stdout, selectors.EVENT_READ, worker)
        return worker

    def _kill(self, worker: _Worker) -> None:
        # The whole group, even when the worker itself is already dead: what its
        # probe started may live on. Linux reuses no pid while a group bears it,
        # and a dead worker is reaped (in _died) just before it is retired.
        try:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if worker.proc.poll() is None:
                worker.proc.kill()
        try:
            worker.proc.wait(_KILL_WAIT)
        except subprocess.TimeoutExpired:
            pass  # stuck in the kernel (a driver call); it dies when it leaves, unwaited

    def _retire(self, worker: _Worker) -> None:
        with signals_held():
            self._selector.unregister(worker.stdout)
            self._workers.remove(worker)
            self._kill(worker)
            for stream in (worker.stdin, worker.stdout, worker.stderr):
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Stop every worker at once: they hold nothing worth a graceful exit.

        A second Ctrl-C or SIGTERM while it runs waits until every worker is killed.
        """
        with signals_held():
            for worker in list(self._workers):
                self._retire(worker)
            if self._code is not None:
                shutil.rmtree(self._code, ignore_errors=True)  # removes the link, not the package
                self._code = None

    # ------------------------------------------------------------------ I/O

    def _send(self, worker: _Worker, request: dict[str, Any], timeout: float) -> None:
        worker.task = request
        worker.limit = timeout
        worker.sent = time.monotonic()
        # See the module docstring: the first request also pays for the warm-up.
        warmup = 0.0 if worker.served else min(worker.startup, timeout)
        worker.deadline = worker.sent + timeout + warmup
        worker.served += 1
        worker.stderr_from = os.fstat(worker.stderr.fileno()).st_size
        try:
            worker.stdin.write((json.dumps(request) + "\n").encode())
            worker.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker died; the selector sees EOF and reports it

    def _pump(self, timeout: float) -> list[tuple[_Worker, dict[str, Any] | str | None]]:
        """Wait up to ``timeout`` s; return (worker, message) pairs.

        The message is None at EOF, and a string (why) for a line that is not a JSON object.
        """
        events: list[tuple[_Worker, dict[str, Any] | str | None]] = []
        for key, _ in self._selector.select(max(0.0, timeout)):
            worker: _Worker = key.data
            try:
                data = os.read(worker.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                events.append((worker, None))
                continue
            worker.buffer += data
            *lines, worker.buffer = worker.buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    events.append((worker, _decoded(line)))
        return events

    def _start_failure(self, worker: _Worker, why: str) -> WorkerError:
        tail = worker.stderr_tail().splitlines()
        detail = tail[-1] if tail else "no output"
        return WorkerError(f"a probe worker ({self.python}) {why}: {detail}")

    # ------------------------------------------------------------------ running

    def wait_ready(self) -> Hello:
        """Block until one worker has said hello; return its greeting (the first worker's)."""
        while self.hello is None:
            self._step({}, self.timeout)
        return self.hello

    def request(
        self, request: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Run one request on one worker and return its answer (crash/timeout included)."""
        return next(self.run([request], timeout=timeout))

    def run(
        self,
        requests: Iterable[dict[str, Any]],
        *,
        timeout: float | None = None,
        lanes: Mapping[str, Iterable[dict[str, Any]]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Dispatch ``requests``; yield one answer per request, in completion order.

        A request whose worker died yields ``{"type": "lost", ..., "crashed": why}``; one
        past the timeout yields ``{"type": "lost", ..., "timeout": seconds}``; both keep the
        request's ``id`` and ``device`` and the worker's stderr tail.
        ``timeout`` overrides the pool's for these requests (the environment
        fingerprint has its own limit, whatever ``--timeout`` one entry gets).
        ``lanes``: requests that run only on their lane's own worker, beside the
        shared ones (started now unless :meth:`start_lane` did; retired once its
        lane is done).
        """
        limit = self.timeout if timeout is None else timeout
        pending = {"": deque(requests)}
        for lane, queued in (lanes or {}).items():
            pending[lane] = deque(queued)
            if pending[lane]:
                self.start_lane(lane)
        while any(pending.values()) or any(w.task is not None for w in self._workers):
            yield from self._step(pending, limit)
            for worker in [w for w in self._workers if w.lane in pending]:
                if worker.lane and worker.ready and worker.task is None and not pending[worker.lane]:
                    self._retire(worker)  # its lane is done: the memory and the core go back

    def ask(self, record: Any, *, timeout: float | None = None) -> Any:
        """Send one request record (:mod:`~detaudit.runner.protocol`); return its answer record."""
        return decode_answer(self.request(encode(record), timeout=timeout))

    def ask_all(
        self,
        records: Iterable[Any],
        *,
        timeout: float | None = None,
        lanes: Mapping[str, Iterable[Any]] | None = None,
    ) -> Iterator[Any]:
        """Send request records; yield their answer records in completion order.

        ``lanes``: records that run on their lane's own worker (see :meth:`run`).
        """
        encoded = {lane: [encode(r) for r in queued] for lane, queued in (lanes or {}).items()}
        for answer in self.run(
            (encode(record) for record in records), timeout=timeout, lanes=encoded
        ):
            yield decode_answer(answer)

    def _step(self, pending: Mapping[str, deque], timeout: float) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for worker in self._workers:
            queue = pending.get(worker.lane)
            if worker.ready and worker.task is None and queue:
                self._send(worker, queue.popleft(), timeout)
        now = time.monotonic()
        deadlines = [w.deadline for w in self._workers if w.task is not None]
        deadlines += [w.started + START_TIMEOUT for w in self._workers if not w.ready]
        for worker, message in self._pump(min(deadlines, default=now + 1.0) - now):
            if worker not in self._workers:
                continue  # retired for an earlier line of this read
            if message is None:
                answers.extend(self._died(worker))
            elif isinstance(message, str):
                answers.extend(self._lose(worker, f"{CHANNEL_HIT}: {message}"))
            elif message.get("type") == Hello.kind and not worker.ready:
                try:
                    hello = decode_answer(message)
                except ProtocolError as exc:  # not a worker of this detaudit: it cannot start
                    answers.extend(self._lose(worker, f"greeted with {exc}"))
                    continue
                worker.ready = True
                worker.startup = time.monotonic() - worker.started
                self.hello = self.hello or hello
            else:
                wrong = _not_its_answer(worker.task, message)
                if wrong:
                    answers.extend(self._lose(worker, f"{CHANNEL_HIT}: {wrong}"))
                    continue
                request, worker.task = worker.task, None
                answers.append({**_identity(request), **message})
                if message.get("retire"):
                    self._replace(worker)  # it exits after this answer: send it nothing more
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.task is not None and now > worker.deadline:
                answers.append(
                    _lost(
                        worker.task,
                        timeout=worker.limit,
                        seconds=now - worker.sent,
                        stderr=worker.stderr_tail(),
                    )
                )
                self._replace(worker)
            elif not worker.ready and now > worker.started + START_TIMEOUT:
                raise self._start_failure(worker, f"did not start within {START_TIMEOUT:.0f} s")
        return answers

    def _died(self, worker: _Worker) -> list[dict[str, Any]]:
        """The worker's answer pipe closed: it died, or a probe closed or replaced the pipe."""
        try:
            worker.proc.wait(_EOF_WAIT)
        except subprocess.TimeoutExpired:
            why = f"{CHANNEL_HIT}: the pipe closed while the worker kept running; worker killed"
        else:
            why = _describe_exit(worker.proc.returncode)
            if not worker.ready:
                why = f"exited with code {worker.proc.returncode} at start"
        return self._lose(worker, why)

    def _lose(self, worker: _Worker, why: str) -> list[dict[str, Any]]:
        """Retire ``worker`` and replace it; its request, if any, is ``crashed`` for ``why``."""
        if not worker.ready:
            self._kill(worker)
            raise self._start_failure(worker, why)
        answers = []
        if worker.task is not None:
            answers.append(
                _lost(
                    worker.task,
                    crashed=why,
                    seconds=time.monotonic() - worker.sent,
                    stderr=worker.stderr_tail(),
                )
            )
        self._replace(worker)
        return answers

    def _replace(self, worker: _Worker) -> None:
        self._retire(worker)
        self._spawn(worker.lane)


def _identity(request: dict[str, Any] | None) -> dict[str, Any]:
    request = request or {}
    return {
        "id": request.get("id"),
        "device": request.get("device"),
        "request": request.get("type"),
    }


def _lost(
    request: dict[str, Any],
    *,
    crashed: str | None = None,
    timeout: float | None = None,
    seconds: float,
    stderr: str,
) -> dict[str, Any]:
    """The wire form of the :class:`Lost` record for ``request``: its worker died or hung."""
    lost = Lost(
        id=request.get("id"),
        device=request.get("device"),
        request=request.get("type"),
        crashed=crashed,
        timeout=timeout,
        seconds=seconds,
        stderr=stderr,
    )
    return encode(lost)


def _decoded(line: bytes) -> dict[str, Any] | str:
    """The JSON object ``line`` holds, or why it holds none."""
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    if isinstance(message, dict):
        return message
    return f"it sent a line that is not a protocol answer: {_quoted(line)}"


def _quoted(line: bytes) -> str:
    shown = line[:120].decode("utf-8", "replace")
    return repr(shown + ("..." if len(line) > 120 else ""))


def _not_its_answer(request: dict[str, Any] | None, message: dict[str, Any]) -> str | None:
    """Why ``message`` cannot be the answer to ``request`` (None if it can)."""
    if request is None:
        return f"it sent {message.get('type')!r} while the worker had no request"
    if message.get("type") in (None, "hello"):
        return f"it sent {_quoted(json.dumps(message).encode())} as the answer"
    if message.get("type") == Lost.kind:
        return "it sent a 'lost' record, which only the pool makes"
    for key in ("id", "device"):
        if message.get(key) is not None and message.get(key) != request.get(key):
            return (
                f"it sent an answer for {key} {message.get(key)!r} "
                f"while the worker ran {request.get(key)!r}"
            )
    try:
        decode_answer({**_identity(request), **message})
    except ProtocolError as exc:
        return f"it sent a line that is not a protocol answer ({exc})"
    return None


def _describe_exit(returncode: int) -> str:
    if returncode == CHANNEL_LOST_EXIT:
        return f"{CHANNEL_HIT}: the worker found it closed or replaced and left"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"worker killed by {name}"
    return f"worker exited with code {returncode}"
