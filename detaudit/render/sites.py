"""The ``sites`` and ``sites-diff`` documents: text and JSON views of a census and its coverage."""

from __future__ import annotations

import json

from ..sites.coverage import Covered, SitesResult
from ..sites.diff import SitesDiff
from .columns import columns

__all__ = [
    "census_line",
    "render_diff_json",
    "render_diff_text",
    "render_json",
    "render_text",
    "short_function",
]

_CUBLAS_MESSAGE = '"Deterministic behavior was enabled with either ..."'


def short_function(function: str) -> str:
    """``at::native::put_(at::Tensor&, ...)`` as ``at::native::put_``: the name without arguments."""
    depth = 0
    for index, char in enumerate(function):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "(" and depth == 0 and index and not function.startswith("(", index - 1):
            if function.startswith("(anonymous namespace)", index):
                continue
            return function[:index]
    return function or "(no symbol)"


def _cublas(result_cublas: tuple[str, ...]) -> str:
    if result_cublas:
        return f"present ({_CUBLAS_MESSAGE} in {', '.join(result_cublas)})"
    return f"absent (no library holds {_CUBLAS_MESSAGE})"


def _wrapped(names: tuple[str, ...], width: int = 96) -> list[str]:
    """``names`` comma-separated in indented lines, never breaking inside a name."""
    lines: list[str] = []
    line = ""
    for name in names:
        piece = f"{name}, " if name != names[-1] else name
        if line and len(line) + len(piece) > width:
            lines.append("  " + line.rstrip())
            line = ""
        line += piece
    return [*lines, "  " + line] if line else lines


def census_line(result: SitesResult) -> str:
    """One line: ``45 alert names: 33 covered, 2 listed as gaps, 10 uncovered``."""
    counts = {state: len(result.of(state)) for state in Covered}
    return (
        f"{len(result.coverage)} alert names: {counts[Covered.COVERED]} covered, "
        f"{counts[Covered.LISTED]} listed as gaps, {counts[Covered.UNCOVERED]} uncovered"
    )


def render_text(result: SitesResult) -> str:
    """The census as plain text: every site, then the coverage of every name."""
    census = result.census
    out = [
        f"detaudit sites: torch {census.torch} ({census.source})",
        f"libraries with alert calls: {', '.join(census.libraries) or 'none'}",
        f"cuBLAS workspace check: {_cublas(census.cublas_check)}",
        f"functions demangled by: {census.demangler or 'nothing (c++filt not found)'}",
        *(f"note: {n}" for n in census.notes),
        "",
        f"alert sites ({len(census.sites)} calls, {len(census.names)} names)",
    ]
    state = {n.alert: n.state.value for n in result.coverage}
    rows = [("device", "alert", "coverage", "function", "in")]
    rows += [
        (
            str(s.device),
            s.alert if s.literal else f"{s.alert} (f-string)",
            state.get(s.alert, ""),
            short_function(s.function),
            f"{s.library} {s.where}",
        )
        for s in census.sites
    ]
    out += columns(rows, indent="  ") if census.sites else ["  none"]
    if census.undecoded:
        out += ["", f"calls whose string could not be read ({len(census.undecoded)})"]
        out += [f"  {s.library} {s.where} {short_function(s.function)}" for s in census.undecoded]
    out += ["", f"coverage: {census_line(result)}"]
    for n in result.of(Covered.UNCOVERED):
        out.append(f"  uncovered  {n.alert} ({', '.join(map(str, n.devices))})")
    for n in result.of(Covered.LISTED):
        out.append(f"  listed     {n.alert}: {n.reason}")
    for n in result.of(Covered.COVERED):
        out.append(f"  covered    {n.alert}: {', '.join(n.entries)}")
    if result.absent:
        out += [
            "",
            (
                f"catalogued names this build does not raise ({len(result.absent)}; another "
                "version's or platform's, or stale):"
            ),
            *_wrapped(result.absent),
        ]
    return "\n".join(out) + "\n"


def render_json(result: SitesResult) -> str:
    """The census and its coverage as JSON."""
    return json.dumps(result.to_dict(), indent=2) + "\n"


def render_diff_text(diff: SitesDiff) -> str:
    """What appears and disappears from one build to the other, as plain text."""
    old, new = diff.old, diff.new
    out = [
        f"detaudit sites --diff: torch {old.torch}  ->  torch {new.torch}",
        f"old: {old.source}",
        f"new: {new.source}",
        "",
        f"cuBLAS workspace check: {'present' if old.cublas_check else 'absent'} -> "
        f"{'present' if new.cublas_check else 'absent'}"
        + (f" ({diff.cublas_change})" if diff.cublas_change else ""),
        (
            f"alert names appeared ({len(diff.names_appeared)}): "
            f"{', '.join(diff.names_appeared) or 'none'}"
        ),
        f"alert names gone ({len(diff.names_gone)}): {', '.join(diff.names_gone) or 'none'}",
    ]
    for title, sites in (("sites appeared", diff.appeared), ("sites gone", diff.gone)):
        out += ["", f"{title} ({len(sites)})"]
        rows = [(str(s.device), s.alert, short_function(s.function), s.library) for s in sites]
        out += columns(rows, indent="  ") if rows else ["  none"]
    return "\n".join(out) + "\n"


def render_diff_json(diff: SitesDiff) -> str:
    """The diff as JSON."""
    return json.dumps(diff.to_dict(), indent=2) + "\n"
