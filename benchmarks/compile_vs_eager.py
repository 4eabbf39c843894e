"""Time a CPU audit with ``--compile`` against the same audit without it, and print the ratio.

``--compile`` is opt-in because compiling costs seconds per entry and every
audit starts from an empty compile cache (issue 13). This prints what it costs
here, measured in one run:

    python benchmarks/compile_vs_eager.py [--rounds 1] [-- extra audit args]
    python benchmarks/compile_vs_eager.py -- --only index-add --only scatter-add-1d

Rounds alternate the two commands so that a change in machine load hits both;
the median of each is compared. No target: the figure is for the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile

from _timing import wall  # benchmarks/, on sys.path as the script's folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="extra arguments for detaudit audit")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        eager = [sys.executable, "-m", "detaudit", "audit", "--device", "cpu", "--quiet"]
        eager += ["--out", out, *args.extra]
        compiled = [*eager, "--compile"]
        wall(eager)  # warm the page cache for both
        eagers, compileds = [], []
        for _ in range(args.rounds):
            eagers.append(wall(eager))
            compileds.append(wall(compiled))
    t_eager, t_compiled = statistics.median(eagers), statistics.median(compileds)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in values)

    print(f"audit cpu          : median {t_eager:.2f} s  (runs: {runs(eagers)})")
    print(f"audit cpu --compile: median {t_compiled:.2f} s  (runs: {runs(compileds)})")
    print(f"ratio              : {t_compiled / t_eager:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
