"""The environment a report was made on: the fingerprint a worker takes, and the audit's own facts.

A probe worker takes the fingerprint (:func:`detaudit.runner.fingerprint.fingerprint`)
and sends it through :mod:`detaudit.runner.protocol`; the parent adds the time, the
catalogue's hash and its own version, and the report keeps it. Workers may run under
another interpreter than detaudit's: standard library only, Python 3.9 (so no
``slots=True`` on this dataclass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .codec import decode, encode, meta

__all__ = ["Environment"]


@dataclass(frozen=True)
class Environment:
    """The fingerprint of the machine and software a report was made on."""

    torch: str
    torch_git: str | None = None
    #: The folder of the torch package the workers imported; None in older reports.
    torch_path: str | None = field(default=None, metadata=meta(omit="none"))
    cuda: str | None = None
    cudnn: str | None = None
    gpu: str | None = None
    gpu_capability: str | None = None
    gpu_driver: str | None = None
    gpu_count: int = 0
    python: str = ""
    python_executable: str = ""
    os: str = ""
    cpu: str = ""
    numpy: str | None = None
    cublas_workspace_config: str | None = None
    hostname: str = ""
    # Digests of what seed 0 draws on each device (runner/fingerprint.py rng_canary):
    # two reports' probes had the same random inputs on a device only where these agree.
    rng_cpu: str | None = None
    rng_cuda: str | None = None
    # The audit's own facts: the parent adds them (a worker's fingerprint leaves them empty).
    time: str = ""
    catalog_hash: str = ""
    detaudit: str = ""
    #: Inductor's determinism settings as installed (``audit --compile`` only; None otherwise).
    inductor: Mapping[str, bool] | None = field(default=None, metadata=meta(omit="none"))

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "environment") -> Environment:
        """Rebuild one; a missing ``torch`` or a field of the wrong type is a :class:`ReportError`."""
        return decode(cls, data, where)
