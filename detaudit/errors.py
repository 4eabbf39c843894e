"""Typed errors raised inside detaudit; only the CLI maps them to exit codes."""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "DetauditError",
    "EnvironmentUnsupported",
    "ReportError",
    "TorchUnsupported",
    "TraceError",
    "UsageError",
    "WorkerError",
]


class DetauditError(Exception):
    """Base class of every error detaudit raises on purpose."""


class UsageError(DetauditError):
    """Bad arguments: an unknown entry id, a repeat count below one, ..."""


class CatalogError(DetauditError):
    """A catalogue file cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


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
