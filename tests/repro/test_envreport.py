"""``detaudit env`` and env_report(): every reproducibility setting, with advice for each that is off."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import detaudit
from detaudit.cli import main
from detaudit.render import RENDERERS
from detaudit.repro.envreport import ADVICE, Setting

from ..conftest import check_golden, run_cli
from ..documents import env_report as fixed_env_report

NAMES = [
    "use_deterministic_algorithms",
    "warn_only",
    "cudnn.deterministic",
    "cudnn.benchmark",
    "fill_uninitialized_memory",
    "mkldnn.deterministic",
    "inductor.deterministic",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
]


@pytest.fixture(autouse=True)
def no_cublas(monkeypatch):
    import torch._inductor.config  # noqa: F401 - so the report holds Inductor's flag

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)


def _by_name(report) -> dict:
    return {s.name: s for s in report.settings}


def test_every_setting_is_reported_and_advice_comes_with_each_that_is_off(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    report = detaudit.env_report()
    assert [s.name for s in report.settings] == NAMES
    settings = _by_name(report)
    assert settings["use_deterministic_algorithms"].value is False
    assert settings["CUBLAS_WORKSPACE_CONFIG"].value is None
    for s in report.settings:
        assert (s.advice is not None) == (s.ok is False), s
        if s.advice:
            assert s.advice == ADVICE[s.name] and "\n" not in s.advice
    assert settings["use_deterministic_algorithms"].ok is False
    assert settings["warn_only"].ok is None  # irrelevant while the mode is off
    assert settings["PYTHONHASHSEED"].ok is False
    assert not report.ok


def test_inside_deterministic_every_flag_is_ok(monkeypatch):
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    with detaudit.deterministic(seed=0):
        report = detaudit.env_report()
    assert [s.name for s in report.settings if s.ok is not True] == []
    assert report.ok
    assert _by_name(report)["CUBLAS_WORKSPACE_CONFIG"].value == ":4096:8"


def test_warn_only_and_benchmark_are_flagged():
    with detaudit.deterministic(warn_only=True):
        torch.backends.cudnn.benchmark = True
        settings = _by_name(detaudit.env_report())
    assert settings["warn_only"].ok is False and "warn_only=False" in settings["warn_only"].advice
    assert settings["cudnn.benchmark"].value is True and settings["cudnn.benchmark"].ok is False


@pytest.mark.parametrize("value, ok", [("0", True), ("1234", True), ("random", False)])
def test_pythonhashseed(monkeypatch, value, ok):
    monkeypatch.setenv("PYTHONHASHSEED", value)
    setting = _by_name(detaudit.env_report())["PYTHONHASHSEED"]
    assert (setting.value, setting.ok) == (value, ok)


def test_an_invalid_cublas_config_is_flagged(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")
    setting = _by_name(detaudit.env_report())["CUBLAS_WORKSPACE_CONFIG"]
    assert setting.ok is False and ":4096:8" in setting.advice


def test_cli_json(capsys):
    assert main(["env", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["environment"]["torch"] == torch.__version__
    assert [s["name"] for s in data["settings"]] == NAMES
    assert set(data["settings"][0]) == {"name", "value", "ok", "advice"}


def test_cli_text_has_one_advice_line_per_setting_that_is_off(capsys, monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out
    for name in NAMES:
        assert name in out
    advice = [line for line in out.splitlines() if line.startswith("- ")]
    off = [s.name for s in detaudit.env_report().settings if s.ok is False]
    assert [line.split(":")[0][2:] for line in advice] == off
    assert f"- PYTHONHASHSEED: {ADVICE['PYTHONHASHSEED']}" in advice


@pytest.mark.slow  # imports torch in a fresh process
def test_cli_in_a_fresh_process():
    result = run_cli("env", "--format", "json", timeout=120)
    assert result.returncode == 0, result.stderr
    settings = {s["name"]: s for s in json.loads(result.stdout)["settings"]}
    # a fresh process has torch's defaults, and has not imported Inductor
    assert settings["use_deterministic_algorithms"]["ok"] is False
    assert settings["inductor.deterministic"] == {
        "name": "inductor.deterministic",
        "value": "not imported",
        "ok": None,
        "advice": None,
    }


def test_cli_bad_format_is_a_usage_error():
    result = run_cli("env", "--format", "yaml", timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("fmt", sorted(RENDERERS["env"]))
def test_golden(fmt, request):
    """A fixed report, not this machine's: the text is rich's table at a fixed width."""
    renderer = RENDERERS["env"][fmt]
    check_golden(request, f"env{renderer.extension}", renderer.render(fixed_env_report()))


def test_text_takes_values_as_plain_text():
    report = fixed_env_report()
    odd = replace(report, settings=(Setting("PYTHONHASHSEED", "[bold]:smile:", True, None),))
    assert "│ PYTHONHASHSEED │ [bold]:smile: │ ok     │" in RENDERERS["env"]["text"].render(odd)
