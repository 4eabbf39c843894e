"""A probe that aborts or hangs costs one result, never the audit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from detaudit import audit
from detaudit.model.report import Status

from ..conftest import USER_CATALOG, run_cli
from ..processes import LIFELINE_CATALOG, wait_for_marker

# Crashes, hangs past a timeout and Ctrl-C of whole audits: tens of seconds.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crash_report():
    return audit(catalogs=[USER_CATALOG], builtin=False, device="cpu", timeout=4, repeat=2)


def test_abort_is_crashed_and_hang_is_timeout(crash_report):
    by_id = {r.id: r for r in crash_report.results}
    assert by_id["user-abort"].status is Status.CRASHED
    assert "SIGABRT" in by_id["user-abort"].message
    assert by_id["user-hang"].status is Status.TIMEOUT
    assert by_id["user-hang"].seconds >= 4


def test_every_other_result_is_still_there(crash_report):
    by_id = {r.id: r for r in crash_report.results}
    assert set(by_id) == {
        "user-put",
        "user-abort",
        "user-hang",
        "user-index-add",
        "user-missing",
        "user-broken",
    }
    assert by_id["user-put"].status is Status.RAISES
    assert by_id["user-put"].kernel == "put_"
    assert by_id["user-index-add"].status is Status.OK  # CUDA-only entry on CPU
    assert by_id["user-missing"].status is Status.SKIPPED
    assert "no_such_op" in by_id["user-missing"].message
    assert by_id["user-broken"].status is Status.ERROR
    assert "RuntimeError" in by_id["user-broken"].message


def test_user_probe_resolves_from_its_yaml_folder(crash_report):
    # userprobes.py is importable only through the YAML file's own folder
    assert "tests/data/user" not in " ".join(sys.path)
    assert any(r.id == "user-put" and r.bits_repeat for r in crash_report.results)


def test_ctrl_c_leaves_no_file(tmp_path):
    out = tmp_path / "out"
    markers = tmp_path / "markers"
    markers.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "detaudit",
            "audit",
            "--no-builtin",
            "--catalog",
            str(LIFELINE_CATALOG),
            "--only",
            "life-hang",
            "--device",
            "cpu",
            "--timeout",
            "60",
            "--out",
            str(out),
        ],
        env={**os.environ, "DETAUDIT_TEST_MARKERS": str(markers)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_marker(markers, proc)  # the workers are up and the hanging probe is running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not out.exists() or os.listdir(out) == []


def test_device_cuda_without_gpu_is_exit_3(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    result = run_cli(
        "audit", "--device", "cuda", "--only", "put-accumulate-false", "--out", str(tmp_path)
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1
    assert "--device cuda" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_report_json_of_crash_audit_is_valid(tmp_path):
    result = run_cli(
        "audit",
        "--no-builtin",
        "--catalog",
        str(USER_CATALOG),
        "--only",
        "user-abort",
        "--only",
        "user-put",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("detaudit-torch*-cpu.json")
    data = json.loads(path.read_text())
    statuses = {r["id"]: r["status"] for r in data["results"]}
    assert statuses == {"user-put": "raises", "user-abort": "crashed"}


def test_each_probe_starts_from_the_same_global_state():
    catalog = USER_CATALOG.parent / "state.yaml"
    report = audit(catalogs=[catalog], builtin=False, device="cpu", repeat=2, jobs=1)
    by_id = {r.id: r for r in report.results}
    assert by_id["user-mutate-state"].status is Status.CONVERTS
    check = by_id["user-check-state"]
    assert check.status is Status.CONVERTS, check.message
    assert check.runs_mode_on == 2 and check.runs_mode_off == 2
    warned = by_id["user-warns"]
    assert warned.status is Status.WARNS
    assert warned.kernel == "fake_kernel_"
