"""``detaudit diff``: the changes between two reports, the exit codes, and bad input.

The h100-torch2.10/2.11 reports are hand-made (tests/data/reports/README.md);
the CPU reports come from a real audit run by the ``cpu_report_file`` fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from detaudit.compare.diff import ChangeKind, diff_reports
from detaudit.errors import ReportError
from detaudit.model.report import Report, Status
from detaudit.model.reportfile import load_report
from detaudit.render import RENDERERS

from ..conftest import NEW_GPU, OLD_GPU, check_golden, run_cli_here


@pytest.fixture(scope="module")
def gpu_diff():
    return diff_reports(
        load_report(OLD_GPU),
        load_report(NEW_GPU),
        old_source=OLD_GPU.name,
        new_source=NEW_GPU.name,
    )


def _keys(diff, kind: ChangeKind) -> list[tuple[str, str]]:
    return [c.key for c in diff.of_kind(kind)]


# ------------------------------------------------------------------- the hand-made upgrade


def test_upgrade_changes_are_found(gpu_diff):
    assert _keys(gpu_diff, ChangeKind.NEWLY_RAISES) == [("scatter-reduce-sum", "cuda")]
    assert _keys(gpu_diff, ChangeKind.FIXED) == [("max-pool3d-backward", "cuda")]
    assert _keys(gpu_diff, ChangeKind.REPEATABILITY_LOST) == [("index-copy", "cuda")]
    assert _keys(gpu_diff, ChangeKind.REPEATABILITY_GAINED) == []
    # raises -> crashed: the candidate could not be audited there (issue 18)
    assert _keys(gpu_diff, ChangeKind.NEWLY_FAILS) == [("grid-sample-backward", "cuda")]
    assert _keys(gpu_diff, ChangeKind.STATUS_CHANGED) == []
    assert _keys(gpu_diff, ChangeKind.ONLY_OLD) == [("kthvalue", "cpu"), ("kthvalue", "cuda")]
    assert _keys(gpu_diff, ChangeKind.ONLY_NEW) == [
        ("embedding-backward", "cpu"),
        ("embedding-backward", "cuda"),
    ]
    assert gpu_diff.unchanged == 10


def test_change_details(gpu_diff):
    (newly,) = gpu_diff.of_kind(ChangeKind.NEWLY_RAISES)
    assert (newly.old.status, newly.new.status) == (Status.CONVERTS, Status.RAISES)
    assert newly.new.kernel == "scatter_reduce_two_cuda"
    assert newly.result.pass_ == "forward"
    (fixed,) = gpu_diff.of_kind(ChangeKind.FIXED)
    assert fixed.result.pass_ == "backward"
    assert fixed.old.kernel == "max_pool3d_with_indices_backward_cuda"
    (lost,) = gpu_diff.of_kind(ChangeKind.REPEATABILITY_LOST)
    assert lost.old.status is lost.new.status is Status.CONVERTS
    assert (lost.old.bits_repeat, lost.new.bits_repeat) == (True, False)


def test_environment_differences(gpu_diff):
    changed = {e.field: (e.old, e.new) for e in gpu_diff.environment}
    assert changed["torch"] == ("2.10.0+cu128", "2.11.0+cu130")
    assert changed["cuda"] == ("12.8", "13.0")
    assert changed["cudnn"] == ("91002", "91300")
    assert changed["gpu_driver"] == ("570.133.20", "580.65.06")
    assert "gpu" not in changed and "hostname" not in changed  # same H100, same host
    assert "time" not in changed  # always differs; never reported


def test_reversed_upgrade_swaps_newly_raises_and_fixed(gpu_diff):
    back = diff_reports(gpu_diff.new, gpu_diff.old)
    assert _keys(back, ChangeKind.NEWLY_RAISES) == [("max-pool3d-backward", "cuda")]
    assert _keys(back, ChangeKind.FIXED) == [("scatter-reduce-sum", "cuda")]
    assert _keys(back, ChangeKind.REPEATABILITY_GAINED) == [("index-copy", "cuda")]
    assert back.unchanged == gpu_diff.unchanged


def test_fail_on_policies(gpu_diff):
    assert gpu_diff.fails("newly-raises")
    assert gpu_diff.fails("any-change")
    assert not gpu_diff.fails("none")
    same = diff_reports(gpu_diff.old, gpu_diff.old)
    assert same.changes == () and same.environment == ()
    assert not any(same.fails(p) for p in ("newly-raises", "any-change", "none"))


@pytest.mark.parametrize("fmt", sorted(RENDERERS["diff"]))
def test_golden(gpu_diff, fmt, request):
    check_golden(
        request, f"diff{RENDERERS['diff'][fmt].extension}", RENDERERS["diff"][fmt].render(gpu_diff)
    )


def test_json_output_is_complete(gpu_diff):
    data = json.loads(RENDERERS["diff"]["json"].render(gpu_diff))
    assert data["counts"]["newly-raises"] == 1 and data["unchanged"] == 10
    assert {c["kind"] for c in data["changes"]} == {k.value for k in ChangeKind} - {
        "repeatability-gained",
        "status-changed",  # its one other change of status is a crash: newly-fails
        "bits-differ",  # the hand-made reports record no digests
        "backward-only-changed",  # the hand-made reports predate it: test_two_ways_in_diff.py
    }
    newly = next(c for c in data["changes"] if c["kind"] == "newly-raises")
    assert newly["old"]["status"] == "converts" and newly["new"]["status"] == "raises"
    assert newly["new"]["kernel"] == "scatter_reduce_two_cuda"
    only_new = next(c for c in data["changes"] if c["kind"] == "only-new")
    assert only_new["old"] is None
    assert {"field": "cuda", "old": "12.8", "new": "13.0"} in data["environment"]


def test_duplicate_result_is_a_report_error(gpu_diff):
    doubled = replace(gpu_diff.old, results=gpu_diff.old.results + gpu_diff.old.results[:1])
    with pytest.raises(ReportError, match="two results for index-add on cpu"):
        diff_reports(doubled, gpu_diff.new, old_source="old.json")


# ------------------------------------------------------------------- newly fails (issue 18)

AUDITED = [Status.CONVERTS, Status.OK, Status.WARNS, Status.RAISES, Status.SKIPPED]
FAILING = [Status.ERROR, Status.CRASHED, Status.TIMEOUT]


def _one_changed(gpu_diff, old: Status, new: Status):
    """The upgrade's old report against itself, ``index-copy`` on cuda ``old`` -> ``new``."""

    def edited(status: Status):
        return replace(
            gpu_diff.old,
            results=tuple(
                replace(r, status=status, kernel=None, message="ValueError: boom")
                if (r.id, r.device) == ("index-copy", "cuda")
                else r
                for r in gpu_diff.old.results
            ),
        )

    return diff_reports(edited(old), edited(new))


