"""The ``static`` document as SARIF 2.1.0, the format code-scanning services read."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from ..model.vocabulary import Claim, Group
from ..scanner.records import StaticFinding, StaticResult

__all__ = ["render"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _location(file: str, line: int, col: int) -> dict[str, Any]:
    """A physical location: a relative path stays relative (to ``%SRCROOT%``), else a file URI."""
    path = PurePath(file)
    if path.is_absolute():
        artifact = {"uri": path.as_uri()}
    else:
        artifact = {"uri": quote(path.as_posix()), "uriBaseId": "%SRCROOT%"}
    region = {"startLine": line, "startColumn": col} if line > 0 else {}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def _level(finding: StaticFinding) -> str:
    """The claim's level, one lower where an argument of the condition is not a literal.

    error: the docs say it raises and the call meets the condition literally; warning: it
    raises if the unchecked argument says so, or it converts (or the docs say nothing);
    note: a converting call whose condition is not literal either.
    """
    if finding.claim == "raises":
        return "warning" if finding.unchecked else "error"
    return "note" if finding.unchecked else "warning"


def _rule_level(finding: StaticFinding) -> str:
    """A rule's level: its claim's, as for a call that meets the condition literally."""
    return "error" if finding.claim == "raises" else "warning"


def _describe(finding: StaticFinding) -> str:
    """The rule's one line: the api, the docs' claim, the condition (no file, no version)."""
    if finding.group == Group.OBSERVED:
        return finding.summary  # in no docstring: names no claim and no version
    if not finding.claim:  # catalogued, but not in the lists of the scanned torch's docs
        return f"{finding.api} {finding.condition}: not in the docs' lists of this torch".strip()
    claim = Claim(finding.claim).status
    return f"{finding.api} {claim} under deterministic mode {finding.condition}".strip()


def render(result: StaticResult) -> str:
    """One SARIF run: a rule per catalogue entry found, a result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    for f in result.findings:
        rules.setdefault(
            f.entry,
            {
                "id": f.entry,
                "shortDescription": {"text": _describe(f)},
                "defaultConfiguration": {"level": _rule_level(f)},
            },
        )
    order = {entry: index for index, entry in enumerate(rules)}
    results = [
        {
            "ruleId": f.entry,
            "ruleIndex": order[f.entry],
            "level": _level(f),
            "message": {"text": f.message},
            "locations": [_location(f.file, f.line, f.col)],
        }
        for f in result.findings
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"skipped: {s.error}"},
            "locations": [_location(s.file, s.line, s.col)],
        }
        for s in result.skipped
    ]
    document = {
        "version": SARIF_VERSION,
        "$schema": SARIF_SCHEMA,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "detaudit",
                        "rules": list(rules.values()),
                    }
                },
                "invocations": [
                    {"executionSuccessful": True, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
