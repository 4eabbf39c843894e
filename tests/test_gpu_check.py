"""scripts/gpu-check.sh stays in step with the catalogue: every id it names exists, and it runs them all."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from detaudit.catalog import load_catalog

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check.sh"


def _audits() -> list[str]:
    """Each ``detaudit audit`` command line of the script, continuation lines joined."""
    text = SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line for line in text.splitlines() if "-m detaudit audit" in line]


def test_the_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


def test_it_audits_the_whole_catalogue_on_cuda_and_a_compiled_subset_that_exists():
    audits = _audits()
    full = [a for a in audits if "--device cuda" in a and "--only" not in a]
    assert full, "no full --device cuda audit: every entry and both backward ways must run"
    compiled = [a for a in audits if "--compile" in a]
    assert compiled, "no --compile audit"
    ids = {e.id for e in load_catalog()}
    named = {m for a in audits for m in re.findall(r"--only\s+(\S+)", a)}
    assert named and named <= ids, sorted(named - ids)
    # Entries whose probe compiles run only under --compile: the script must include them.
    assert {e.id for e in load_catalog() if e.compiles} <= named
