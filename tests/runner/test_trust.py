"""No silent wrong answer: probes that would fool a trusting runner get the right result."""

from __future__ import annotations

import json

import pytest
import torch

from detaudit import audit
from detaudit.model.report import Status
from detaudit.runner.probing import alert_kernel, digest

from ..conftest import DATA, run_cli

TRUST = DATA / "user" / "trust.yaml"
STATE = DATA / "user" / "state.yaml"
TEAMS = DATA / "teams"


@pytest.fixture(scope="module")
def trust():
    report = audit(catalogs=[TRUST], builtin=False, device="cpu", repeat=3, timeout=120)
    return {r.id: r for r in report.results}


@pytest.mark.slow  # audits of their own (a fresh venv for one)
def test_two_catalogues_with_same_named_probe_modules_each_run_their_own():
    report = audit(
        catalogs=[TEAMS / "team_a" / "catalog.yaml", TEAMS / "team_b" / "catalog.yaml"],
        builtin=False,
        device="cpu",
        repeat=2,
    )
    by_id = {r.id: r for r in report.results}
    assert by_id["team-a-value"].digest == digest(torch.full((4,), 1.0))
    assert by_id["team-b-value"].digest == digest(torch.full((4,), 2.0))


def test_a_probe_that_turns_the_mode_off_is_an_error_not_converts(trust):
    result = trust["user-mode-off"]
    assert result.status is Status.ERROR
    assert "turned deterministic mode off" in result.message


def test_a_probe_that_switches_to_warn_only_is_an_error(trust):
    result = trust["user-warn-only-on"]
    assert result.status is Status.ERROR
    assert "warn_only=True" in result.message


def test_a_probe_without_return_is_an_error_saying_what_to_return(trust):
    result = trust["user-no-return"]
    assert result.status is Status.ERROR
    assert "returned None" in result.message and "must return a tensor" in result.message
    assert result.bits_repeat is None


def test_a_probe_returning_an_object_is_an_error_not_nondeterministic(trust):
    result = trust["user-returns-object"]
    assert result.status is Status.ERROR
    assert "_Thing at [1]" in result.message
    assert result.bits_repeat is None and result.distinct_on is None


def test_nested_containers_of_tensors_are_a_result(trust):
    result = trust["user-returns-nested"]
    assert result.status is Status.CONVERTS
    assert (result.runs_mode_on, result.distinct_on) == (3, 1)
    assert (result.runs_mode_off, result.distinct_off) == (3, 1)


def test_an_error_in_a_later_run_is_not_dropped(trust):
    result = trust["user-flaky-later"]
    assert result.status is Status.ERROR
    assert "the strict run ran, but warn-only 1 failed: IndexError" in result.message


def test_a_long_error_message_is_an_error_quickly_not_a_timeout(trust):
    result = trust["user-long-error"]
    assert result.status is Status.ERROR
    assert len(result.message) < 1000


def test_alert_detection_is_linear_in_the_message():
    token = "x" * 2_000_000
    assert alert_kernel(token) is None
    assert alert_kernel(f"{token} does not have a deterministic implementation") is not None
    # the name starts its line (it may have spaces: "kthvalue CUDA"), after any wrapper
    message = f"{token}\nRuntimeError: put_ does not have a deterministic implementation, but"
    assert alert_kernel(message) == "put_"
    # text before it on the same line is read back at most 400 characters, never 2 MB
    same_line = alert_kernel(f"{token} put_ does not have a deterministic implementation")
    assert same_line.endswith(" put_") and len(same_line) <= 400


@pytest.mark.slow  # audits of their own (a fresh venv for one)
def test_every_probe_starts_from_the_same_process_state():
    """threads, default device, anomaly mode, cwd, env vars... put back after each run."""
    report = audit(catalogs=[STATE], builtin=False, device="cpu", repeat=2)
    by_id = {r.id: r for r in report.results}
    mutate, check = by_id["user-mutate-state"], by_id["user-check-state"]
    assert mutate.status is Status.CONVERTS, mutate.message
    assert {"default device", "working directory", "environment variables"} <= set(
        mutate.strict.restored
    )
    assert check.status is Status.CONVERTS, check.message
    assert check.strict.restored == ()


@pytest.mark.slow  # audits of their own (a fresh venv for one)
def test_two_audits_of_the_same_torch_give_no_change(tmp_path):
    """Noise is not change: the racy CPU kernels (mode off) and raising entries included."""
    only = [
        "put-accumulate-false",
        "index-put-accumulate-false",
        "index-put-accumulate-true-cpu",
        "put-accumulate-true-cpu",
        "index-copy",
        "getitem-index-list-backward",
        "max-unpool2d",
    ]
    args = [a for i in only for a in ("--only", i)]
    paths = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = run_cli("audit", "--device", "cpu", "--format", "json", "--out", str(out), *args)
        assert done.returncode == 0, done.stderr
        (path,) = out.glob("*.json")
        paths.append(str(path))
    done = run_cli("diff", *paths, "--fail-on", "any-change", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["changes"] == []


def _interpreter_without_numpy(folder):
    """A venv that sees this interpreter's torch (and what torch needs) but no numpy."""
    import venv
    from pathlib import Path

    site = Path(torch.__file__).resolve().parent.parent
    shadow = folder / "shadow"
    shadow.mkdir()
    for item in site.iterdir():
        if not item.name.lower().startswith("numpy") and item.suffix != ".pth":
            (shadow / item.name).symlink_to(item)
    venv.create(folder / "venv", with_pip=False)
    (packages,) = (folder / "venv" / "lib").glob("python*/site-packages")
    (packages / "shadow.pth").write_text(f"{shadow}\n")
    return folder / "venv" / "bin" / "python"


@pytest.mark.slow  # audits of their own (a fresh venv for one)
def test_a_candidate_torch_without_numpy_is_audited_without_errors(tmp_path):
    python = _interpreter_without_numpy(tmp_path)
    report = audit(
        python=str(python),
        device="cpu",
        only=["put-accumulate-false", "index-copy", "embedding-backward"],
        repeat=2,
    )
    assert report.environment.numpy is None
    statuses = {r.id: r.status for r in report.results}
    assert statuses == {
        "put-accumulate-false": Status.RAISES,
        "index-copy": Status.CONVERTS,
        "embedding-backward": Status.OK,
    }
    assert all(r.distinct_on == 1 for r in report.results if r.status is not Status.RAISES)


def test_the_fingerprint_has_its_own_time_limit():
    """A tiny --timeout costs the entries their results, not the audit its fingerprint."""
    report = audit(device="cpu", only=["index-copy"], timeout=0.001)
    assert report.environment.torch == torch.__version__
    (result,) = report.results
    assert result.status is Status.TIMEOUT
