"""Typed errors raised inside detaudit; only the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "CatalogError",
    "DetauditError",
    "EnvironmentUnsupported",
    "ReportError",
    "TorchUnsupported",
    "TraceError",
    "UsageError",
    "WorkerError",
    "joined",
]


class DetauditError(Exception):
    """Base class of every error detaudit raises on purpose.

    ``option`` names the argument at fault by its Python name (``timeout``,
    ``only``), never by a command-line flag: ``detail`` says what is wrong with
    it, and the CLI words the two with the flag (``--timeout must be ...``).
    """

    def __init__(
        self, detail: str = "", *, option: str | None = None, also: tuple[str, ...] = ()
    ) -> None:
        self.detail = detail
        self.option = option
        #: Other options ``detail`` refers to, as ``{0}``, ``{1}``... (``needs {0}``).
        self.also = also
        super().__init__(self.worded())

    def worded(self, name: Callable[[str], str] = str) -> str:
        """The sentence with each option written by ``name`` (the CLI passes its flags)."""
        detail = self.detail
        for i, other in enumerate(self.also):
            detail = detail.replace(f"{{{i}}}", name(other))
        return joined(name(self.option), detail) if self.option else detail


def joined(name: str, detail: str) -> str:
    """``name`` and ``detail`` as one sentence: ``timeout must be ...``, ``only: unknown ...``."""
    return f"{name}{detail}" if detail[:1] in (":", ",") else f"{name} {detail}"


class UsageError(DetauditError):
    """Bad arguments: an unknown entry id, a repeat count below one, ..."""


class CatalogError(DetauditError):
    """A catalogue file cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str, *, option: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems), option=option)

    def worded(self, name: Callable[[str], str] = str) -> str:
        """One line per problem, each led by the option (as ``name`` writes it) if one is at fault."""
        if self.option is None:
            return "\n".join(self.problems)
        return "\n".join(joined(name(self.option), p) for p in self.problems)


class EnvironmentUnsupported(DetauditError):
    """This machine cannot do what was asked (e.g. ``--device cuda`` without a GPU)."""


class TorchUnsupported(EnvironmentUnsupported):
    """The installed torch lacks an API a feature needs (the dynamic scan's private torch names)."""


class ReportError(DetauditError):
    """A report file is missing, corrupt or from a newer schema."""


class WorkerError(DetauditError):
    """A probe worker could not be started at all (as opposed to one probe crashing it)."""


class TraceError(DetauditError):
    """A trace file is missing, not a trace, garbled, or of another schema version."""
