"""pytest plugin: ``pytest --detaudit`` runs every test under ``detaudit.deterministic(seed)``.

Registered through the ``pytest11`` entry point (as ``detaudit``) and inactive
unless ``--detaudit`` is given; the ``nondeterministic_ok`` marker and the
``assert_reproducible`` fixture are there either way. Importing this module
does not import torch: only a run with ``--detaudit`` or a test that uses the
fixture does.

Under ``--detaudit`` each test gets deterministic mode, strict, from the start
of its setup to the end of its teardown, and then every flag, environment
variable and RNG state goes back as it was, so tests cannot leak state into
each other. The RNGs are seeded before each phase, as pytest-randomly does: the
test function starts from seed N (``--detaudit-seed``, default 0), fixture
setup from N-1 and teardown from N+1 (mod 2**32), so a fixture's draws are not
the test's and do not depend on which tests ran before.
"""

from __future__ import annotations

import argparse
import functools
import os
import traceback
from pathlib import Path
from typing import Any

import pytest

_SAVED = pytest.StashKey[Any]()  # the SavedState a test's setup replaced
_CUBLAS = pytest.StashKey[Any]()  # CUBLAS_WORKSPACE_CONFIG before the session
_MARKER = "nondeterministic_ok"


def _seed(text: str) -> int:
    from .helpers import SEED_MAX, check_seed

    try:
        return check_seed(int(text))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected a whole number in [0, {SEED_MAX}], got {text!r}"
        ) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("detaudit", "detaudit: run every test under torch deterministic mode")
    group.addoption(
        "--detaudit",
        action="store_true",
        default=False,
        help="run every test under detaudit.deterministic(seed): seeded RNGs and "
        "torch.use_deterministic_algorithms(True), strict, so a nondeterministic op fails "
        f"the test; state is restored after each test; @pytest.mark.{_MARKER} exempts one",
    )
    group.addoption(
        "--detaudit-seed",
        type=_seed,
        default=0,
        metavar="N",
        help="the seed each test function starts from under --detaudit, and the "
        "assert_reproducible fixture's (default 0)",
    )


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("detaudit"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}: under --detaudit, run this test with deterministic mode off "
        "(its RNGs are still seeded, and its state still restored)",
    )
    if not _active(config):
        return
    try:
        from . import helpers
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise pytest.UsageError(f"--detaudit needs torch and numpy: {exc}") from None
    # Once for the session, before a test can initialise CUDA: cuBLAS reads it once.
    config.stash[_CUBLAS] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    helpers.set_cublas_workspace_config()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _CUBLAS in config.stash:
        previous = config.stash[_CUBLAS]
        if previous is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = previous


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _active(config):
        return None
    return (
        "detaudit: every test under torch.use_deterministic_algorithms(True), strict, "
        f"from --detaudit-seed={config.getoption('detaudit_seed')}"
    )


def _phase_seed(config: pytest.Config, offset: int) -> int:
    return (config.getoption("detaudit_seed") + offset) % 2**32


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _active(item.config):
        return
    from .helpers import seed_everything

    exempt = item.get_closest_marker(_MARKER) is not None
    item.stash[_SAVED] = seed_everything(_phase_seed(item.config, -1), deterministic=not exempt)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if _SAVED in item.stash:
        from .helpers import seed_everything

        seed_everything(_phase_seed(item.config, 0), deterministic=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    if _SAVED in item.stash:
        from .helpers import seed_everything

        seed_everything(_phase_seed(item.config, 1), deterministic=False)
    yield  # the fixtures' finalizers run here; restore even if one raises
    if _SAVED in item.stash:
        item.stash[_SAVED].restore()
        del item.stash[_SAVED]


def _alert(exc: BaseException | None) -> tuple[str, BaseException] | None:
    """The kernel named by a nondeterministic-alert RuntimeError in ``exc``'s chain."""
    from ..runner.probing import alert_kernel

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, RuntimeError):
            kernel = alert_kernel(str(exc))
            if kernel:
                return kernel, exc
        exc = exc.__cause__ or exc.__context__
    return None


def _source_line(exc: BaseException, item: pytest.Item) -> tuple[str, str]:
    """(``file:line``, ``in function: code``) of the innermost frame in the test's own file."""
    frames = traceback.extract_tb(exc.__traceback__)
    in_test = [f for f in frames if Path(f.filename) == Path(item.path)]
    if not in_test:
        return "a frame outside the test's file", ""
    frame = in_test[-1]
    path = item.nodeid.split("::")[0]
    return f"{path}:{frame.lineno}", f" in {frame.name}:\n    {(frame.line or '').strip()}"


def _outside_line(exc: BaseException, item: pytest.Item) -> str | None:
    """``file:line`` of the innermost frame outside torch, when it is not in the test's file.

    That is the library (or helper module) the op ran in; the test's own line
    is then its call site (``via``), as in ``detaudit scan``.
    """
    from ..frames import Frames

    stack = [(f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    place = Frames().place(stack)
    if place is None or Path(place[0]) == Path(item.path):
        return None
    path = Path(place[0])
    try:
        path = path.relative_to(item.config.rootpath)
    except ValueError:
        pass
    return f"{path}:{place[1]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    if not _active(item.config) or call.excinfo is None:
        return
    report = outcome.get_result()
    found = _alert(call.excinfo.value) if report.failed else None
    if found is None:
        return
    kernel, exc = found
    where, code = _source_line(exc, item)
    outside = _outside_line(exc, item)
    if outside is not None:
        where = f"{outside} via {where}"
    headline = f"nondeterministic op {kernel} at {where}"
    detail = (
        f"{headline}{code}\n"
        f"detaudit ran this test under torch.use_deterministic_algorithms(True) "
        f"(--detaudit, seed {item.config.getoption('detaudit_seed')}). Make the op "
        f"deterministic, or mark the test @pytest.mark.{_MARKER} to let it run."
    )
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("detaudit", detail)
    else:
        report.sections.append(("detaudit", detail))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and hasattr(crash, "message"):
        # The one-line summary (-r) shows this message.
        crash.message = f"detaudit: {headline} - {crash.message}"


@pytest.fixture
def assert_reproducible(pytestconfig: pytest.Config) -> Any:
    """``assert_reproducible(fn, *, seed=N, deterministic=True)``: run ``fn()`` twice from the
    same seed and assert bitwise-equal results, naming the first differing element.

    ``N`` is ``--detaudit-seed`` (default 0). See :func:`detaudit.assert_reproducible`.
    """
    from .helpers import assert_reproducible as check

    return functools.partial(check, seed=pytestconfig.getoption("detaudit_seed"))
