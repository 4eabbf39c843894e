"""Time a full CPU audit against a bare ``import torch``, in the same run, and print the ratio.

Target (issue 22): a full ``detaudit audit --device cpu`` (its default number
of runs, 5 with the mode on and 5 off) costs at most 2.0x a bare ``python -c "import torch"``
on a 2-core machine.

    python benchmarks/audit_vs_import.py [--rounds 3] [-- extra audit args]

Rounds alternate the two commands so that a change in machine load hits both;
the median of each is compared. The CPU seconds (user + sys, the audit's
workers included) are printed beside: on a shared machine they move less than
the wall time. Then the five entries that took longest in the last audit
(their ``seconds`` in its JSON report): what to look at next.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import timed  # benchmarks/, on sys.path as the script's folder

TARGET = 2.0
SLOWEST = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="extra arguments for detaudit audit")
    args = parser.parse_args()

    bare = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as out:
        audit = [
            sys.executable,
            "-m",
            "detaudit",
            "audit",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            out,
            *args.extra,
        ]
        timed(bare)  # warm the page cache for both
        timed(audit)
        imports, audits = [], []
        for _ in range(args.rounds):
            imports.append(timed(bare))
            audits.append(timed(audit))
        slowest = _slowest(Path(out))
    t_import = statistics.median(t for t, _ in imports)
    t_audit = statistics.median(t for t, _ in audits)
    ratio = t_audit / t_import
    for label, runs in (("bare import torch ", imports), ("detaudit audit cpu", audits)):
        walls = ", ".join(f"{t:.2f}" for t, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{label}: median {statistics.median(t for t, _ in runs):.2f} s  (runs: {walls})"
            f"  CPU user+sys median {cpu:.2f} s"
        )
    print(
        f"ratio             : {ratio:.2f}x  (target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'})"
    )
    print(f"slowest {SLOWEST} entries of the last audit (seconds in its worker):")
    for seconds, key in slowest:
        print(f"  {seconds:6.2f} s  {key}")
    return 0


def _slowest(out: Path) -> list[tuple[float, str]]:
    """The ``SLOWEST`` results of the report in ``out`` that took longest, as (seconds, id)."""
    (report,) = out.glob("*.json")
    results = json.loads(report.read_text(encoding="utf-8"))["results"]
    timed = [(r.get("seconds", 0.0), f"{r['id']} ({r['device']}, {r['status']})") for r in results]
    return sorted(timed, reverse=True)[:SLOWEST]


if __name__ == "__main__":
    sys.exit(main())
