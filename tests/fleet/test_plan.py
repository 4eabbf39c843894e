"""``detaudit fleet`` without Slurm: node types, the batch script, the fleet document, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detaudit.errors import UsageError
from detaudit.fleet.plan import Audit, parse_node_type
from detaudit.fleet.script import batch_script
from detaudit.render import RENDERERS

from ..conftest import run_cli
from ..render.test_renderers import _fleet


def _audit(shared, runner, pythonpath, **options):
    """The Audit the CLI makes: ``options``' flags, as ``fleet`` writes them for ``audit``."""
    from detaudit.cli.audit import audit_arguments
    from detaudit.options import AuditOptions

    words = (*audit_arguments(AuditOptions(**options)), "--format", "json", "--out")
    return Audit(Path(shared), runner, pythonpath, words)


def test_node_type_keeps_the_users_sbatch_options():
    node = parse_node_type("h100:--partition=gpu --gres=gpu:h100:1 --constraint='h100&ib'")
    assert node.name == "h100"
    assert node.sbatch == ("--partition=gpu", "--gres=gpu:h100:1", "--constraint=h100&ib")


@pytest.mark.parametrize("text", ["h100", ":--partition=gpu", "a b:--x", "h100:--partition gpu"])
def test_bad_node_type_is_a_usage_error(text):
    with pytest.raises(
        UsageError, match=r"expected NAME:SBATCH-OPTIONS|not an sbatch option"
    ) as bad:
        parse_node_type(text)
    assert bad.value.option == "node_type"


def test_batch_script_runs_this_detaudit_and_writes_one_folder_per_job():
    audit = _audit(
        "/shared/run", "/opt/venv/bin/python", "/opt/src", device="cuda", only=("index-copy",)
    )
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


def test_batch_script_audits_the_python_options_torch_with_this_detaudit():
    # The job runs this detaudit under the interpreter running fleet; the
    # workers run --python, as with `audit --python` (the candidate needs only torch).
    runner = "/opt/venv/bin/python"
    candidate = "/opt/candidate/bin/python"
    audit = _audit("/shared/run", runner, "/opt/src", device="cpu", python=candidate)
    lines = batch_script(audit, parse_node_type("a100:--partition=a100")).splitlines()
    assert lines[-1] == (
        "/opt/venv/bin/python -m detaudit audit --device cpu --python /opt/candidate/bin/python "
        '--seed 0 --format json --out "$out"'
    )
    same = _audit("/shared/run", runner, "/opt/src")
    assert "--python" not in batch_script(same, parse_node_type("a100:")).splitlines()[-1]


def test_failed_node_type_is_a_column_of_the_table_with_its_state_and_stderr():
    fleet = _fleet()
    assert [f.label for f in fleet.table.failed] == ["gone · failed"]
    rows = len(fleet.table.rows)
    md = RENDERERS["fleet"]["md"].render(fleet)
    assert "| gone | – | 3 | FAILED (exit 1:0) | **gone · failed** |" in md
    assert "## detaudit table: 9 entries × 4 columns (+ 1 failed)" in md
    assert "| gone · failed | **failed**, no report: job 3 ended FAILED |" in md
    headers = [line for line in md.splitlines() if line.startswith("| id | api | pass |")]
    assert headers and all(line.endswith("| gone · failed |") for line in headers)
    body = [line for line in md.splitlines() if line.startswith("| ") and "`torch." in line]
    assert len(body) == rows
    assert all(line.endswith("| *not observed* |") for line in body)  # never a status
    counts = md.split("### Counts")[1].split("###")[0]
    assert all("| – |" in line for line in counts.splitlines() if line.startswith("| `"))
    failed = md.split("### Failed columns (1)")[1]
    assert "job 3 ended FAILED (state FAILED, exit code 1:0)." in failed
    assert "```\nboom\n```" in failed
    assert "leave it out (nothing compared)" in failed

    html = RENDERERS["fleet"]["html"].render(fleet)
    assert '<th class="col failed" scope="col" title="job 3 ended FAILED">' in html
    assert '<span class="torch">gone</span><span class="dev">failed</span>' in html
    cells = html.count('<td class="c none failed"')
    assert cells == rows and html.count(">not observed</td>") == rows
    foot = html.split("<tr><th>failed: why</th>")[1].split("</tr>")[0]
    assert "<b>FAILED</b> exit code 1:0" in foot and "<pre>boom</pre>" in foot
    assert "<h2>Node types</h2>" in html and "the table's column foot gives why" in html


def test_fleet_of_failed_jobs_only_lists_them_with_their_stderr():
    from detaudit.fleet.plan import NodeType
    from detaudit.fleet.result import Outcome, build_fleet

    gone = Outcome(NodeType("gone", ()), "3", "FAILED", "1:0", None, "job 3 ended FAILED", "boom")
    fleet = build_fleet([gone], [])
    md = RENDERERS["fleet"]["md"].render(fleet)
    assert "### gone: failed" in md and "boom" in md and "no table" in md
    assert "<pre>boom</pre>" in RENDERERS["fleet"]["html"].render(fleet)


