"""Entries whose requests differ only in their id run once per device and share those runs."""

from __future__ import annotations

from pathlib import Path

from detaudit import Status, audit

PROBES = '''\
from pathlib import Path

import torch


def counted(device, scale=1):
    with Path(__file__).with_name("calls.txt").open("a") as calls:
        calls.write("call\\n")
    return torch.arange(4, device=device) * scale
'''

ENTRY = (
    "  - id: {id}\n"
    "    api: torch.arange\n"
    "    condition: always\n"
    "    devices: [{device}]\n"
    "    pass: forward\n"
    "    probe: sharedprobes:counted\n"
    "    source: test fixture\n"
)


def test_two_entries_with_the_same_request_share_its_runs(tmp_path: Path) -> None:
    (tmp_path / "sharedprobes.py").write_text(PROBES)
    catalog = tmp_path / "shared.yaml"
    catalog.write_text(
        "observed:\n"
        + ENTRY.format(id="on-cuda", device="cuda")
        + ENTRY.format(id="on-mps", device="mps")
        + ENTRY.format(id="scaled", device="cpu")
        + "    args: {scale: 2}\n"
    )
    report = audit(catalogs=[catalog], builtin=False, device="cpu", repeat=2, census=False)
    by_id = {r.id: r for r in report.results}
    assert [r.id for r in report.results] == ["on-cuda", "on-mps", "scaled"]
    assert {r.status for r in report.results} == {Status.OK}
    # two requests ran (the third entry's arguments differ): 2 mode-on and 2 mode-off runs each
    assert (tmp_path / "calls.txt").read_text().count("call") == 2 * 4
    cuda, mps = by_id["on-cuda"], by_id["on-mps"]
    assert (cuda.digest, cuda.runs_mode_on, cuda.runs_mode_off) == (
        mps.digest,
        mps.runs_mode_on,
        mps.runs_mode_off,
    )
    assert cuda.runs_mode_on == cuda.runs_mode_off == 2
    assert by_id["scaled"].digest != cuda.digest
