"""Time a CPU training step (a small CNN, a small transformer) plain and under ``detaudit.record``.

Target (issue 20): recording costs at most 1.5x the plain step on CPU after
warm-up; ``compare`` of two traces of 1,000,000 ops takes at most 5 s.

    python benchmarks/record_overhead.py [--pairs 30] [--threads N] [--compare-ops 1000000]

The machine may be shared, so the series alternate one step at a time (in one
order, then the reverse) in one process, after a warm-up step of each; the
medians are compared. The series: the plain step; `detaudit record`'s way
(the catalogue's entries named in each catalogued op's line); the Python API's
default (``with detaudit.record(path):``, no catalogue match); a dispatch mode
that only calls each op (the cost of seeing every op from Python at all, below
which no recorder can go); and `detaudit record`'s way with the fingerprints
replaced by 0, which splits what recording adds into reading the tensors' bits
and the rest. Each recording series appends to one trace of its own (as a
training run would); the bytes per op are `detaudit record`'s.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detaudit.catalog import load_catalog
from detaudit.trace import recorder
from detaudit.trace.compare import compare_traces
from detaudit.trace.format import load_trace
from detaudit.trace.recorder import catalogue_matcher, record

TARGET = 1.5


def _no_bits(tensor: torch.Tensor) -> int:
    return 0


class CallOnly(TorchDispatchMode):
    """A dispatch mode that calls each op and does nothing else: what any Python mode costs."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip
    return net, torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))


def transformer() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
    net = nn.Sequential(nn.TransformerEncoder(layer, 2), nn.Flatten(), nn.Linear(64 * 32, 10))
    return net, torch.randn(16, 32, 64), torch.randint(0, 10, (16,))


def time_model(name: str, build, pairs: int, folder: Path, matcher) -> float:
    torch.manual_seed(0)
    net, x, y = build()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)

    def train_step() -> None:
        loss = nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def timed(fn) -> float:
        gc.collect()
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def bare_step() -> None:
        with CallOnly():
            train_step()

    for _ in range(3):
        train_step()
    with (
        record(folder / f"{name}.trace", matcher=matcher) as cli_mode,
        record(folder / f"{name}-api.trace") as api_mode,
        record(folder / f"{name}-blind.trace", matcher=matcher) as blind_mode,
    ):
        # record() entered the modes; leave them, and enter one again for each recorded step,
        # so that the plain steps run unrecorded and every recorded step goes to its trace
        for mode in (blind_mode, api_mode, cli_mode):
            mode.__exit__(None, None, None)

        def cli_step() -> None:  # as `detaudit record` does: the catalogue's entries named
            with cli_mode:
                train_step()

        def api_step() -> None:  # as `with detaudit.record(path):` does by default
            with api_mode:
                train_step()

        def blind_step() -> None:  # as cli_step, but no tensor's bits are read
            real = recorder._fingerprint
            recorder._fingerprint = _no_bits
            try:
                with blind_mode:
                    train_step()
            finally:
                recorder._fingerprint = real

        steps = [train_step, bare_step, cli_step, api_step, blind_step]
        for fn in steps:
            fn()  # warm-up
        series: dict[object, list[float]] = {fn: [] for fn in steps}
        for i in range(pairs):
            for fn in steps if i % 2 == 0 else steps[::-1]:
                series[fn].append(timed(fn))
        for mode in (cli_mode, api_mode, blind_mode):
            mode.__enter__()
    p, b, r, a, nb = (statistics.median(series[fn]) for fn in steps)
    ops, size = cli_mode.count, cli_mode.size
    ratio = r / p
    for label, t in (("detaudit record", r), ("detaudit.record()", a)):
        verdict = "ok" if t / p <= TARGET else f"over the {TARGET}x target"
        print(f"{name}: plain {p * 1e3:.2f} ms, {label} {t * 1e3:.2f} ms, {t / p:.2f}x ({verdict})")
    print(
        f"{name}: {ops} ops, {size / max(ops, 1):.0f} bytes per op; a dispatch mode that only "
        f"calls each op {b / p:.2f}x (the floor of any Python dispatch mode); `detaudit record` "
        f"adds {(r - b) / p:.2f}x on top: {(r - nb) / p:.2f}x reading the tensors' bits "
        f"(fingerprints), {(nb - b) / p:.2f}x the rest (of it, naming catalogue entries "
        f"{(r - a) / p:.2f}x)"
    )
    return ratio


def time_compare(ops: int, folder: Path) -> float:
    """Time compare on two synthetic traces of ``ops`` ops that part half-way (every op after
    that differs, as a real divergence spreads); loading both files is included."""
    header = {"detaudit_trace": 1, "k": "header", "environment": {}, "flags": {}, "variables": {}}
    loc = {"k": "loc", "id": 0, "file": "train.py", "line": 3, "fn": "<module>", "via": None}
    for name, changed in (("a", -1), ("b", ops // 2)):
        with open(folder / f"{name}.trace", "w", encoding="utf-8") as handle:
            handle.write(json.dumps(header) + "\n" + json.dumps(loc) + "\n")
            for i in range(ops):
                out = -i if 0 <= changed <= i else i + 1  # from there on every op differs
                handle.write(
                    f'{{"k":"op","i":{i},"op":"aten::add.Tensor","p":"f","loc":0,'
                    f'"t":"float32[64]","in":[{i},{i + 7}],"out":[{out}]}}\n'
                )
            handle.write('{"k":"end","complete":true}\n')
    start = time.perf_counter()
    comparison = compare_traces(load_trace(folder / "a.trace"), load_trace(folder / "b.trace"))
    seconds = time.perf_counter() - start
    assert comparison.divergence is not None and comparison.divergence.index == ops // 2
    verdict = "ok" if seconds <= 5 else "over the 5 s target"
    print(f"compare of two traces of {ops} ops: {seconds:.2f} s ({verdict})")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compare-ops", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        # what `detaudit record` matches ops with (the scan's signatures: traced once when absent)
        matcher = catalogue_matcher(load_catalog())
        time_model("cnn", cnn, args.pairs, folder, matcher)
        time_model("transformer", transformer, args.pairs, folder, matcher)
        if args.compare_ops:
            time_compare(args.compare_ops, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
