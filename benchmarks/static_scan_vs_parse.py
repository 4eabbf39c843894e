"""Time the static scan of torch's installed package against a bare ``ast.parse`` of the same files.

Target: ``detaudit scan --static`` over torch's own Python files (about
2,300 files, 1.2M lines) takes at most 1.0x a bare ``ast.parse`` of them
(issue "Scanner precision on real code", part 6; the target was 1.5x before the scan
skipped the files that call no catalogued name without parsing them).

    python benchmarks/static_scan_vs_parse.py [--rounds 3] [PATH]

Both sides read every file from disk; the bare side parses every one, the
scan only those its byte-level check lets through, then finds imports and
catalogued calls. Rounds alternate the two in one process, so a
change in machine load hits both; the median of each is compared. torch is
located without importing it.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detaudit.catalog import load_catalog
from detaudit.scanner.static import Scanner, python_files

TARGET = 1.0


def bare_parse(files: list[Path]) -> int:
    """Read and parse every file; return how many do not parse."""
    failed = 0
    for path in files:
        try:
            ast.parse(path.read_bytes(), str(path))
        except (SyntaxError, ValueError):
            failed += 1
    return failed


def static_scan(scanner: Scanner, files: list[Path]) -> tuple[int, int]:
    """Scan every file; return (findings, skipped files)."""
    findings = skipped = 0
    for path in files:
        found, problem = scanner.scan_file(path)
        findings += len(found)
        skipped += problem is not None
    return findings, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("path", nargs="?", help="folder to scan (default: torch's package)")
    args = parser.parse_args()

    if args.path:
        root = Path(args.path)
    else:
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            print("torch is not installed; give a PATH", file=sys.stderr)
            return 2
        root = Path(spec.origin).parent
    files = list(python_files([root]))
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    scanner = Scanner(load_catalog())
    print(f"{len(files)} files, {lines:,} lines under {root}")

    parses, scans = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        failed = bare_parse(files)
        parses.append(time.perf_counter() - start)
        start = time.perf_counter()
        findings, skipped = static_scan(scanner, files)
        scans.append(time.perf_counter() - start)
    t_parse, t_scan = statistics.median(parses), statistics.median(scans)
    ratio = t_scan / t_parse
    print(
        f"bare ast.parse: median {t_parse:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in parses)})"
    )
    print(f"static scan   : median {t_scan:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in scans)})")
    print(f"findings      : {findings}; files that do not parse: {skipped} (bare parse: {failed})")
    met = "met" if ratio <= TARGET else "NOT met"
    print(f"ratio         : {ratio:.2f}x  (target <= {TARGET}x: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
