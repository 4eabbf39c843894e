"""The compile cache of one ``audit --compile``: a temporary folder, gone when the audit ends.

Inductor and Triton cache what they compile under ``/tmp/torchinductor_<user>``
and ``~/.triton`` by default. An audit must neither read the user's cache (a
warm cache hides the cost of compiling, and its kernels were compiled under
other settings) nor leave its kernels there: the workers get a cache of their
own through the environment variables Inductor and Triton read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CACHE_VARIABLES", "compile_cache"]

#: Environment variable -> sub-folder of the audit's cache.
CACHE_VARIABLES = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}


@contextmanager
def compile_cache() -> Iterator[dict[str, str]]:
    """Make the audit's cache folder; yield the workers' environment variables; remove it."""
    with tempfile.TemporaryDirectory(
        prefix="detaudit-compile-", ignore_cleanup_errors=True
    ) as root:
        yield {name: os.path.join(root, sub) for name, sub in CACHE_VARIABLES.items()}
