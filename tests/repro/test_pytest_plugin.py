"""The pytest plugin, end to end through pytest's own ``pytester``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from detaudit.repro.bitwise import first_difference
from detaudit.repro.helpers import capture

pytest_plugins = ["pytester"]

PUT = """
import torch

def test_put():
    target = torch.zeros(4)
    target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    assert target[0].item() in (1.0, 2.0)
"""

PUT_MARKED = """
import pytest
import torch

@pytest.mark.nondeterministic_ok
def test_put():
    assert not torch.are_deterministic_algorithms_enabled()
    target = torch.zeros(4)
    target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    assert target[0].item() in (1.0, 2.0)
"""


@pytest.fixture(scope="module", autouse=True)
def inductor_imported():
    """Import Inductor before pytester snapshots ``sys.modules``.

    pytester drops the modules first imported during a test, and Inductor
    (which torch.use_deterministic_algorithms imports) cannot be imported twice.
    """
    import torch._inductor.config  # noqa: F401


@pytest.fixture
def run(pytester, monkeypatch):
    """Run pytest in-process on pytester's files, with the plugin loaded but not switched on.

    Entry-point plugins are not autoloaded: the plugin is loaded by ``-p`` whether
    or not this checkout is installed (tests/test_packaging.py checks the entry
    point), and other installed plugins are not re-imported at every run.
    """
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(
            "-p", "detaudit.repro.pytest_plugin", "-p", "no:cacheprovider", *args
        )

    return run


def _line_of(pytester, filename: str, text: str) -> int:
    lines = (pytester.path / filename).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_outer_run_is_not_under_deterministic_mode():
    # The entry point loads the plugin into every pytest run, this one too:
    # without --detaudit it must change nothing.
    assert not torch.are_deterministic_algorithms_enabled()


def test_put_fails_under_detaudit_naming_the_op_and_the_line(pytester, run):
    pytester.makepyfile(test_put=PUT)
    line = _line_of(pytester, "test_put.py", "target.put_(")
    before = capture()
    result = run("--detaudit", "-rf", "-vv")  # -vv: summary lines are not cut to 80 columns
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert (
        f"\nnondeterministic op put_ at test_put.py:{line} in test_put:\n"
        "    target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))\n"
    ) in out
    assert (
        f"FAILED test_put.py::test_put - detaudit: nondeterministic op put_ at test_put.py:{line} - "
        in out
    )
    assert "mark the test @pytest.mark.nondeterministic_ok" in out
    assert "put_ does not have a deterministic implementation" in out
    assert "detaudit: every test under torch.use_deterministic_algorithms(True)" in out
    # the run changed nothing in this process
    assert first_difference(before.as_dict(), capture().as_dict(), "state") is None


def test_put_passes_without_detaudit(pytester, run):
    pytester.makepyfile(test_put=PUT)
    result = run()
    result.assert_outcomes(passed=1)
    assert "detaudit:" not in result.stdout.str()


def test_put_passes_with_the_marker(pytester, run):
    pytester.makepyfile(test_put=PUT_MARKED)
    run("--detaudit").assert_outcomes(passed=1)
    run("--strict-markers").assert_outcomes(passed=1)  # the marker is registered either way


def test_tests_do_not_leak_state_into_each_other(pytester, run):
    pytester.makepyfile(
        test_leak="""
        import os, random
        import numpy as np
        import torch

        def state():
            return (
                torch.are_deterministic_algorithms_enabled(),
                torch.backends.cudnn.benchmark,
                torch.backends.cudnn.deterministic,
                torch.get_default_dtype(),
                torch.is_grad_enabled(),
                os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                random.random(),
                float(np.random.rand()),
                float(torch.rand(1)),
            )

        def test_a_changes_everything():
            test_a_changes_everything.seen = state()
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.deterministic = False
            torch.set_default_dtype(torch.float64)
            torch.set_grad_enabled(False)
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
            random.seed(99); np.random.seed(99); torch.manual_seed(99)

        def test_b_sees_what_a_saw():
            assert state() == test_a_changes_everything.seen
            assert state()[:6] == (True, False, True, torch.float32, True, ":4096:8")
        """
    )
    before = capture()
    run("--detaudit").assert_outcomes(passed=2)
    assert first_difference(before.as_dict(), capture().as_dict(), "state") is None


def test_seed_option_seeds_the_test_and_its_fixtures(pytester, run, monkeypatch):
    pytester.makepyfile(
        test_seed="""
        import random
        import numpy as np
        import pytest
        import torch

        SEED = int(__import__("os").environ["EXPECTED_SEED"])

        def first_draws(seed):
            return (
                random.Random(seed).random(),
                float(np.random.RandomState(seed).rand()),
                torch.rand(2, generator=torch.Generator().manual_seed(seed)).tolist(),
            )

        def draws():
            return random.random(), float(np.random.rand()), torch.rand(2).tolist()

        @pytest.fixture
        def fixture_draws():
            return draws()

        def test_seeded(fixture_draws):
            assert draws() == first_draws(SEED)
            assert fixture_draws == first_draws((SEED - 1) % 2**32)
        """
    )
    for seed in ("7", "0"):
        monkeypatch.setenv("EXPECTED_SEED", seed)
        args = ["--detaudit"] + (["--detaudit-seed", seed] if seed != "0" else [])
        result = run(*args)
        result.assert_outcomes(passed=1)
        assert f"--detaudit-seed={seed}" in result.stdout.str()


def test_bad_seed_is_a_usage_error(pytester, run):
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run("--detaudit", "--detaudit-seed=-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*argument --detaudit-seed: expected a whole number in ?0, 4294967295?, got '-1'"]
    )


ASSERT_REPRODUCIBLE = """
import time
import numpy as np
import torch

def test_deterministic_function(assert_reproducible):
    out = assert_reproducible(lambda: {"w": torch.randn(3, 4), "n": [np.random.rand(2)]})
    assert out["w"].shape == (3, 4)

def test_clock_reading_function(assert_reproducible):
    def model():
        noise = torch.Generator().manual_seed(time.time_ns())
        return {"logits": [torch.zeros(2), torch.randn(4, 6, generator=noise)]}

    assert_reproducible(model)
"""


@pytest.mark.parametrize("flag", [[], ["--detaudit"]], ids=["plain", "detaudit"])
def test_assert_reproducible_fixture(pytester, run, flag):
    pytester.makepyfile(test_repro=ASSERT_REPRODUCIBLE)
    result = run(*flag)
    result.assert_outcomes(passed=1, failed=1)
    assert (
        "AssertionError: test_clock_reading_function.<locals>.model is not reproducible: "
        "two runs from seed 0 differ at result['logits'][1]: tensor element [0, 0]: "
    ) in result.stdout.str()


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, detaudit.repro.pytest_plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_op_in_a_helper_module_names_it_and_the_tests_call_site(pytester, run):
    pytester.makepyfile(
        helper="""
        import torch

        def put(target):
            target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
        """,
        test_helped="""
        import torch
        import helper

        def test_helped():
            helper.put(torch.zeros(3))
        """,
    )
    inner = _line_of(pytester, "helper.py", "target.put_(")
    outer = _line_of(pytester, "test_helped.py", "helper.put(")
    result = run("--detaudit", "-rf", "-vv")
    result.assert_outcomes(failed=1)
    assert (
        f"nondeterministic op put_ at helper.py:{inner} via test_helped.py:{outer} in test_helped"
        in result.stdout.str()
    )
