"""``detaudit fleet`` without Slurm: node types, the batch script, the fleet document, bad input."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from detaudit.errors import UsageError
from detaudit.fleet.plan import Audit, parse_node_type
from detaudit.fleet.script import batch_script
from detaudit.render import RENDERERS

from ..conftest import run_cli
from ..render.test_renderers import _fleet


def test_node_type_keeps_the_users_sbatch_options():
    node = parse_node_type("h100:--partition=gpu --gres=gpu:h100:1 --constraint='h100&ib'")
    assert node.name == "h100"
    assert node.sbatch == ("--partition=gpu", "--gres=gpu:h100:1", "--constraint=h100&ib")


@pytest.mark.parametrize("text", ["h100", ":--partition=gpu", "a b:--x", "h100:--partition gpu"])
def test_bad_node_type_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--node-type"):
        parse_node_type(text)


def test_batch_script_runs_this_detaudit_and_writes_one_folder_per_job():
    audit = Audit(Path("/shared/run"), "/opt/venv/bin/python", "/opt/src", "cuda", ("index-copy",))
    script = batch_script(audit, parse_node_type("a100:--partition=a100 --gres=gpu:1"))
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=detaudit-a100" in lines
    assert "#SBATCH --partition=a100" in lines and "#SBATCH --gres=gpu:1" in lines
    assert "#SBATCH --error=/shared/run/a100/slurm-%j.err" in lines
    assert "export PYTHONPATH=/opt/src${PYTHONPATH:+:$PYTHONPATH}" in lines
    assert lines[-1] == (
        "/opt/venv/bin/python -m detaudit audit --device cuda --only index-copy --seed 0 "
        '--format json --out "$out"'
    )
    assert 'out=/shared/run/a100/job-"$SLURM_JOB_ID"' in lines


def test_fleet_document_lists_a_failed_node_type_with_its_state_and_stderr():
    fleet = _fleet()
    md = RENDERERS["fleet"]["md"].render(fleet)
    assert "| gone | – | 3 | FAILED (exit 1:0) | **failed** |" in md
    assert "### gone: failed" in md and "boom" in md
    assert "## detaudit table: " in md and "old · torch 2.10.0+cu128 · cpu" in md
    html = RENDERERS["fleet"]["html"].render(fleet)
    assert "<h2>Node types</h2>" in html and "<pre>boom</pre>" in html


def test_cli_bad_input(tmp_path):
    twice = run_cli("fleet", "--node-type", "a:", "--node-type", "a:", "--shared", str(tmp_path))
    assert twice.returncode == 2 and "named twice" in twice.stderr
    missing = run_cli("fleet", "--node-type", "a:", "--shared", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert "Traceback" not in twice.stderr + missing.stderr


def test_cli_without_slurm_is_exit_3(tmp_path):
    import subprocess

    env = {**os.environ, "PATH": str(tmp_path)}  # no sbatch on it
    done = subprocess.run(
        [sys.executable, "-m", "detaudit", "fleet", "--node-type", "a:", "--shared", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "sbatch not found" in done.stderr and "--dry-run" in done.stderr
