"""The Python API in this process: record(), step(), --rerun's generators, partial traces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import detaudit
from detaudit.errors import TraceError
from detaudit.trace.compare import compare_traces
from detaudit.trace.format import SCHEMA_VERSION, load_trace
from detaudit.trace.recorder import record, step


def _program(generator: torch.Generator) -> list[torch.Tensor]:
    draws = []
    for _ in range(3):
        draws.append(torch.randn(5, generator=generator))
        draws.append(torch.nn.functional.dropout(torch.ones(8), 0.5))  # the global generator
        draws.append(torch.randperm(10, generator=generator))
        step()
    return draws


def test_rerun_leaves_the_programs_generator_stream_unchanged(tmp_path: Path) -> None:
    plain = torch.Generator().manual_seed(7)
    torch.manual_seed(3)
    expected = _program(plain)
    recorded = torch.Generator().manual_seed(7)
    torch.manual_seed(3)
    with record(tmp_path / "r.trace", rerun=True) as mode:
        got = _program(recorded)
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    assert torch.equal(plain.get_state(), recorded.get_state())
    assert mode.rerun_differs == []
    trace = load_trace(tmp_path / "r.trace")
    assert trace.complete and len(trace.steps) == 3
    assert trace.step_of(trace.steps[0] - 1) == 1 and trace.step_of(trace.steps[1]) == 3


def test_two_recordings_of_the_same_seeded_code_compare_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        torch.manual_seed(0)
        with record(tmp_path / f"{name}.trace"):
            x = torch.randn(4, 4, requires_grad=True)
            (x @ x).relu().sum().backward()
    comparison = compare_traces(load_trace(tmp_path / "a.trace"), load_trace(tmp_path / "b.trace"))
    assert comparison.identical


def test_the_public_api_names() -> None:
    assert detaudit.record is record
    assert detaudit.step is step


def test_a_crash_leaves_a_partial_trace(tmp_path: Path) -> None:
    path = tmp_path / "crash.trace"
    with pytest.raises(ZeroDivisionError), record(path):
        torch.ones(3).add(1)
        1 / 0  # noqa: B018
    trace = load_trace(path)
    assert not trace.complete
    assert trace.op(len(trace.lines) - 1)["op"] == "aten::add.Tensor"
    assert "ZeroDivisionError" in trace.footer["reason"]


def test_a_trace_cut_mid_line_reads_as_partial(tmp_path: Path) -> None:
    path = tmp_path / "cut.trace"
    with record(path):
        torch.ones(3).add(1).mul(2)
    whole = len(load_trace(path).lines)
    text = path.read_text()
    body = text[: text.rindex('{"k":"end"')]
    path.write_text(body[:-20])  # the last op line cut mid-way, no footer
    trace = load_trace(path)
    assert not trace.complete and len(trace.lines) == whole - 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("hello\n", "not a detaudit trace"),
        ('{"detaudit_trace":1,"k":"hea', "truncated trace (its header is cut short)"),
        ('{"k":"header","detaudit_trace":99}\n', "schema version 99"),
        (
            f'{{"detaudit_trace":{SCHEMA_VERSION},"k":"header"}}\nnot json\n{{"k":"end"}}\n',
            "garbled trace (line 2",
        ),
    ],
)
def test_bad_traces_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_text(content)
    with pytest.raises(TraceError, match=r"^[^\n]*" + re.escape(message)):
        load_trace(path)


def test_bad_input_on_the_command_line_is_exit_2(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text(json.dumps({"k": "header", "detaudit_trace": 2}) + "\n")
    done = cli("compare", str(bad), str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "schema version 2" in done.stderr
    done = cli("compare", str(tmp_path / "missing.trace"), str(bad))
    assert done.returncode == 2 and "no such trace file" in done.stderr
    done = cli("record", "--", "python", str(tmp_path / "nope.py"))
    assert (
        done.returncode == 2
        and "record: " in done.stderr
        and "no such Python script" in done.stderr
    )
    done = cli("twice", "--runs", "1", "--", "python", "x.py")
    assert done.returncode == 2
