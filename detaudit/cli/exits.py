"""The exit codes of every command, in one place (the README's "Exit codes" lists them)."""

from __future__ import annotations

__all__ = ["EXIT_ENVIRONMENT", "EXIT_FINDINGS", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0  # the command ran (whatever an audit found)
EXIT_FINDINGS = 1  # findings, for commands that look for them
EXIT_USAGE = 2  # bad input or usage
EXIT_ENVIRONMENT = 3  # this environment cannot do what was asked
EXIT_INTERNAL = 4  # a bug: please report it
# Signals: 128 plus the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
