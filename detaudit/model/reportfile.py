"""Read JSON report files from disk: the one place a report file is loaded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..errors import ReportError
from .report import Report

__all__ = ["load_report", "load_reports"]

_WRITTEN_BY = "give the .json report that `detaudit audit` writes"


def load_report(path: str | Path) -> Report:
    """Load one JSON report; a missing, unreadable, corrupt or newer file is a :class:`ReportError`.

    The error is one line that names the file and says what to give instead,
    or the field that is wrong (``r.json: results[3].seconds: expected a number, got "1.5"``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; {_WRITTEN_BY}") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a folder; {_WRITTEN_BY}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not a JSON report (not UTF-8 text); {_WRITTEN_BY}") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not a JSON report ({exc.msg} at line {exc.lineno}); {_WRITTEN_BY}"
        ) from None
    except RecursionError:
        raise ReportError(f"{path}: not a JSON report (nested too deeply); {_WRITTEN_BY}") from None
    return Report.from_dict(data, source=str(path))


def load_reports(paths: Iterable[str | Path]) -> list[Report]:
    """Load several report files, in the order given (the first bad one raises)."""
    return [load_report(path) for path in paths]
