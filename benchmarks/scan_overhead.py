"""Time a CPU training step of a small conv net with and without the dynamic scan, in the same run.

Target (issue 4): the scan adds at most 25% to a training step of a few ms
to tens of ms.

    python benchmarks/scan_overhead.py [--pairs 60] [--batch 32] [--threads N]

The machine is shared, so its load changes from one second to the next: the
bare and the scanned steps alternate one by one, in the order bare-scanned,
scanned-bare, ... A scanned step is the second step of a scan entered afresh:
the first warms up (the scan caches, per aten op, which catalogue rules
apply). Garbage is collected before every timed step, bare or scanned. The medians of
the bare and of the scanned steps are compared. Entering and leaving the scan
(loading the catalogue and the cached probe signatures) is reported apart.
The first scan with a torch traces the probes in a worker and caches them;
a warm-up scan does that before timing starts.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import detaudit

TARGET = 1.25


def make_net() -> nn.Module:
    """Three conv layers, batch norm, pooling (adaptive average: a catalogued op) and a classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = make_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))

    def step() -> float:
        gc.collect()  # garbage from loading the catalogue must not land in a timed step
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    for _ in range(3):
        step()
    with detaudit.scan() as found:  # warm-up: traces the probes once per torch, then cached
        step()
    bare: list[float] = []
    scanned: list[float] = []
    overheads: list[float] = []
    for pair in range(args.pairs):
        if pair % 2 == 0:
            bare.append(step())
        start = time.perf_counter()
        with detaudit.scan() as found:
            entered = time.perf_counter()
            step()
            scanned.append(step())
            left = time.perf_counter()
        overheads.append((entered - start) + (time.perf_counter() - left))
        if pair % 2 == 1:
            bare.append(step())
    t_bare, t_scan = statistics.median(bare), statistics.median(scanned)
    ratio = t_scan / t_bare
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"bare step   : median {t_bare * 1e3:.2f} ms over {len(bare)} steps")
    print(f"scanned step: median {t_scan * 1e3:.2f} ms over {len(scanned)} steps")
    print(f"scan enter+exit: median {statistics.median(overheads) * 1e3:.1f} ms (not in the step)")
    print(f"hits in the last scan: {', '.join(sorted({h.entry or h.op for h in found.hits}))}")
    met = "met" if ratio <= TARGET else "NOT met"
    print(f"ratio       : {ratio:.2f}x  (target <= {TARGET}x: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
