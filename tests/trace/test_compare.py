"""compare_traces on hand-made traces: each cause, the spread, the environment, partial traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from detaudit.render import RENDERERS
from detaudit.trace.compare import Cause, compare_traces
from detaudit.trace.format import load_trace

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"


def compare(a: str, b: str):
    return compare_traces(load_trace(TRACES / a), load_trace(TRACES / b))


def test_identical() -> None:
    assert compare("a.trace", "same.trace").identical


@pytest.mark.parametrize(
    ("other", "cause", "index", "step"),
    [
        ("rng.trace", Cause.RNG, 0, 1),
        ("kernel.trace", Cause.KERNEL, 2, 2),
        ("inputs.trace", Cause.INPUTS, 2, 2),
        ("paths.trace", Cause.PATHS, 2, 2),
        ("partial.trace", Cause.PARTIAL, 3, 2),
    ],
)
def test_each_cause(other: str, cause: Cause, index: int, step: int) -> None:
    comparison = compare("a.trace", other)
    d = comparison.divergence
    assert (d.cause, d.index, d.step) == (cause, index, step)
    assert d.location == ("train.py:3" if index < 2 else "train.py:5")


def test_the_environment_difference_explains_the_inputs() -> None:
    comparison = compare("a.trace", "inputs.trace")
    assert comparison.environment[0][:3] == ("PYTHONHASHSEED", "0", "1")
    assert any("PYTHONHASHSEED differs" in x for x in comparison.divergence.details)
    assert "PYTHONHASHSEED=0" in comparison.divergence.fix


def test_the_spread_counts_later_ops_per_step() -> None:
    assert compare("a.trace", "kernel.trace").spread == ((2, 2, 2),)
    assert compare("a.trace", "rng.trace").spread == ((1, 2, 2), (2, 2, 2))


@pytest.mark.parametrize("fmt", sorted(RENDERERS["divergence"]))
def test_every_format_names_the_cause(fmt: str) -> None:
    text = RENDERERS["divergence"][fmt].render(compare("a.trace", "rng.trace"))
    assert "RNG state differs" in text


def test_the_text_is_one_sentence_first() -> None:
    text = RENDERERS["divergence"]["text"].render(compare("a.trace", "kernel.trace"))
    assert text.startswith(
        "First divergence: op #2 aten::sum (forward) at train.py:5, step 2: nondeterministic kernel"
    )
