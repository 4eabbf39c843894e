"""The ``catalog-list`` document: text and JSON views of a loaded catalogue (``catalog list``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .columns import columns

if TYPE_CHECKING:
    from ..catalog import Catalog

__all__ = ["render_json", "render_text"]


def render_text(catalog: Catalog) -> str:
    """One row an entry (id, group, devices, pass, API, condition), then the count of files."""
    rows = [("ID", "GROUP", "DEVICES", "PASS", "API", "CONDITION")]
    rows += [(e.id, e.group, ",".join(e.devices), e.pass_, e.api, e.condition) for e in catalog]
    summary = f"{len(catalog)} entries from {len(catalog.files)} file(s)"
    skipped = [f"skipped {Path(file).name}: {why}" for file, why in catalog.skipped]
    return "\n".join([*columns(rows), summary, *skipped]) + "\n"


def render_json(catalog: Catalog) -> str:
    """Every entry as JSON: ``{"entries": [...]}``."""
    return json.dumps({"entries": [e.to_dict() for e in catalog]}, indent=2) + "\n"