@pytest.mark.parametrize("new", FAILING)
@pytest.mark.parametrize("old", AUDITED)
def test_an_entry_that_could_not_be_audited_now_fails_the_gate(gpu_diff, old, new):
    diff = _one_changed(gpu_diff, old, new)
    assert [c.kind for c in diff.changes] == [ChangeKind.NEWLY_FAILS]
    for policy in ("newly-raises", "bits-differ", "any-change"):
        assert diff.fails(policy), policy
    assert not diff.fails("none")
    assert diff.failure("newly-raises") == (
        "0 results newly raise, 1 could not be audited in new (--fail-on newly-raises)"
    )


@pytest.mark.parametrize(
    "old,new",
    [
        (Status.ERROR, Status.CRASHED),  # it could not be audited before either
        (Status.TIMEOUT, Status.ERROR),
        (Status.ERROR, Status.CONVERTS),  # now it can
        (Status.CRASHED, Status.RAISES),
    ],
)
def test_a_change_from_a_failure_is_no_new_failure(gpu_diff, old, new):
    diff = _one_changed(gpu_diff, old, new)
    assert [c.kind for c in diff.changes] == [ChangeKind.STATUS_CHANGED]
    assert not diff.fails("newly-raises")
    assert diff.fails("any-change")


def test_cli_fails_the_gate_on_a_newly_failing_entry(gpu_diff, tmp_path):
    diff = _one_changed(gpu_diff, Status.CONVERTS, Status.ERROR)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(RENDERERS["report"]["json"].render(diff.old))
    new.write_text(RENDERERS["report"]["json"].render(diff.new))
    result = run_cli_here("diff", str(old), str(new), timeout=60)
    assert result.returncode == 1, result.stderr
    assert "newly fails (1): audited before and could not be audited now" in result.stdout
    assert "index-copy  cuda  forward  converts -> error: ValueError: boom" in result.stdout
    assert result.stderr == (
        "detaudit: diff: 0 results newly raise, 1 could not be audited in new "
        "(--fail-on newly-raises)\n"
    )


