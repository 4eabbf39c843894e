"""How the CLI words a library error: the option it names, written as the flag that sets it."""

from __future__ import annotations

from ..errors import DetauditError

__all__ = ["FLAGS", "flag", "worded"]

#: Options whose flag is not ``--`` plus the name with ``-`` for ``_``.
FLAGS = {
    "catalogs": "--catalog",
    "builtin": "--no-builtin",
    "census": "--no-census",
    "ops": "--op",
    "static_paths": "scan --static",
}


def flag(option: str) -> str:
    """The flag that sets ``option``: ``timeout`` -> ``--timeout``, ``catalogs`` -> ``--catalog``."""
    return FLAGS.get(option, "--" + option.replace("_", "-"))


def worded(exc: DetauditError) -> str:
    """The error's message for the terminal, its options written as flags."""
    return exc.worded(flag)