def test_cli_bad_input(tmp_path):
    twice = run_cli("fleet", "--node-type", "a:", "--node-type", "a:", "--shared", str(tmp_path))
    assert twice.returncode == 2 and "named twice" in twice.stderr
    missing = run_cli("fleet", "--node-type", "a:", "--shared", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert "Traceback" not in twice.stderr + missing.stderr


def test_cli_without_slurm_is_exit_3(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no sbatch on it
    done = subprocess.run(
        [sys.executable, "-m", "detaudit", "fleet", "--node-type", "a:", "--shared", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "sbatch not found" in done.stderr and "--dry-run" in done.stderr


def _sbatch_words(line: str) -> list[str]:
    """The words sbatch reads from an ``#SBATCH`` line (``_get_argument``, src/sbatch/opt.c)."""
    words, rest = [], line.removeprefix("#SBATCH")
    while rest.strip():
        rest = rest.lstrip()
        word, quote, escape, i = "", "", False, 0
        while i < len(rest) and (quote or not rest[i].isspace()):
            char, i = rest[i], i + 1
            if escape:
                escape = False
            elif char == "\\":
                escape = True
                continue
            elif quote:
                if char == quote:
                    quote = ""
                    continue
            elif char in "\"'":
                quote = char
                continue
            elif char == "#":
                return words + ([word] if word else [])
            word += char
        assert not quote, f"sbatch: unmatched {quote} in {line!r}"
        words.append(word)
        rest = rest[i:]
    return words


def test_paths_with_blanks_and_quotes_reach_sbatch_and_bash_as_one_word(tmp_path):
    shared = tmp_path / "shared run" / "it's #1"
    tools = tmp_path / "my tools"
    tools.mkdir()
    argv = tmp_path / "argv"
    python = tools / "python it's"  # logs what the job runs it with, one word a line
    python.write_text(f'#!/bin/sh\nprintf "%s\\n" "$PYTHONPATH" "$@" > {argv}\n')
    python.chmod(0o755)
    audit = _audit(
        shared, str(python), str(tmp_path / "src dir"), device="cpu", only=("index copy",)
    )
    script = batch_script(audit, parse_node_type("a100:--constraint='h100&ib' --comment='a b'"))
    folder = shared / "a100"
    sbatch = [_sbatch_words(line) for line in script.splitlines() if line.startswith("#SBATCH")]
    assert sbatch == [
        ["--job-name=detaudit-a100"],
        [f"--output={folder}/slurm-%j.out"],
        [f"--error={folder}/slurm-%j.err"],
        ["--constraint=h100&ib"],
        ["--comment=a b"],
    ]
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    env = {**os.environ, "SLURM_JOB_ID": "7", "PYTHONPATH": ""}
    ran = subprocess.run(
        ["bash"], input=script, text=True, env=env, capture_output=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert argv.read_text().splitlines() == [
        str(tmp_path / "src dir"),
        "-m", "detaudit", "audit", "--device", "cpu", "--only", "index copy",
        "--seed", "0", "--format", "json", "--out", f"{folder}/job-7",
    ]  # fmt: skip


@pytest.mark.parametrize("shared", ['/shared/say "hi"', "/shared/a\\b", "/shared/a\nb", "/s/50%"])
def test_a_shared_folder_sbatch_cannot_be_given_is_refused(shared):
    audit = _audit(shared, "/usr/bin/python3", "/opt/src")
    with pytest.raises(UsageError, match=r"^shared .*(cannot carry|filename pattern)") as bad:
        batch_script(audit, parse_node_type("a:--partition=a"))
    assert bad.value.option == "shared"


def test_cli_refuses_what_it_cannot_quote_before_any_sbatch(tmp_path):
    sbatch = tmp_path / "bin" / "sbatch"
    sbatch.parent.mkdir()
    sbatch.write_text(f"#!/bin/sh\ntouch {tmp_path}/sbatch-ran\necho 1\n")
    sbatch.chmod(0o755)
    env = {**os.environ, "PATH": f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}"}
    bad_folder = tmp_path / 'say "hi"'
    bad_folder.mkdir()
    one = ["--shared", str(tmp_path), "--node-type", "a:--partition=a"]
    for args in (
        ["--shared", str(bad_folder), "--node-type", "a:--partition=a"],
        [*one, "--job-name", "my job"],
        [*one, "--node-type", "b c:--partition=b"],  # the second node type: still none submitted
        [*one, "--node-type", """b:--comment='say "hi"'"""],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "detaudit", "fleet", *args],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("detaudit: error: --"), done.stderr
    assert not (tmp_path / "sbatch-ran").exists()
