"""The terminal summary of ``detaudit audit`` fits the screen the command leaves behind.

tests/data/reports/cpu-torch2.13.0.json is a real CPU audit (106 entries, 5
raise, 12 skipped): the summary of it must end on the raises at 80x24.
"""

from __future__ import annotations

import dataclasses

from rich.console import Console

from detaudit.cli.console import SHOWN, summary
from detaudit.model.report import Report, Status
from detaudit.model.reportfile import load_report

from ..conftest import REPORTS

CPU_AUDIT = REPORTS / "cpu-torch2.13.0.json"
WIDTH, HEIGHT = 80, 24
WROTE = 3  # audit then prints one "wrote PATH" line per format: json, md and html at most


def screen(report: Report) -> list[str]:
    """The summary's lines as an 80-column terminal shows them."""
    console = Console(width=WIDTH, highlight=False, soft_wrap=False)
    with console.capture() as captured:
        summary(console, report)
    return captured.get().splitlines()


def test_a_cpu_audit_fits_one_screen_with_its_raises_named():
    report = load_report(CPU_AUDIT)
    raising = [r.id for r in report.results if r.status is Status.RAISES]
    skipped = sum(1 for r in report.results if r.status is Status.SKIPPED)
    assert (len(raising), skipped) == (5, 12)  # the fixture is what the test says it is
    lines = screen(report)
    assert len(lines) + WROTE <= HEIGHT, "\n".join(lines)
    assert all(len(line) <= WIDTH for line in lines)
    for entry in raising:  # each raise named, with its kernel, uncut
        (line,) = [line for line in lines if line.startswith(f"{entry} ")]
        assert report.results[[r.id for r in report.results].index(entry)].kernel in line
    assert f"{skipped} skipped (not run): the report says why for each" in lines
    assert not any("sdpa-cudnn-forward" in line for line in lines)  # a skipped entry: counted
    assert lines[0] == "detaudit: torch 2.13.0+cpu · cpu"
    assert any(line.startswith("census: 3 of the 7 alert names") for line in lines)
    assert "cpu: 5 raises · 5 converts · 84 ok · 12 skipped" in lines
    assert "no drift: every observed status matches the docs of this torch" in lines


def test_raises_drift_and_failures_come_last():
    """Findings end the summary: not observed, the warning, drift, then raises."""
    report = load_report(REPORTS / "h100-torch2.11.json")
    lines = screen(report)
    heads = [
        next(i for i, line in enumerate(lines) if line.startswith(head))
        for head in ("cpu: ", "cuda: ", "not observed: 1 could not", "drift: 2", "raises: 4")
    ]
    assert heads == sorted(heads)
    assert lines[-1].startswith("nll-loss ") and "nll_loss2d_forward_out_cu" in lines[-1]
    assert ["scatter-reduce-sum", "cuda"] in [line.split()[:2] for line in lines]  # two devices


def test_a_long_list_shows_its_first_rows_and_names_the_rest():
    report = load_report(CPU_AUDIT)
    results = tuple(
        dataclasses.replace(r, status=Status.RAISES, kernel=f"k{i}") if i % 2 else r
        for i, r in enumerate(report.results)
    )
    many = dataclasses.replace(report, results=results)
    raising = [r.id for r in results if r.status is Status.RAISES]
    text = "\n".join(lines := screen(many))
    table = [line for line in lines if line.split(" ")[0] in raising and " k" in line]
    assert len(table) == SHOWN
    rest = text[text.index(f"and {len(raising) - SHOWN} more (in the report): ") :]
    assert all(entry in rest for entry in raising[SHOWN:])


def test_context_lists_are_one_line_each_and_capped():
    """Reach notes (like two ways and compiled): one cut line per entry, then the rest named."""
    report = load_report(CPU_AUDIT)
    results = (
        tuple(
            dataclasses.replace(r, unreached=("aten::" + "x" * 90,), reached_without_mode=False)
            for r in report.results[: SHOWN + 3]
        )
        + report.results[SHOWN + 3 :]
    )
    lines = screen(dataclasses.replace(report, results=results))
    start = lines.index(f"not reached under the mode: {SHOWN + 3}")
    shown = lines[start + 1 : start + 1 + SHOWN]
    assert all(line.startswith("  ") and line.endswith("…") for line in shown)
    assert [line.split()[0] for line in shown] == [r.id for r in results[:SHOWN]]
    rest = " ".join(" ".join(lines[start + 1 + SHOWN :]).split())  # the wrapped line, unwrapped
    assert rest.startswith("and 3 more (in the report): ")
    assert all(f"{r.id} (cpu)" in rest for r in results[SHOWN : SHOWN + 3])


def test_the_summary_audit_prints_is_the_registered_renderer():
    from detaudit.render import RENDERERS

    report = load_report(CPU_AUDIT)
    assert RENDERERS["summary"]["text"].render(report).splitlines() == screen(report)
