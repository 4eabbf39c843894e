"""The Markdown report: environment, counts per status, every drift, then the table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..compare.compiled import DIVERGENCE_MEANING, compiled_state, divergence
from ..model.report import Cost, ProbeResult, Report, Status
from ..model.vocabulary import GROUPS, STATUS_INFO, group_heading

__all__ = [
    "REACH",
    "TWO_WAYS",
    "cost_reading",
    "cost_verdict",
    "duration",
    "environment_rows",
    "reach_notes",
    "render",
    "settings_text",
    "title",
    "two_ways",
    "two_ways_reading",
]


def _cell(value: object) -> str:
    """One table cell: no pipes or newlines may break the row."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def title(report: Report) -> str:
    """The report's one-line title (:attr:`Report.title`)."""
    return report.title


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


def _expected(result: ProbeResult) -> str:
    if result.expected is None:
        return f"undocumented ({result.expected_from})" if result.expected_from else "undocumented"
    return result.expected


def _status(result: ProbeResult) -> str:
    status = f"**{result.status.value}** (drift)" if result.drift else result.status.value
    return f"{status} (decomposed under the mode)" if result.decomposed else status


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
        return f"{_times(cost.ratio)}, within noise"
    if cost.ratio >= 1:
        return f"{_times(cost.ratio)} slower deterministic"
    return f"{_times(1 / cost.ratio)} faster deterministic"


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 2 else f"{ratio:.2f}x"


def cost_reading(result: ProbeResult) -> str:
    """``index-add on cuda: 6.1x slower deterministic``."""
    return f"{result.id} on {result.device}: {cost_verdict(result.cost)}"


def _cost_section(report: Report) -> list[str]:
    """The timed entries, slowest deterministic first; nothing without ``audit --cost``."""
    timed = sorted(
        (r for r in report.results if r.cost is not None),
        key=lambda r: (-r.cost.ratio, r.id, r.device),
    )
    if not timed:
        return []
    out = [
        f"## Cost of determinism ({len(timed)})",
        "",
        (
            "Each entry that ran under deterministic mode, timed with the mode off and on "
            f"({timed[0].cost.runs} runs of each, alternating, after a warm-up; CUDA "
            "synchronised). The whole probe is timed, building its inputs included, so a ratio "
            "understates the op's own slowdown. The ranges are interquartile: where the off and "
            "on ranges overlap, the ratio is within timing noise."
        ),
        "",
    ]
    out += _table(
        ("id", "api", "device", "off", "on", "ratio", "off IQR", "on IQR", "reading"),
        (
            (
                r.id,
                f"`{r.api}`",
                r.device,
                duration(r.cost.off),
                duration(r.cost.on),
                _times(r.cost.ratio),
                f"{duration(r.cost.off_q1)}–{duration(r.cost.off_q3)}",
                f"{duration(r.cost.on_q1)}–{duration(r.cost.on_q3)}",
                cost_verdict(r.cost),
            )
            for r in timed
        ),
    )
    return [*out, ""]


def _compiled_section(report: Report) -> list[str]:
    """Every compiled observation, the differences from eager first; nothing without --compile."""
    compiled = [r for r in report.results if r.compiled is not None]
    if not compiled:
        return []
    first = compiled[0].compiled
    differ = [r for r in compiled if divergence(r)]
    out = [
        f"## Compiled: torch.compile, backend {first.backend} ({len(compiled)})",
        "",
        (
            "Each probe also ran through `torch.compile` (the whole probe, inputs included, "
            "with Inductor's `fallback_random` on so its inputs equal eager's), with "
            "`torch.use_deterministic_algorithms(True)`. Inductor's settings during the "
            f"compiled runs: {settings_text(first.settings)}."
        ),
        "",
        f"Compiled differs from eager: {len(differ)}.",
        "",
    ]
    if differ:
        out += _table(
            ("id", "device", "eager", "compiled", "difference", "meaning"),
            (
                (
                    r.id,
                    r.device,
                    r.status.value,
                    compiled_state(r),
                    divergence(r).value,
                    DIVERGENCE_MEANING[divergence(r)],
                )
                for r in differ
            ),
        )
        out.append("")
    out += _table(
        (
            "id",
            "device",
            "eager",
            "bits, eager mode on",
            "compiled",
            "kernel",
            "same bits as eager",
            "s",
            "message",
        ),
        (
            (
                r.id,
                r.device,
                r.status.value,
                r.patterns(mode_on=True),
                compiled_state(r),
                r.compiled.kernel,
                r.compiled.same_as_eager,
                f"{r.compiled.seconds:.3f}",
                r.compiled.message,
            )
            for r in compiled
        ),
    )
    return [*out, ""]


#: What the two observations of a backward entry are, for the reports' sections.
TWO_WAYS = (
    "Each backward entry runs under the mode two ways: with the mode on throughout, as a "
    "training run that sets it at the start (the status above), and with the mode on for the "
    "backward only, the graph built with it off, as PyTorch's own tests do. For some CUDA ops "
    "the forward picks another implementation under the mode, and so the backward differs."
)


def _word(status: Status, kernel: str | None) -> str:
    return f"{status.value} ({kernel})" if kernel else status.value


def two_ways_reading(result: ProbeResult) -> str:
    """``converts with the mode on throughout, raises (k) when only the backward runs under it``."""
    observed = result.backward_only
    if result.backward_only_status is None or observed is None:
        why = observed.message if observed is not None and observed.message else "not observed"
        return f"{_word(result.status, result.kernel)} with the mode on throughout; backward only: {why}"
    return (
        f"{_word(result.status, result.kernel)} with the mode on throughout, "
        f"{_word(result.backward_only_status, observed.kernel)} when only the backward runs under it"
    )


