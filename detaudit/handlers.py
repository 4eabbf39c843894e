"""The worker's handlers: each room that answers a request kind registers it here, by path.

The worker (:mod:`detaudit.runner.worker`) imports a handler on first use, so
the runner names no room above it and a worker that only audits never imports
the OpInfo database or the scanner. Standard library only (nothing, in fact),
syntax that Python 3.9 runs: a worker may run under another interpreter.
"""

from __future__ import annotations

__all__ = ["HANDLERS"]

#: Request kind -> ``module:function`` that answers it (a request record in, an answer out).
HANDLERS: dict[str, str] = {
    # runner/: the audit's own requests
    "environment": "detaudit.runner.fingerprint:handle",
    "run": "detaudit.runner.observe:handle",
    # scanner/: the signatures' traces
    "trace": "detaudit.scanner.trace:handle",
    # docs/: discover's OpInfo sweep
    "opinfo-list": "detaudit.docs.opinfo:handle_list",
    "opinfo-sweep": "detaudit.docs.opinfo:handle_sweep",
}
