"""Real programs in fresh processes: each cause of two runs differing, named with its line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "repro"

# Each test runs a program twice through `detaudit twice` (two fresh processes that import
# torch and record every op): 5-25 s apiece on the 2-core machine, over a third of the
# default selection's time. .ci/run runs them (`pytest -m slow`); the trace's logic has
# fast tests of its own (tests/trace/test_compare.py, test_record_api.py, ...).
pytestmark = pytest.mark.slow


def detaudit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m detaudit ARGS`` from the repository root, as a user would run it."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "detaudit", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def twice_json(example: str, *extra: str) -> tuple[int, dict]:
    done = detaudit(
        "twice", "--format", "json", *extra, "--", "python", f"examples/repro/{example}"
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def line_of(example: str, text: str) -> int:
    lines = (EXAMPLES / example).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_unseeded_dropout_is_rng_at_the_forward_line() -> None:
    code, result = twice_json("unseeded_dropout.py")
    assert code == 1
    d = result["divergence"]
    assert d["cause"] == "rng"
    assert d["op"].startswith("aten::bernoulli")
    assert (
        d["location"]
        == f"examples/repro/unseeded_dropout.py:{line_of('unseeded_dropout.py', 'loss = model(x)')}"
    )


def test_dataloader_shuffle_without_generator_is_inputs_from_outside_first_batch() -> None:
    code, result = twice_json("dataloader_shuffle.py")
    assert code == 1
    d = result["divergence"]
    assert d["cause"] == "inputs"
    assert d["step"] == 1
    assert any("shuffle=True, no generator" in x for x in d["details"])
    assert "dataloader_generator" in d["fix"]
    line = line_of("dataloader_shuffle.py", "for x, y in loader")
    assert d["location"] == f"examples/repro/dataloader_shuffle.py:{line}"


def test_set_vocabulary_under_two_hash_seeds_names_the_environment(tmp_path: Path) -> None:
    traces = []
    for seed in ("1", "2"):
        trace = tmp_path / f"seed{seed}.trace"
        done = detaudit(
            "record",
            "--out",
            str(trace),
            "--",
            "python",
            "examples/repro/set_vocabulary.py",
            env={"PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stderr
        traces.append(str(trace))
    done = detaudit("compare", "--format", "json", *traces)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    d = result["divergence"]
    assert d["cause"] == "inputs"
    line = line_of("set_vocabulary.py", "tokens = torch.tensor")
    assert d["location"] == f"examples/repro/set_vocabulary.py:{line}"
    assert any("PYTHONHASHSEED differs (1 in run A, 2 in run B)" in x for x in d["details"])
    assert any(e["name"] == "PYTHONHASHSEED" for e in result["environment"])
    text = detaudit("compare", *traces).stdout
    assert "PYTHONHASHSEED: 1 -> 2" in text


def test_custom_op_nondeterministic_on_purpose_is_a_silent_kernel() -> None:
    code, result = twice_json("custom_op.py")
    assert code == 1
    d = result["divergence"]
    assert d["cause"] == "kernel"
    assert d["op"] == "detaudit_fixture::shuffled_sum"
    assert d["catalogued"] == []
    assert any(x.startswith("not in the catalogue") for x in d["details"])
    line = line_of("custom_op.py", "y = shuffled_sum(x)")
    assert d["location"] == f"examples/repro/custom_op.py:{line}"


@pytest.mark.slow
def test_compiled_index_add_is_named_at_the_first_op_after_the_compiled_region() -> None:
    code, result = twice_json("compiled_index_add.py")
    assert code == 1
    d = result["divergence"]
    assert d["cause"] == "compiled"
    line = line_of("compiled_index_add.py", "result = total * 2")
    assert d["location"] == f"examples/repro/compiled_index_add.py:{line}"
    assert "compiled" in d["sentence"] and "first op after" in d["sentence"]


def test_identical_seeded_runs_exit_0() -> None:
    done = detaudit("twice", "-m", "examples.repro.seeded")  # the module form
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Identical across 2 runs")


def test_a_divergence_at_step_3_of_5_is_reported_at_step_3() -> None:
    code, result = twice_json("steps.py")
    assert code == 1
    d = result["divergence"]
    assert d["step"] == 3
    assert d["cause"] == "inputs"
    line = line_of("steps.py", "loss = model(x * scale)")
    assert d["location"] == f"examples/repro/steps.py:{line}"
    assert [s["step"] for s in result["spread"]][:3] == [3, 4, 5]


def test_rerun_finds_the_custom_op_in_one_run(tmp_path: Path) -> None:
    trace = tmp_path / "one.trace"
    done = detaudit(
        "record", "--rerun", "--out", str(trace), "--", "python", "examples/repro/custom_op.py"
    )
    assert done.returncode == 1, done.stderr
    line = line_of("custom_op.py", "y = shuffled_sum(x)")
    assert (
        f"detaudit_fixture::shuffled_sum (forward) at examples/repro/custom_op.py:{line} gave "
        "other bits" in done.stderr
    )


def test_steps_stops_the_program_after_n_optimizer_steps(tmp_path: Path) -> None:
    trace = tmp_path / "two.trace"
    done = detaudit("record", "--steps", "2", "--out", str(trace), "examples/repro/steps.py")
    assert done.returncode == 0, done.stderr
    assert "loss" not in done.stdout  # stopped before the end
    footer = json.loads(trace.read_text().splitlines()[-1])
    assert footer["complete"] and footer["steps"] == 2
    assert footer["reason"] == "stopped after 2 steps (--steps)"
    assert ", 2 steps," in done.stderr