def two_ways(results: Iterable[ProbeResult]) -> tuple[list[ProbeResult], list[ProbeResult], int]:
    """(the results whose two ways differ, those not observed backward-only, how many have both)."""
    backward = [r for r in results if r.backward_only is not None]
    differ = [r for r in backward if r.two_ways_differ]
    unobserved = [r for r in backward if r.two_ways_differ is None]
    return differ, unobserved, len(backward) - len(unobserved)


def _two_ways_section(report: Report) -> list[str]:
    """Where the two observations of a backward entry differ; nothing in reports without them."""
    differ, unobserved, both = two_ways(report.results)
    if not (differ or unobserved or both):
        return []
    out = [f"## Backward, two ways ({len(differ)} differ)", "", TWO_WAYS, ""]
    if differ:
        out += _table(
            ("id", "api", "device", "two ways differ"),
            ((r.id, f"`{r.api}`", r.device, two_ways_reading(r)) for r in differ),
        )
    else:
        out.append(f"None differ: {both} backward results gave the same status both ways.")
    if unobserved:
        out += ["", f"Not observed with the mode on for the backward only ({len(unobserved)}):", ""]
        out += _table(
            ("id", "device", "status", "why"),
            (
                (
                    r.id,
                    r.device,
                    r.status.value,
                    r.backward_only.message if r.backward_only else None,
                )
                for r in unobserved
            ),
        )
    return [*out, ""]


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


def _reach_section(report: Report) -> list[str]:
    """Where the strict run never reached the entry's op; nothing when every one did."""
    missed = reach_notes(report.results)
    if not missed:
        return []
    out = [f"## Not reached under the mode ({len(missed)})", "", REACH, ""]
    out += _table(
        ("id", "device", "status", "what ran"),
        ((r.id, r.device, r.status.value, r.reach_note) for r in missed),
    )
    return [*out, ""]


def _census(report: Report) -> list[str]:
    """The alert census section: the alert names of this torch no entry probed here."""
    census = report.census
    if census is None:
        return []
    out = ["## Alert census", "", f"{census.line}.", ""]
    if census.taken and census.unprobed:
        out += [f"- `{name}`" for name in census.unprobed] + [""]
    return out


def _remedies(report: Report) -> list[str]:
    """``## What to do``: the catalogue's remedy for each entry that raised (once)."""
    seen: dict[str, str] = {}
    for r in report.results:
        if r.status is Status.RAISES and r.remedy and r.id not in seen:
            seen[r.id] = r.remedy
    if not seen:
        return []
    return ["", "## What to do", "", *(f"- `{i}`: {text}" for i, text in seen.items())]


def render(report: Report) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    out = [f"# detaudit report: {title(report)}", ""]
    if report.newer_than_docs:
        out += [f"> **Note**: {report.newer_than_docs}.", ""]
    if report.mostly_failed:
        out += [f"> **Warning**: {report.mostly_failed}.", ""]
    out += _census(report)
    out += ["## Environment", ""]
    out += _table(("", ""), environment_rows(report))
    settings = report.settings
    if settings:
        out += [
            "",
            (
                f"Settings: repeat {settings.get('repeat')}, timeout {settings.get('timeout')} s, "
                f"seed {settings.get('seed')}, devices {', '.join(report.devices)}."
            ),
        ]

    out += ["", "## Counts", ""]
    rows = []
    for status in Status:
        per_device = [
            sum(1 for r in report.results if r.status is status and r.device == d)
            for d in report.devices
        ]
        if sum(per_device):
            meaning = STATUS_INFO[status].meaning
            rows.append((f"`{status.value}`", *per_device, sum(per_device), meaning))
    out += _table(("status", *report.devices, "total", "meaning"), rows)

    drifts = report.drifts()
    out += ["", f"## Drift ({len(drifts)})", ""]
    if drifts:
        out += [
            "Observed under deterministic mode, yet the docs of this torch claim otherwise:",
            "",
        ]
        out += _table(
            ("id", "api", "device", "docs claim", "observed", "kernel"),
            (
                (
                    r.id,
                    f"`{r.api}`",
                    r.device,
                    f"{r.expected} ({r.expected_from})",
                    r.status.value,
                    r.kernel,
                )
                for r in drifts
            ),
        )
    else:
        out.append("None: every observed status matches what the docs of this torch claim.")

    out += _remedies(report)
    out += ["", "## Results", ""]
    for group in GROUPS:
        members = [r for r in report.results if r.group == group]
        if not members:
            continue
        out += [f"### {group_heading(group)}", ""]
        out += _table(
            (
                "id",
                "api",
                "condition",
                "device",
                "pass",
                "status",
                "docs claim",
                "kernel",
                "bits, mode on",
                "bits, mode off",
                "s",
            ),
            (
                (
                    r.id,
                    f"`{r.api}`",
                    r.condition,
                    r.device,
                    r.pass_,
                    _status(r),
                    _expected(r),
                    r.kernel,
                    r.patterns(mode_on=True),
                    r.patterns(mode_on=False),
                    f"{r.seconds:.3f}",
                )
                for r in members
            ),
        )
        out.append("")
    out += _reach_section(report)
    out += _two_ways_section(report)
    out += _cost_section(report)
    out += _compiled_section(report)
    problems = [r for r in report.results if not r.status.observed]
    if problems:
        out += ["## Not observed", ""]
        out += _table(
            ("id", "device", "status", "why"),
            ((r.id, r.device, r.status.value, r.message) for r in problems),
        )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
