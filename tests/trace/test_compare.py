"""compare_traces on hand-made traces: each cause, the spread, the environment, partial traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from detaudit.render import RENDERERS
from detaudit.trace.compare import Cause, compare_traces
from detaudit.trace.format import load_trace

from ..conftest import run_cli_here

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


def test_a_report_says_what_its_machine_did_to_the_catalogued_op(tmp_path: Path) -> None:
    # the kernel case, its op made put_ (catalogued), with a real CPU audit as the report
    from detaudit.catalog import load_catalog
    from detaudit.model.reportfile import load_report

    for name in ("a.trace", "kernel.trace"):
        text = (TRACES / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace('"aten::sum"', '"aten::put_"'), "utf-8")
    report = load_report(TRACES.parent / "reports" / "cpu-torch2.13.0.json")
    a, b = load_trace(tmp_path / "a.trace"), load_trace(tmp_path / "kernel.trace")
    d = compare_traces(a, b, catalog=load_catalog(), reports=[report]).divergence
    assert d.cause is Cause.KERNEL
    line = next(x for x in d.details if x.startswith("in the catalogue: put-accumulate-false:"))
    assert "(docs claim); observed on torch 2.13.0+cpu · cpu: raises (put_)" in line
    # without a report: the claim alone
    d = compare_traces(a, b, catalog=load_catalog()).divergence
    line = next(x for x in d.details if x.startswith("in the catalogue: put-accumulate-false:"))
    assert line.endswith("(docs claim)")


def test_compare_reads_a_report_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    good = run_cli_here(
        "compare",
        str(TRACES / "a.trace"),
        str(TRACES / "same.trace"),
        "--report",
        str(TRACES.parent / "reports" / "cpu-torch2.13.0.json"),
    )
    assert good.returncode == 0, good.stderr
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    bad = run_cli_here(
        "compare",
        str(TRACES / "a.trace"),
        str(TRACES / "same.trace"),
        "--report",
        str(tmp_path / "bad.json"),
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "bad.json" in bad.stderr
