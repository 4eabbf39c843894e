"""The ``detaudit`` command line: one module per command; the console, the output writer
and the exit codes each in one place. Only this package prints, exits or writes output files.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it).

    A Ctrl-C while the command line is still loading (torch's import, the parsers) ends it
    the way one during the command does: one line and exit 130, no traceback.
    """
    try:
        from .app import main as run

        return run(argv)
    except KeyboardInterrupt:
        print("detaudit: interrupted by SIGINT; no report written", file=sys.stderr)
        return 130
