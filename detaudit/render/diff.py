"""The ``diff`` document: text, Markdown and JSON views of a :class:`~detaudit.compare.diff.Diff`."""

from __future__ import annotations

import json
from typing import Any

from ..compare.compiled import CompiledChange, compiled_state, divergence
from ..compare.diff import CHANGE_MEANING, Change, ChangeKind, Diff
from ..model.report import ProbeResult
from .columns import columns
from .prose import md_table as _table
from .prose import title

__all__ = ["describe", "render_json", "render_markdown", "render_text"]

ENV_LABELS = {
    "torch": "torch",
    "torch_git": "torch git",
    "torch_path": "torch imported from",
    "cuda": "CUDA",
    "cudnn": "cuDNN",
    "gpu": "GPU",
    "gpu_capability": "GPU capability",
    "gpu_driver": "driver",
    "gpu_count": "GPUs",
    "python": "Python",
    "python_executable": "Python executable",
    "os": "OS",
    "cpu": "CPU",
    "numpy": "numpy",
    "cublas_workspace_config": "CUBLAS_WORKSPACE_CONFIG",
    "hostname": "host",
    "catalog_hash": "catalogue hash",
    "detaudit": "detaudit",
    "inductor": "Inductor settings",
}

_MESSAGE_WIDTH = 100


def _value(value: Any) -> str:
    return "–" if value is None or value == "" else str(value)


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= _MESSAGE_WIDTH else line[: _MESSAGE_WIDTH - 1] + "…"


def _yes_no(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "no")


def _state(result: ProbeResult) -> str:
    """``raises (put_)``: a status with the kernel an alert names."""
    return f"{result.status.value} ({result.kernel})" if result.kernel else result.status.value


def _backward_only_state(result: ProbeResult) -> str:
    """``raises (upsample_bilinear2d_backward_out_cuda)``: the backward-only run's status."""
    status, observed = result.backward_only_status, result.backward_only
    if status is None or observed is None:
        return "not observed"
    return f"{status.value} ({observed.kernel})" if observed.kernel else status.value


def describe(change: Change) -> str:
    """What changed, in a few words: ``converts -> raises (scatter_reduce_two_cuda)``."""
    old, new = change.old, change.new
    if old is None or new is None:
        result = old or new
        assert result is not None
        return _state(result)
    if change.kind in (ChangeKind.REPEATABILITY_LOST, ChangeKind.REPEATABILITY_GAINED):
        return (
            f"{new.status.value}: repeatable {_yes_no(old.bits_repeat)} -> {_yes_no(new.bits_repeat)}"
        )
    if change.kind is ChangeKind.BITS_DIFFER:
        return f"{new.status.value}: digest {(old.digest or '')[:12]} -> {(new.digest or '')[:12]}"
    if change.kind is ChangeKind.BACKWARD_ONLY_CHANGED:
        return (
            f"{_state(new)}; backward only: {_backward_only_state(old)} -> "
            f"{_backward_only_state(new)}"
        )
    text = f"{_state(old)} -> {_state(new)}"
    if (
        change.kind in (ChangeKind.STATUS_CHANGED, ChangeKind.NEWLY_FAILS)
        and not new.status.observed
        and new.message
    ):
        text += f": {_first_line(new.message)}"
    return text


_COMPILED_MEANING = (
    "the torch.compile observation changed (outcome, kernel, compile error or repeatability)"
)


def _compiled(change: CompiledChange) -> str:
    """``ran, 1 of 5 -> ran, 3 of 5 (not-repeatable-compiled)``."""
    text = f"{compiled_state(change.old)} -> {compiled_state(change.new)}"
    found = divergence(change.new)
    return f"{text} ({found})" if found else text


def _heading(kind: ChangeKind, count: int) -> str:
    return f"{kind.label} ({count}): {CHANGE_MEANING[kind]}"


def _summary(diff: Diff) -> str:
    counts = ", ".join(f"{n} {kind.label}" for kind, n in diff.counts().items())
    compiled = f", {len(diff.compiled)} compiled" if diff.compiled else ""
    return f"{counts}{compiled}; {diff.unchanged} unchanged"


def render_text(diff: Diff) -> str:
    """The diff as plain text for a terminal or a CI log."""
    out = [
        f"detaudit diff: {title(diff.old)}  ->  {title(diff.new)}",
        f"old: {diff.old_source}",
        f"new: {diff.new_source}",
        *(f"note ({side}): {note}" for side, note in diff.notes()),
        "",
    ]
    if diff.environment:
        out.append("environment")
        out += columns(
            [
                (ENV_LABELS.get(e.field, e.field), _value(e.old), "->", _value(e.new))
                for e in diff.environment
            ],
            indent="  ",
        )
    else:
        out.append("environment: the same")
    for kind in ChangeKind:
        changes = diff.of_kind(kind)
        if not changes:
            continue
        out += ["", _heading(kind, len(changes))]
        out += columns(
            [(c.result.id, c.result.device, c.result.pass_, describe(c)) for c in changes],
            indent="  ",
        )
    if diff.compiled:
        out += ["", f"compiled ({len(diff.compiled)}): {_COMPILED_MEANING}"]
        out += columns(
            [(c.new.id, c.new.device, c.new.pass_, _compiled(c)) for c in diff.compiled],
            indent="  ",
        )
    if not diff.changes and not diff.compiled:
        out += ["", "no result changed"]
    out += ["", f"summary: {_summary(diff)}"]
    return "\n".join(out) + "\n"


def render_markdown(diff: Diff) -> str:
    """The diff as GitHub-flavoured Markdown (a CI job summary or a PR comment)."""
    out = [f"# detaudit diff: {title(diff.old)} → {title(diff.new)}", ""]
    for side, note in diff.notes():
        out += [f"> **Note ({side})**: {note}.", ""]
    rows: list[tuple[object, ...]] = [("report", f"`{diff.old_source}`", f"`{diff.new_source}`")]
    rows += [(ENV_LABELS.get(e.field, e.field), e.old, e.new) for e in diff.environment]
    out += _table(("", "old", "new"), rows)
    out += ["", "## Summary", ""]
    out += _table(
        ("change", "count", "meaning"),
        ((kind.label, n, CHANGE_MEANING[kind]) for kind, n in diff.counts().items()),
    )
    out += ["", f"{diff.unchanged} results unchanged."]
    for kind in ChangeKind:
        changes = diff.of_kind(kind)
        if not changes:
            continue
        out += [
            "",
            f"## {kind.label.capitalize()} ({len(changes)})",
            "",
            CHANGE_MEANING[kind][0].upper() + CHANGE_MEANING[kind][1:] + ".",
            "",
        ]
        out += _table(
            ("id", "api", "device", "pass", "change"),
            (
                (c.result.id, f"`{c.result.api}`", c.result.device, c.result.pass_, describe(c))
                for c in changes
            ),
        )
    if diff.compiled:
        out += [
            "",
            f"## Compiled ({len(diff.compiled)})",
            "",
            _COMPILED_MEANING.capitalize() + ".",
            "",
        ]
        out += _table(
            ("id", "api", "device", "pass", "change"),
            (
                (c.new.id, f"`{c.new.api}`", c.new.device, c.new.pass_, _compiled(c))
                for c in diff.compiled
            ),
        )
    return "\n".join(out) + "\n"


def render_json(diff: Diff) -> str:
    """The diff as indented JSON (see :meth:`Diff.to_dict`)."""
    return json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) + "\n"
