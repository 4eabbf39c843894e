"""Plain-text columns for the text renderers, laid out by rich: two spaces between columns."""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["columns"]

# Wide enough that no row ever wraps: a text document is read in a log or a file, not a window.
_NO_WRAP = 100_000


def columns(
    rows: Sequence[Sequence[str]], *, right: Collection[int] = (), indent: str = ""
) -> list[str]:
    """``rows`` as aligned lines: cells padded to their column's width, trailing spaces stripped.

    The first row is laid out like the others (a header, if any, is just a row);
    columns whose index is in ``right`` are right-aligned; each line starts with
    ``indent``. Cells are plain text, never rich markup.
    """
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for index in range(len(rows[0])):
        table.add_column(justify="right" if index in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=_NO_WRAP,
        force_terminal=False,
        color_system=None,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(table)
    return [(indent + line).rstrip() for line in buffer.getvalue().splitlines()]
