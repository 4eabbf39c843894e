"""The Markdown report: environment, counts per status, every drift, then the table."""

from __future__ import annotations

from ..compare.compiled import DIVERGENCE_MEANING, compiled_state, divergence
from ..model.report import ProbeResult, Report, Status
from ..model.vocabulary import GROUPS, STATUS_INFO, group_heading
from .prose import (
    COST_HEADER,
    REACH,
    TWO_WAYS,
    cost_intro,
    cost_rows,
    environment_rows,
    md_table,
    reach_notes,
    remedies,
    settings_text,
    timed_results,
    title,
    two_ways,
    two_ways_reading,
)

__all__ = ["render"]


def _expected(result: ProbeResult) -> str:
    if result.expected is None:
        return f"undocumented ({result.expected_from})" if result.expected_from else "undocumented"
    return result.expected


def _status(result: ProbeResult) -> str:
    status = f"**{result.status.value}** (drift)" if result.drift else result.status.value
    return f"{status} (decomposed under the mode)" if result.decomposed else status


def _cost_section(report: Report) -> list[str]:
    """The timed entries, slowest deterministic first; nothing without ``audit --cost``."""
    timed = timed_results(report)
    if not timed:
        return []
    out = [f"## Cost of determinism ({len(timed)})", "", cost_intro(timed), ""]
    out += md_table(COST_HEADER, cost_rows(timed, lambda api: f"`{api}`"))
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
        out += md_table(
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
    out += md_table(
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


def _two_ways_section(report: Report) -> list[str]:
    """Where the two observations of a backward entry differ; nothing in reports without them."""
    differ, unobserved, both = two_ways(report.results)
    if not (differ or unobserved or both):
        return []
    out = [f"## Backward, two ways ({len(differ)} differ)", "", TWO_WAYS, ""]
    if differ:
        out += md_table(
            ("id", "api", "device", "two ways differ"),
            ((r.id, f"`{r.api}`", r.device, two_ways_reading(r)) for r in differ),
        )
    else:
        out.append(f"None differ: {both} backward results gave the same status both ways.")
    if unobserved:
        out += ["", f"Not observed with the mode on for the backward only ({len(unobserved)}):", ""]
        out += md_table(
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


def _reach_section(report: Report) -> list[str]:
    """Where the strict run never reached the entry's op; nothing when every one did."""
    missed = reach_notes(report.results)
    if not missed:
        return []
    out = [f"## Not reached under the mode ({len(missed)})", "", REACH, ""]
    out += md_table(
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
    seen = remedies(report)
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
    out += md_table(("", ""), environment_rows(report))
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
    out += md_table(("status", *report.devices, "total", "meaning"), rows)

    drifts = report.drifts()
    out += ["", f"## Drift ({len(drifts)})", ""]
    if drifts:
        out += [
            "Observed under deterministic mode, yet the docs of this torch claim otherwise:",
            "",
        ]
        out += md_table(
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
        out += md_table(
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
        out += md_table(
            ("id", "device", "status", "why"),
            ((r.id, r.device, r.status.value, r.message) for r in problems),
        )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
