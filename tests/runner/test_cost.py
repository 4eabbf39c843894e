"""The cost of determinism: ``audit --cost`` times each entry that runs with the mode off and on.

tests/data/reports/fixture-cost.json is fixture-gpu.json with hand-made timings
(made with ``Cost.from_samples``), not a measurement. Its golden files are
regenerated with ``pytest tests/runner/test_cost.py --update-golden``.
"""

from __future__ import annotations

import json

import pytest

from detaudit import Report, Status, audit
from detaudit.catalog import load_catalog
from detaudit.model.report import Cost, ProbeResult
from detaudit.render import RENDERERS
from detaudit.render.prose import cost_reading
from detaudit.runner.spec import plan

from ..conftest import DATA, check_golden

FIXTURE = DATA / "reports" / "fixture-cost.json"
RAN = (Status.CONVERTS, Status.OK, Status.WARNS)


@pytest.fixture(scope="module")
def fixture() -> Report:
    return Report.from_dict(json.loads(FIXTURE.read_text()), source=str(FIXTURE))


@pytest.fixture(scope="module")
def timed() -> Report:
    """The whole built-in catalogue on this CPU, with 3 timed runs per mode."""
    return audit(device="cpu", repeat=1, cost=3)


# --------------------------------------------------------------------------- the record


def test_cost_summarises_runs_with_median_and_interquartile_range():
    cost = Cost.from_samples([1.0, 1.1, 0.9, 5.0, 1.0], [3.0, 3.3, 2.9, 3.1, 0.1])
    assert (cost.off, cost.on, cost.runs) == (1.0, 3.0, 5)
    assert cost.ratio == pytest.approx(3.0)
    # inclusive quartiles of 5 runs are the 2nd and 4th: one outlier per side is dropped
    assert (cost.off_q1, cost.off_q3) == (1.0, 1.1)
    assert (cost.on_q1, cost.on_q3) == (2.9, 3.1)
    assert not cost.within_noise
    noisy = Cost.from_samples([1.0, 1.2, 0.9, 1.1, 1.0], [1.1, 1.3, 1.0, 1.2, 1.1])
    assert noisy.ratio == pytest.approx(1.1) and noisy.within_noise


def test_result_round_trips_with_and_without_cost(fixture):
    with_cost = [r for r in fixture.results if r.cost is not None]
    assert with_cost
    for result in fixture.results:
        assert ProbeResult.from_dict(result.to_dict()) == result
    plain = next(r for r in fixture.results if r.cost is None)
    assert "cost" not in plain.to_dict()  # reports made without --cost keep their shape
    old = plain.to_dict()
    assert ProbeResult.from_dict(old).cost is None


def test_default_audit_plans_no_timing():
    catalog = load_catalog()
    plain = plan(catalog, ("cpu",), "2.13.0", repeat=3, seed=0)
    assert all(p.request.cost is None for p in plain)
    timed = plan(catalog, ("cpu",), "2.13.0", repeat=3, seed=0, cost=4)
    assert all(p.request.cost == 4 for p in timed)


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("fmt", sorted(RENDERERS["report"]))
def test_golden(fixture, fmt, request):
    check_golden(
        request,
        f"fixture-cost{RENDERERS['report'][fmt].extension}",
        RENDERERS["report"][fmt].render(fixture),
    )


def test_cost_table_is_sorted_and_flags_noise(fixture):
    md = RENDERERS["report"]["md"].render(fixture)
    section = md[md.index("## Cost of determinism (7)") : md.index("## Not observed")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    ids = [row.split(" | ")[0].lstrip("| ") + "/" + row.split(" | ")[2] for row in rows[1:]]
    assert ids[0] == "max-pool3d-backward/cuda"  # slowest deterministic first
    assert ids[-1] == "kthvalue/cuda"  # faster deterministic last
    assert "3.5x slower deterministic" in rows[1]
    assert "1.27x faster deterministic" in rows[-1]
    assert sum("within noise" in row for row in rows) == 4
    assert md.index("## Results") < md.index("## Cost of determinism") < md.index("## Not observed")


def test_reading_names_entry_and_device(fixture):
    (pool,) = [r for r in fixture.results if r.id == "max-pool3d-backward" and r.device == "cuda"]
    assert cost_reading(pool) == "max-pool3d-backward on cuda: 3.5x slower deterministic"


def test_no_cost_section_without_cost():
    report = Report.from_dict(json.loads((DATA / "reports" / "fixture-gpu.json").read_text()))
    assert "Cost of determinism" not in RENDERERS["report"]["md"].render(report)


# --------------------------------------------------------------------------- a real audit


@pytest.mark.slow  # a timed audit of the whole catalogue
def test_every_entry_that_ran_has_a_ratio(timed):
    ran = [r for r in timed.results if r.status in RAN]
    assert len(ran) > 40
    for result in ran:
        assert result.cost is not None, result.id
        assert result.cost.runs == 3
        assert result.cost.off > 0 and result.cost.on > 0
        assert result.cost.ratio == pytest.approx(result.cost.on / result.cost.off)
    for result in timed.results:
        if result.status not in RAN:
            assert result.cost is None, result.id  # raised: it cannot run deterministic
    assert timed.settings["cost_runs"] == 3


@pytest.mark.slow  # a timed audit of the whole catalogue
def test_every_timed_entry_is_a_row_of_the_cost_table(timed):
    md = RENDERERS["report"]["md"].render(timed)
    section = md[md.index("## Cost of determinism") :]
    for result in timed.results:
        if result.cost is not None:
            assert f"| {result.id} | `{result.api}` | cpu |" in section, result.id
    again = Report.from_dict(json.loads(RENDERERS["report"]["json"].render(timed)))
    assert again == timed


def test_cli_cost_flag(tmp_path):
    from ..conftest import run_cli

    result = run_cli(
        "audit",
        "--device",
        "cpu",
        "--only",
        "index-copy",
        "--repeat",
        "1",
        "--cost",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "cost of determinism, slowest first (1 timed" in result.stdout
    assert "index-copy on cpu: " in result.stdout
    (md,) = tmp_path.glob("*.md")
    assert "## Cost of determinism (1)" in md.read_text()
    (js,) = tmp_path.glob("*.json")
    (entry,) = json.loads(js.read_text())["results"]
    assert entry["cost"]["runs"] == 2


@pytest.mark.cuda
def test_cost_on_cuda():
    report = audit(device="cuda", only=["index-add", "index-copy", "histc"], repeat=1, cost=3)
    by_id = {r.id: r for r in report.results if r.device == "cuda"}
    for entry_id in ("index-add", "index-copy"):
        cost = by_id[entry_id].cost
        assert cost is not None and cost.runs == 3 and cost.off > 0 and cost.on > 0, entry_id
    assert by_id["histc"].status is Status.RAISES and by_id["histc"].cost is None


def test_the_html_report_keeps_the_cost_table(fixture):
    """--cost is not dropped by the HTML page: the same rows as the Markdown table, same order."""
    html = RENDERERS["report"]["html"].render(fixture)
    md = RENDERERS["report"]["md"].render(fixture)
    assert "Cost of determinism (7)</h2>" in html and "## Cost of determinism (7)" in md
    section = html[html.index('<section class="cost">') :].split("</section>")[0]
    assert section.count("<tr><td>") == 7
    assert section.index("3.5x slower deterministic") < section.index("1.27x faster deterministic")
