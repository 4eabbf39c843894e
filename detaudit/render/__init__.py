"""Every document detaudit writes, in every format: pure functions that return a ``str``.

:data:`RENDERERS` is the one registry, keyed by document then format; each
command's ``--format`` choices come from it, and a test runs every pair. A
renderer does no I/O: the CLI writes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import (
    catalog_list,
    diff,
    discovery,
    divergence,
    divergence_html,
    docs_check,
    env,
    fleet,
    html,
    json,
    markdown,
    sarif,
    scan,
    signatures,
    sites,
    static,
    summary,
    table,
)

__all__ = ["RENDERERS", "Renderer"]


@dataclass(frozen=True, slots=True)
class Renderer:
    """One format of one document: a pure function to ``str``, and the file extension it suits."""

    render: Callable[[Any], str]
    extension: str


#: Document -> format -> renderer. The input of each document:
#: ``report`` a Report; ``summary`` a Report (the terminal summary ``audit`` prints); ``diff`` a Diff; ``table`` a Table; ``scan`` a ScanResult;
#: ``static`` a StaticResult; ``signatures`` each entry with its Signature (or None);
#: ``discovery`` a Discovery; ``docs-check`` a DocsCheck; ``env`` an EnvReport;
#: ``catalog-list`` a Catalog; ``fleet`` a :class:`~detaudit.fleet.result.Fleet`;
#: ``sites`` a :class:`~detaudit.sites.coverage.SitesResult`; ``sites-diff`` a
#: :class:`~detaudit.sites.diff.SitesDiff`; ``divergence`` a
#: :class:`~detaudit.trace.compare.Comparison`.
RENDERERS: dict[str, dict[str, Renderer]] = {
    "report": {
        "json": Renderer(json.render, ".json"),
        "md": Renderer(markdown.render, ".md"),
        "html": Renderer(html.render, ".html"),
    },
    "summary": {
        "text": Renderer(summary.render_text, ".txt"),
    },
    "diff": {
        "text": Renderer(diff.render_text, ".txt"),
        "md": Renderer(diff.render_markdown, ".md"),
        "json": Renderer(diff.render_json, ".json"),
    },
    "table": {
        "md": Renderer(table.render_markdown, ".md"),
        "csv": Renderer(table.render_csv, ".csv"),
        "html": Renderer(html.render_table, ".html"),
    },
    "fleet": {
        "md": Renderer(fleet.render_markdown, ".md"),
        "html": Renderer(fleet.render_html, ".html"),
    },
    "scan": {
        "text": Renderer(scan.render_text, ".txt"),
        "json": Renderer(scan.render_json, ".json"),
    },
    "static": {
        "text": Renderer(static.render_text, ".txt"),
        "json": Renderer(static.render_json, ".json"),
        "sarif": Renderer(sarif.render, ".sarif"),  # for code scanning; the dynamic scan has none
    },
    "signatures": {
        "text": Renderer(signatures.render_text, ".txt"),
    },
    "discovery": {
        "text": Renderer(discovery.render_text, ".txt"),
        "json": Renderer(discovery.render_json, ".json"),
    },
    "docs-check": {
        "text": Renderer(docs_check.render_text, ".txt"),
        "json": Renderer(docs_check.render_json, ".json"),
    },
    "env": {
        "text": Renderer(env.render_text, ".txt"),
        "json": Renderer(env.render_json, ".json"),
    },
    "catalog-list": {
        "text": Renderer(catalog_list.render_text, ".txt"),
        "json": Renderer(catalog_list.render_json, ".json"),
    },
    "sites": {
        "text": Renderer(sites.render_text, ".txt"),
        "json": Renderer(sites.render_json, ".json"),
    },
    "divergence": {
        "text": Renderer(divergence.render_text, ".txt"),
        "json": Renderer(divergence.render_json, ".json"),
        "html": Renderer(divergence_html.render, ".html"),
    },
    "sites-diff": {
        "text": Renderer(sites.render_diff_text, ".txt"),
        "json": Renderer(sites.render_diff_json, ".json"),
    },
}
