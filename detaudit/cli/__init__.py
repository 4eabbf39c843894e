"""The ``detaudit`` command line: one module per command; the console, the output writer
and the exit codes each in one place. Only this package prints, exits or writes output files.
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
