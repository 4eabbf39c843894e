"""The ``static`` document: text and JSON views of what ``scan --static`` found (``StaticResult``)."""

from __future__ import annotations

import json

from ..scanner.records import StaticResult

__all__ = ["render_json", "render_text"]


def render_text(result: StaticResult) -> str:
    """``file:line:col: entry-id message``, one line a finding, like a linter; then skipped files."""
    lines = [f"{f.file}:{f.line}:{f.col}: {f.entry} {f.message}" for f in result.findings]
    lines += [f"{s.file}:{s.line}:{s.col}: skipped: {s.error}" for s in result.skipped]
    return "".join(f"{line}\n" for line in lines)


def render_json(result: StaticResult) -> str:
    """The static scan result as JSON."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