# ------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "policy,code", [(None, 1), ("newly-raises", 1), ("any-change", 1), ("none", 0)]
)
def test_cli_exit_codes_for_the_upgrade(policy, code):
    args = ["diff", str(OLD_GPU), str(NEW_GPU)] + (["--fail-on", policy] if policy else [])
    result = run_cli_here(*args, timeout=60)
    assert result.returncode == code, result.stderr
    assert "newly raises (1)" in result.stdout
    assert "scatter-reduce-sum  cuda  forward  converts -> raises (scatter_reduce_two_cuda)" in (
        result.stdout
    )
    if code:
        assert result.stderr.count("\n") == 1 and "--fail-on" in result.stderr


def test_cli_writes_markdown_to_a_file(tmp_path):
    out = tmp_path / "ci" / "diff.md"
    result = run_cli_here("diff", str(OLD_GPU), str(NEW_GPU), "--format", "md", "-o", str(out))
    assert result.returncode == 1
    assert result.stdout == ""  # stdout is for the document; it went to the file
    assert result.stderr.splitlines()[0] == f"wrote {out}"
    assert out.read_text().startswith("# detaudit diff: torch 2.10.0+cu128")


# ------------------------------------------------------------------- a real CPU audit


def _edited(path, tmp_path, name: str, **statuses: Status):
    """A copy of the real report with some statuses changed by hand (as a new torch might)."""
    report = load_report(path)
    results = tuple(
        replace(r, status=statuses[r.id], kernel=None) if r.id in statuses else r
        for r in report.results
    )
    edited = tmp_path / name
    edited.write_text(RENDERERS["report"]["json"].render(replace(report, results=results)))
    return edited


def test_real_cpu_report_against_itself_has_no_change(cpu_report_file):
    for policy in ("newly-raises", "any-change"):
        result = run_cli_here("diff", str(cpu_report_file), str(cpu_report_file), "--fail-on", policy)
        assert result.returncode == 0, result.stderr
        assert "no result changed" in result.stdout
        assert "environment: the same" in result.stdout


