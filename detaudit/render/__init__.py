"""Report renderers: one pure module per format, each returning a ``str``.

The CLI's ``--format`` choices come from :data:`RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..model.report import Report
from . import html as _html
from . import json as _json
from . import markdown as _markdown

__all__ = ["RENDERERS", "Renderer", "render"]


class Renderer(NamedTuple):
    extension: str
    render: Callable[[Any], str]  # a Report here; a Diff or a Table in render.diff/render.table


RENDERERS: dict[str, Renderer] = {
    "json": Renderer(".json", _json.render),
    "md": Renderer(".md", _markdown.render),
    "html": Renderer(".html", _html.render),
}


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in format ``fmt`` (a key of :data:`RENDERERS`)."""
    return RENDERERS[fmt].render(report)
