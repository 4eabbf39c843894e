"""Prose every report renderer shares: titles, readings of cost and of the two ways, tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ..compare.naming import report_title
from ..model.report import Cost, ProbeResult, Report, Status

__all__ = [
    "COST_HEADER",
    "REACH",
    "TWO_WAYS",
    "cell",
    "cost_intro",
    "cost_reading",
    "cost_rows",
    "cost_verdict",
    "duration",
    "environment_rows",
    "md_table",
    "reach_notes",
    "settings_text",
    "timed_results",
    "times",
    "title",
    "two_ways",
    "two_ways_reading",
    "word",
]


def cell(value: object) -> str:
    """One table cell: no pipes or newlines may break the row."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def title(report: Report) -> str:
    """The report's one-line title (:func:`detaudit.compare.naming.report_title`)."""
    return report_title(report)


def environment_rows(report: Report) -> list[tuple[str, object]]:
    """(label, value) pairs describing where the report was made."""
    env = report.environment
    torch = f"{env.torch} (git {env.torch_git[:12]})" if env.torch_git else env.torch
    rows: list[tuple[str, object]] = [
        ("torch", torch),
        *([("torch imported from", env.torch_path)] if env.torch_path else []),
        ("CUDA", env.cuda),
        ("cuDNN", env.cudnn),
        ("GPU", f"{env.gpu} ({env.gpu_capability}) × {env.gpu_count}" if env.gpu else None),
        ("driver", env.gpu_driver),
        ("Python", f"{env.python} ({env.python_executable})"),
        ("OS", env.os),
        ("CPU", env.cpu),
        ("numpy", env.numpy),
        ("CUBLAS_WORKSPACE_CONFIG", env.cublas_workspace_config or "unset"),
        ("host", env.hostname),
        ("time", env.time),
        ("catalogue hash", env.catalog_hash),
        ("detaudit", env.detaudit),
    ]
    if env.inductor is not None:  # only audits made with --compile record them
        rows.append(("Inductor settings (installed)", settings_text(env.inductor)))
    return rows


def settings_text(settings: Mapping[str, bool]) -> str:
    """``deterministic on, fallback_random off``: Inductor's settings, or ``none`` when empty."""
    return ", ".join(f"{k} {'on' if v else 'off'}" for k, v in settings.items()) or "none"


def duration(seconds: float) -> str:
    """``0.000123`` -> ``123 µs``, ``0.0123`` -> ``12.3 ms``, ``1.5`` -> ``1.50 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.2f} s"


def cost_verdict(cost: Cost) -> str:
    """``6.1x slower deterministic``, ``1.3x faster deterministic`` or ``1.05x, within noise``."""
    if cost.within_noise:
        return f"{times(cost.ratio)}, within noise"
    if cost.ratio >= 1:
        return f"{times(cost.ratio)} slower deterministic"
    return f"{times(1 / cost.ratio)} faster deterministic"


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 2 else f"{ratio:.2f}x"


#: The columns of the cost table, in every format that has one.
COST_HEADER = ("id", "api", "device", "off", "on", "ratio", "off IQR", "on IQR", "reading")


def timed_results(report: Report) -> list[ProbeResult]:
    """The results ``audit --cost`` timed, slowest deterministic first."""
    return sorted(
        (r for r in report.results if r.cost is not None),
        key=lambda r: (-_cost(r).ratio, r.id, r.device),
    )


def cost_intro(timed: Sequence[ProbeResult]) -> str:
    """What the cost table measured."""
    return (
        "Each entry that ran under deterministic mode, timed with the mode off and on "
        f"({_cost(timed[0]).runs} runs of each, alternating, after a warm-up; CUDA "
        "synchronised). The whole probe is timed, building its inputs included, so a ratio "
        "understates the op's own slowdown. The ranges are interquartile: where the off and "
        "on ranges overlap, the ratio is within timing noise."
    )


def cost_rows(
    timed: Iterable[ProbeResult], api: Callable[[str], str] = str
) -> list[tuple[str, ...]]:
    """One row of :data:`COST_HEADER` per timed result (``api`` marks up the api's name)."""
    return [
        (
            r.id,
            api(r.api),
            r.device,
            duration(c.off),
            duration(c.on),
            times(c.ratio),
            f"{duration(c.off_q1)}–{duration(c.off_q3)}",
            f"{duration(c.on_q1)}–{duration(c.on_q3)}",
            cost_verdict(c),
        )
        for r in timed
        for c in (_cost(r),)
    ]


def cost_reading(result: ProbeResult) -> str:
    """``index-add on cuda: 6.1x slower deterministic``."""
    return f"{result.id} on {result.device}: {cost_verdict(_cost(result))}"


def _cost(result: ProbeResult) -> Cost:
    """The cost of a result ``audit --cost`` timed (only those reach the cost prose)."""
    if result.cost is None:
        raise ValueError(f"{result.id} on {result.device} was not timed")
    return result.cost


#: What the two observations of a backward entry are, for the reports' sections.
TWO_WAYS = (
    "Each backward entry runs under the mode two ways: with the mode on throughout, as a "
    "training run that sets it at the start (the status above), and with the mode on for the "
    "backward only, the graph built with it off, as PyTorch's own tests do. For some CUDA ops "
    "the forward picks another implementation under the mode, and so the backward differs."
)


def word(status: Status, kernel: str | None) -> str:
    return f"{status.value} ({kernel})" if kernel else status.value


def two_ways_reading(result: ProbeResult) -> str:
    """``converts with the mode on throughout, raises (k) when only the backward runs under it``."""
    observed = result.backward_only
    if result.backward_only_status is None or observed is None:
        why = observed.message if observed is not None and observed.message else "not observed"
        return f"{word(result.status, result.kernel)} with the mode on throughout; backward only: {why}"
    return (
        f"{word(result.status, result.kernel)} with the mode on throughout, "
        f"{word(result.backward_only_status, observed.kernel)} when only the backward runs under it"
    )


def two_ways(results: Iterable[ProbeResult]) -> tuple[list[ProbeResult], list[ProbeResult], int]:
    """(the results whose two ways differ, those not observed backward-only, how many have both)."""
    backward = [r for r in results if r.backward_only is not None]
    differ = [r for r in backward if r.two_ways_differ]
    unobserved = [r for r in backward if r.two_ways_differ is None]
    return differ, unobserved, len(backward) - len(unobserved)


#: What the "decomposed under the mode" section is about.
REACH = (
    "These entries name the aten op they mean to reach (`reaches`); the strict run did not "
    "dispatch it. Decomposed under the mode: torch's Python code routed the call elsewhere "
    "when the mode is on (torch.nn.functional sends CUDA interpolate bilinear/trilinear and "
    "replicate padding to torch._decomp), so its status says nothing about that kernel."
)


def reach_notes(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    """The results whose strict run did not reach an op its entry names (``reach_note``)."""
    return [r for r in results if r.reach_note]


def remedies(report: Report) -> dict[str, str]:
    """Entry id -> the catalogue's remedy, for each entry that raised (once, in report order)."""
    seen: dict[str, str] = {}
    for r in report.results:
        if r.status is Status.RAISES and r.remedy and r.id not in seen:
            seen[r.id] = r.remedy
    return seen