def test_real_cpu_report_with_a_regression(cpu_report_file, tmp_path):
    real = load_report(cpu_report_file)
    by_id = {r.id: r.status for r in real.results}
    # measured on this machine, not assumed: the edit below flips what was observed
    assert by_id["index-copy"] is Status.CONVERTS
    assert by_id["put-accumulate-false"] is Status.RAISES
    new = _edited(
        cpu_report_file,
        tmp_path,
        "new.json",
        **{"index-copy": Status.RAISES, "put-accumulate-false": Status.CONVERTS},
    )
    result = run_cli_here("diff", str(cpu_report_file), str(new), "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    kinds = {(c["kind"], c["id"]) for c in data["changes"]}
    assert kinds == {("newly-raises", "index-copy"), ("fixed", "put-accumulate-false")}
    assert data["unchanged"] == len(real.results) - 2
    assert run_cli_here("diff", str(cpu_report_file), str(new), "--fail-on", "none").returncode == 0


def test_real_cpu_report_against_the_gpu_fixture(cpu_report_file):
    diff = diff_reports(load_report(cpu_report_file), load_report(NEW_GPU))
    only_new = _keys(diff, ChangeKind.ONLY_NEW)
    assert ("index-add", "cuda") in only_new and ("scatter-reduce-sum", "cpu") in only_new
    fields = {e.field for e in diff.environment}
    assert {"torch", "cuda", "gpu", "gpu_driver", "hostname"} <= fields


# ------------------------------------------------------------------- bad input: exit 2


BAD_REPORTS = [
    (None, "no such file"),
    ("{not json", "not a JSON report (Expecting property name"),
    ("# detaudit report: torch", "not a JSON report"),
    ('{"results": []}', "not a detaudit report"),
    ('{"schema_version": 99, "results": []}', "report schema 99 is newer"),
    ('{"schema_version": 1, "environment": "x", "results": []}', "environment: expected an object"),
    (
        '{"schema_version": 1, "environment": {"torch": "2.0"}, "results": [{}]}',
        "results[0]: missing field 'id'",
    ),
]


@pytest.mark.parametrize("content,message", BAD_REPORTS)
def test_bad_report_is_a_report_error(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(ReportError) as caught:
        load_report(bad)
    text = str(caught.value)
    assert text.startswith(f"{bad}: ") and message in text and "\n" not in text


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("content,message", [BAD_REPORTS[0], BAD_REPORTS[1], BAD_REPORTS[4]])
def test_bad_report_is_exit_2_with_one_line(tmp_path, content, message, which):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    args = [str(OLD_GPU), str(NEW_GPU)]
    args[which] = str(bad)
    result = run_cli_here("diff", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"detaudit: error: {bad}: ")
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stdout == ""


def test_newer_schema_of_a_real_report_is_refused(cpu_report_file, tmp_path):
    data = json.loads(cpu_report_file.read_text())
    data["schema_version"] += 1
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(data))
    with pytest.raises(ReportError, match="newer than this detaudit understands"):
        load_report(newer)
    assert run_cli_here("diff", str(cpu_report_file), str(newer)).returncode == 2


def test_report_objects_round_trip_through_the_loader(cpu_report_file):
    report = load_report(cpu_report_file)
    assert isinstance(report, Report) and report.devices == ("cpu",)


def test_diff_and_table_never_import_torch(cpu_report_file):
    code = (
        "import sys\n"
        "from detaudit.cli import main\n"
        f"assert main(['diff', {str(OLD_GPU)!r}, {str(NEW_GPU)!r}, '--fail-on', 'none']) == 0\n"
        f"assert main(['table', {str(OLD_GPU)!r}, {str(cpu_report_file)!r}, '--format', 'html']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "status,counted",
    [(Status.CONVERTS, True), (Status.OK, True), (Status.RAISES, False), (Status.WARNS, False)],
)
def test_repeatability_counts_only_where_the_mode_promises_it(status, counted):
    """A raising entry's mode-on bits come from warn-only runs of its racy kernel: no news."""
    old = load_report(OLD_GPU)
    base = replace(old.results[0], status=status, runs_mode_on=2, distinct_on=1)
    flipped = replace(base, distinct_on=2)
    before, after = replace(old, results=(base,)), replace(old, results=(flipped,))
    lost = diff_reports(before, after).of_kind(ChangeKind.REPEATABILITY_LOST)
    gained = diff_reports(after, before).of_kind(ChangeKind.REPEATABILITY_GAINED)
    assert (len(lost), len(gained)) == ((1, 1) if counted else (0, 0))
    assert diff_reports(before, after).fails("any-change") is counted
