"""The trace file: JSON lines, schema version 1; written as the program runs, read back whole.

One JSON object per line (see ``docs/reference/trace-format.md``):

- the header (``"k": "header"``, first line): the schema version, the command,
  the environment and every determinism-relevant flag and variable;
- ``"k": "loc"``: a user location, given an id the first time an op is there;
- ``"k": "op"``: one aten op (sequence number, op, pass, device, shape, location
  id, input and output fingerprints, generator state for random ops);
- ``"k": "step"``: a step marker (``detaudit.step()`` or an optimizer step);
- the footer (``"k": "end"``, last line): the op count and ``complete``.

A trace without a footer, or whose footer says ``complete: false``, is
partial: the program crashed or was interrupted, and what ran before is there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import TraceError

__all__ = ["SCHEMA_VERSION", "Location", "Trace", "TraceWriter", "load_trace"]

#: The version of the format this detaudit writes and reads.
SCHEMA_VERSION = 1
#: The key of the header that names the format and its version.
MAGIC = "detaudit_trace"


@dataclass(frozen=True, slots=True)
class Location:
    """A user location: file, line, function, and ``via`` (the user's line, for library code)."""

    file: str
    line: int
    function: str
    via: tuple[str, int, str] | None = None

    def text(self) -> str:
        """``train.py:12`` or ``lib.py:3 (via train.py:12)``."""
        where = f"{self.file}:{self.line}"
        return f"{where} (via {self.via[0]}:{self.via[1]})" if self.via else where


@dataclass(frozen=True, slots=True)
class Trace:
    """A trace read back: header, ops (dicts as written), locations, step boundaries, footer."""

    path: str
    header: dict[str, Any]
    #: the op lines as written (parsed on demand by :meth:`op`: comparing lines is cheaper)
    lines: list[str]
    locations: dict[int, Location]
    #: for each step marker, the number of ops recorded before it
    steps: list[int] = field(default_factory=list)
    footer: dict[str, Any] | None = None
    size: int = 0

    def op(self, index: int) -> dict[str, Any]:
        """Op ``index``, parsed."""
        return json.loads(self.lines[index])

    @property
    def complete(self) -> bool:
        """Whether the recorded program ran to the end of recording (a footer saying so)."""
        return bool(self.footer and self.footer.get("complete"))

    def step_of(self, index: int) -> int:
        """The 1-based step op ``index`` belongs to (ops before the first marker: step 1)."""
        import bisect

        return bisect.bisect_right(self.steps, index) + 1


class TraceWriter:
    """Append the lines of one trace to ``path`` as they come, in buffered writes.

    Lines go to the file in blocks (``buffer`` bytes), so a crash loses at
    most the last block; :meth:`close` writes the footer.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]) -> None:
        self.path = Path(path)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self.write({MAGIC: SCHEMA_VERSION, "k": "header", **header})
        self._file.flush()

    def write(self, record: dict[str, Any]) -> None:
        """One line."""
        self._file.write(self._dumps(record) + "\n")

    def write_lines(self, records: list[dict[str, Any]]) -> None:
        """Several lines at once."""
        dumps = self._dumps
        self._file.write("".join([dumps(r) + "\n" for r in records]))

    def write_text(self, text: str) -> None:
        """Lines already made (each ends with a newline)."""
        self._file.write(text)

    def close(self, footer: dict[str, Any]) -> int:
        """Write the footer, close, and return the file's size in bytes."""
        self.write({"k": "end", **footer})
        self._file.close()
        return self.path.stat().st_size

    def abandon(self) -> None:
        """Close without a footer (the trace reads as partial)."""
        if not self._file.closed:
            self._file.close()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a folder, not a trace file") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a detaudit trace (not UTF-8 text)") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace; a missing, garbled or foreign file is a :class:`TraceError` (one line).

    A trace cut short (no footer, or a last line cut mid-way by a crash) loads
    as partial; a bad line elsewhere is garbled.
    """
    path = Path(path)
    loads = json.loads
    header: dict[str, Any] | None = None
    ops: list[str] = []
    locations: dict[int, Location] = {}
    steps: list[int] = []
    footer: dict[str, Any] | None = None
    pending_error: str | None = None
    for number, line in _lines(path):
        if pending_error is not None:  # a bad line that was not the last one
            raise TraceError(pending_error)
        if header is not None and line.startswith('{"k":"op"'):
            if line.endswith("}\n"):
                ops.append(line)
                continue
            pending_error = f"{path}: garbled trace (line {number} is cut short)"
            continue
        try:
            record = loads(line)
            kind = record["k"]
        except (ValueError, KeyError, TypeError):
            if header is None:
                if line.startswith(f'{{"{MAGIC}"'):
                    raise TraceError(f"{path}: truncated trace (its header is cut short)") from None
                raise TraceError(
                    f"{path}: not a detaudit trace (line 1 is not its header)"
                ) from None
            pending_error = f"{path}: garbled trace (line {number} is not a trace record)"
            continue
        if header is None:
            if kind != "header" or MAGIC not in record:
                raise TraceError(f"{path}: not a detaudit trace (line 1 is not its header)")
            version = record[MAGIC]
            if version != SCHEMA_VERSION:
                raise TraceError(
                    f"{path}: a trace of schema version {version}; this detaudit reads "
                    f"version {SCHEMA_VERSION}"
                )
            header = record
        elif kind == "op":
            ops.append(line)
        elif kind == "loc":
            via = record.get("via")
            locations[record["id"]] = Location(
                record["file"], record["line"], record["fn"], tuple(via) if via else None
            )
        elif kind == "step":
            steps.append(len(ops))
        elif kind == "end":
            footer = record
    if header is None:
        raise TraceError(f"{path}: empty file, not a detaudit trace")
    return Trace(str(path), header, ops, locations, steps, footer, path.stat().st_size)
