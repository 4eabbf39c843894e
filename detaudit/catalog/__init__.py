"""The catalogue: YAML facts loaded and validated into frozen records.

``records`` holds the records and the claim semantics, ``load`` the YAML
loading and validation, ``probes`` the probe lookup that imports nothing.
"""

from __future__ import annotations

from ..model.vocabulary import DEVICES, GROUPS, PASSES
from .load import builtin_catalog_dir, builtin_catalog_files, load_catalog
from .records import Catalog, Condition, Entry, Form, Match, Static, parse_version

__all__ = [
    "DEVICES",
    "GROUPS",
    "PASSES",
    "Catalog",
    "Condition",
    "Entry",
    "Form",
    "Match",
    "Static",
    "builtin_catalog_dir",
    "builtin_catalog_files",
    "load_catalog",
    "parse_version",
]
