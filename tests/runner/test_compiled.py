"""``audit --compile``: the compiled observation, its cache, its failures, and how it shows.

Two real audits: three built-in entries through Inductor on this CPU (a C++
compile, tens of seconds with the audit's empty cache), and a user catalogue
through a test backend that runs graphs eagerly and refuses ``torch.cumsum``
(tests/data/user/compileprobes.py: an injected compilation failure). The
render and diff tests use **hand-made** results: compiled observations written
by hand with :func:`dataclasses.replace`, not measurements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from detaudit import Report, Status, audit
from detaudit.compare.compiled import Divergence, divergence
from detaudit.compare.diff import diff_reports
from detaudit.errors import ReportError
from detaudit.model.report import Compiled, Environment, ProbeResult
from detaudit.render import RENDERERS
from detaudit.runner.compilecache import CACHE_VARIABLES

from ..conftest import DATA, REPORTS

SUBSET = ("index-add", "scatter-add-1d", "index-put-accumulate-true-cpu")
USER = DATA / "user" / "compiled.yaml"
BACKEND = "detaudit_test_failing"


@pytest.fixture(scope="module")
def inductor(tmp_path_factory):
    """The subset through Inductor, with this process's temp dir and a "user" cache watched.

    Returns (report, what the audit's temp dir held while it ran, the temp dir, the user cache).
    """
    temp = tmp_path_factory.mktemp("tmp")
    user_cache = tmp_path_factory.mktemp("user-cache") / "inductor"
    seen: list[list[str]] = []

    def progress(result, done, total):
        seen.append(sorted(str(p.relative_to(temp)) for p in temp.glob("detaudit-compile-*/*")))

    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    tempfile.tempdir = str(temp)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(user_cache)  # the user's own cache setting
    try:
        # --timeout 10 is far below a first compile with an empty cache (27 s here):
        # the compile allowance must keep it from being read as a hang.
        report = audit(
            device="cpu",
            only=list(SUBSET),
            repeat=2,
            timeout=10,
            compile="inductor",
            progress=progress,
        )
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            del os.environ["TORCHINDUCTOR_CACHE_DIR"]
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = saved_env
    return report, seen, temp, user_cache


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_inductor_audit_records_a_compiled_observation_per_result(inductor):
    report = inductor[0]
    assert {r.id for r in report.results} == set(SUBSET)
    for result in report.results:
        compiled = result.compiled
        assert compiled is not None, result.id
        assert compiled.backend == "inductor"
        assert compiled.outcome in ("ran", "alert", "error"), compiled
        if compiled.outcome == "ran":
            assert compiled.runs == 2 and compiled.distinct in (1, 2)
            assert compiled.digest and compiled.same_as_eager in (True, False)
        # the mode is on in the compiled runs, and so Inductor's own flag; fallback_random too
        assert compiled.settings["deterministic"] is True
        assert compiled.settings["fallback_random"] is True
        assert compiled.seconds > 0
    data = json.loads(RENDERERS["report"]["json"].render(report))
    assert set(data["results"][0]["compiled"]) >= {
        "backend",
        "outcome",
        "kernel",
        "runs",
        "distinct",
        "same_as_eager",
        "settings",
    }
    assert Report.from_dict(data) == report
    assert data["settings"]["compile"] == "inductor"


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_inductor_settings_recorded_as_installed(inductor):
    installed = inductor[0].environment.inductor
    assert installed is not None
    assert {"deterministic", "fallback_random"} <= set(installed)
    assert all(isinstance(v, bool) for v in installed.values())


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_first_compile_within_the_compile_allowance_is_no_timeout(inductor):
    report = inductor[0]
    assert [r.status for r in report.results if not r.status.observed] == []


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_compile_cache_is_the_audits_own_and_removed_after(inductor):
    _, seen, temp, user_cache = inductor
    # while the audit ran, Inductor's cache was a folder inside the audit's temporary folder
    assert len(seen) == len(SUBSET)
    assert all(
        any(Path(p).name == CACHE_VARIABLES["TORCHINDUCTOR_CACHE_DIR"] for p in s) for s in seen
    )
    assert not list(temp.glob("detaudit-compile-*"))  # gone after the audit
    assert not user_cache.exists()  # the user's cache setting was overridden, not used


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_report_shows_the_compiled_section(inductor):
    text = RENDERERS["report"]["md"].render(inductor[0])
    assert "## Compiled: torch.compile, backend inductor (3)" in text
    assert "Compiled differs from eager:" in text
    assert "Inductor settings (installed)" in text


# ----------------------------------------------------------------------- injected failure


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_compile_failure_is_that_entrys_result_and_the_audit_goes_on(cli, tmp_path):
    done = cli(
        "audit",
        "--device",
        "cpu",
        "--no-builtin",
        "--catalog",
        str(USER),
        "--compile",
        BACKEND,
        "--repeat",
        "2",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    (path,) = tmp_path.glob("*.json")
    report = Report.from_dict(json.loads(path.read_text()))
    by_id = {r.id: r for r in report.results}
    failed, ok = by_id["user-compile-fails"], by_id["user-compile-ok"]
    assert failed.status is Status.CONVERTS  # eager ran: the compile error is not the eager status
    assert failed.compiled.outcome == "error"
    assert failed.compiled.reason == "compile-error"
    assert "injected compilation failure" in failed.compiled.message
    assert failed.compiled.runs == 0 and failed.compiled.distinct is None
    assert divergence(failed) is Divergence.COMPILE_ERROR
    assert ok.compiled.outcome == "ran" and ok.compiled.runs == 2
    assert ok.compiled.distinct == 1 and ok.compiled.same_as_eager is True
    assert divergence(ok) is None
    assert "compiled (detaudit_test_failing): 1 of 2 differ from eager" in done.stdout
    markdown = next(tmp_path.glob("*.md")).read_text()
    assert "| user-compile-fails | cpu | converts | compile-error | compile-error |" in markdown


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_a_compile_past_its_budget_keeps_the_eager_result_and_says_timeout(cli, tmp_path):
    # The backend sleeps two minutes; the compiled runs may take 1 s. The eager runs are
    # fast: they stay the result, and only the compiled observation is a timeout.
    done = cli(
        "audit", "--device", "cpu", "--no-builtin", "--catalog", str(USER),
        "--only", "user-compile-ok", "--compile", "detaudit_test_slow",
        "--compile-timeout", "1", "--repeat", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = Report.from_dict(json.loads(next(tmp_path.glob("*.json")).read_text()))
    (result,) = report.results
    assert result.status is Status.CONVERTS, result.message  # eager's, kept
    assert result.runs_mode_on == 2 and result.bits_repeat is True
    compiled = result.compiled
    assert compiled.backend == "detaudit_test_slow"
    assert compiled.outcome == "timeout"
    assert "--compile-timeout 1 s" in compiled.message
    assert compiled.runs == 0 and compiled.distinct is None
    assert 1 <= compiled.seconds < 120
    assert divergence(result) is None  # nothing compiled was observed
    markdown = next(tmp_path.glob("*.md")).read_text()
    assert "| user-compile-ok | cpu | converts | 1 of 2 | timeout | – | – |" in markdown


@pytest.mark.slow  # torch.compile audits (Inductor: tens of seconds)
def test_compile_deterministic_turns_inductors_settings_on(cli, tmp_path):
    done = cli(
        "audit",
        "--device",
        "cpu",
        "--no-builtin",
        "--catalog",
        str(USER),
        "--only",
        "user-compile-ok",
        "--compile",
        BACKEND,
        "--compile-deterministic",
        "--repeat",
        "2",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    report = Report.from_dict(json.loads(next(tmp_path.glob("*.json")).read_text()))
    (result,) = report.results
    assert result.compiled.settings and all(result.compiled.settings.values())
    installed = report.environment.inductor
    assert installed is not None and not all(installed.values())  # the flag changed something
    assert report.settings["compile_deterministic"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--compile-deterministic",), "--compile-deterministic needs --compile"),
        (("--compile", " "), "--compile needs a backend name"),
    ],
)
def test_bad_compile_options_exit_2(cli, tmp_path, args, needle):
    done = cli("audit", "--device", "cpu", "--only", "index-add", "--out", str(tmp_path), *args)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_default_audit_never_imports_inductor():
    code = (
        "import sys, torch\n"
        "from detaudit.runner.observe import handle\n"
        "from detaudit.runner.protocol import RunRequest\n"
        "a = handle(RunRequest(id='i', probe='detaudit.probes.indexing:index_add', "
        "device='cpu', repeat=2, seed=0))\n"
        "print(a.compiled, 'torch._inductor' in sys.modules, a.strict.outcome)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.split() == ["None", "False", "ran"]


def test_default_report_keeps_its_shape(cpu_report_file):
    data = json.loads(cpu_report_file.read_text())
    assert "inductor" not in data["environment"]
    assert all("compiled" not in r for r in data["results"])
    assert "compile" not in data["settings"]


# ----------------------------------------------------------------------- hand-made results


def _compiled(**fields) -> Compiled:
    """A hand-made compiled observation (not a measurement)."""
    base = {"backend": "inductor", "outcome": "ran", "runs": 5, "distinct": 1}
    return Compiled(**{**base, **fields})


@pytest.fixture(scope="module")
def gpu() -> Report:
    return Report.from_dict(json.loads((REPORTS / "h100-torch2.11.json").read_text()))


def _first(report: Report, status: Status, repeatable: bool | None = True) -> ProbeResult:
    return next(
        r
        for r in report.results
        if r.status is status and (status is not Status.CONVERTS or r.bits_repeat is repeatable)
    )


def test_divergence_names_each_difference(gpu):
    converts = _first(gpu, Status.CONVERTS)
    raises = _first(gpu, Status.RAISES)
    assert divergence(converts) is None  # not compiled: nothing to say
    assert divergence(replace(converts, compiled=_compiled())) is None
    assert (
        divergence(replace(converts, compiled=_compiled(distinct=3))) is Divergence.NOT_REPEATABLE
    )
    assert (
        divergence(replace(converts, compiled=_compiled(runs=1, distinct=1))) is None
    )  # one run says nothing about repeatability
    assert divergence(replace(raises, compiled=_compiled())) is Divergence.NO_ALERT
    alert = _compiled(outcome="alert", kernel="index_add_cuda_", runs=0, distinct=None)
    assert divergence(replace(raises, compiled=alert)) is None
    assert divergence(replace(converts, compiled=alert)) is Divergence.ALERT
    broken = _compiled(outcome="error", reason="compile-error", runs=0, distinct=None)
    assert divergence(replace(converts, compiled=broken)) is Divergence.COMPILE_ERROR
    other = _compiled(outcome="error", runs=0, distinct=None, message="boom")
    assert divergence(replace(converts, compiled=other)) is Divergence.ERROR
    varies = replace(converts, distinct_on=2)
    assert divergence(replace(varies, compiled=_compiled())) is Divergence.REPEATABLE


def _hand_made(report: Report, compiled: dict[tuple[str, str], Compiled]) -> Report:
    results = tuple(
        replace(r, compiled=compiled.get((r.id, r.device), _compiled())) for r in report.results
    )
    return replace(report, results=results)


def test_renderers_show_where_compiled_differs_from_eager(gpu):
    raises = _first(gpu, Status.RAISES)
    report = _hand_made(gpu, {(raises.id, raises.device): _compiled(distinct=2)})  # hand-made
    differ = [r for r in report.results if divergence(r)]
    assert raises in [replace(r, compiled=None) for r in differ]
    markdown = RENDERERS["report"]["md"].render(report)
    assert f"Compiled differs from eager: {len(differ)}." in markdown
    assert f"| {raises.id} | {raises.device} | raises | ran, 2 of 5 | no-alert-compiled |" in (
        markdown
    )
    page = RENDERERS["report"]["html"].render(report)
    assert page.count('<i class="m compiled">⚙</i>') == len(differ) + 1  # the cells, the legend
    assert "COMPILED DIFFERS: no-alert-compiled" in page
    from detaudit.compare.table import build_table

    table = RENDERERS["table"]["md"].render(build_table([report]))
    assert "raises (compiled: no-alert-compiled)" in table
    assert "compiled" not in RENDERERS["report"]["md"].render(gpu).lower().split("## results")[1]


def test_diff_reports_compiled_changes(gpu):
    converts = _first(gpu, Status.CONVERTS)
    old = _hand_made(gpu, {})  # hand-made: every result compiled, ran, 1 of 5
    new = _hand_made(gpu, {(converts.id, converts.device): _compiled(distinct=3)})
    diff = diff_reports(old, new)
    assert [c.key for c in diff.compiled] == [(converts.id, converts.device)]
    assert diff.fails("any-change") and not diff.fails("newly-raises")
    text = RENDERERS["diff"]["text"].render(diff)
    assert "ran, 1 of 5 -> ran, 3 of 5 (not-repeatable-compiled)" in text
    data = json.loads(RENDERERS["diff"]["json"].render(diff))
    assert data["compiled"][0]["new"]["divergence"] == "not-repeatable-compiled"
    assert "compiled" not in diff_reports(gpu, gpu).to_dict()  # without --compile: old shape
    assert not diff_reports(gpu, new).compiled  # one side not compiled: nothing to compare


def test_compiled_round_trips_and_is_validated(gpu):
    result = replace(gpu.results[0], compiled=_compiled(settings={"deterministic": True}))
    assert ProbeResult.from_dict(result.to_dict()) == result
    bad = result.to_dict()
    bad["compiled"]["settings"] = {"deterministic": "yes"}
    with pytest.raises(ReportError, match=r"result\.compiled\.settings"):
        ProbeResult.from_dict(bad)
    bad["compiled"] = {"backend": "inductor", "outcome": "ran", "runs": "5"}
    with pytest.raises(ReportError, match=r"result\.compiled\.runs"):
        ProbeResult.from_dict(bad)
    env = Environment.from_dict({"torch": "2.13.0", "inductor": {"deterministic": False}})
    assert Environment.from_dict(env.to_dict()) == env
    assert "inductor" not in Environment(torch="2.13.0").to_dict()


def test_a_wrapped_alert_names_the_innermost_kernel():
    from detaudit.runner.compiled import _failure

    alert = RuntimeError(
        "max_unpooling2d_forward_out does not have a deterministic implementation, but you set "
        "'torch.use_deterministic_algorithms(True)'."
    )
    try:
        try:
            raise alert
        except RuntimeError as inner:
            raise RuntimeError(f"Dynamo failed to run FX node: got {inner!r}") from inner
    except RuntimeError as outer:
        obs = _failure(outer, "inductor")
    assert (obs.outcome, obs.kernel) == ("alert", "max_unpooling2d_forward_out")
    plain = _failure(ValueError("no alert here"), "inductor")
    assert plain.outcome == "error" and plain.reason is None
