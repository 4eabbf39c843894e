"""The catalogue's records: frozen :class:`Entry` and :class:`Catalog`, and what the docs claim.

The catalogue holds facts: which op, under which condition, on which devices,
what each version of the ``torch.use_deterministic_algorithms`` docstring
claims, and which probe exercises it. It never holds an observed status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import CatalogError
from ..model.vocabulary import (
    Claim,
    Group,
    Pass,
    Status,
    docs_label,
    docs_release,
    parse_version,
)

__all__ = [
    "SILENT_BASIS",
    "Catalog",
    "Condition",
    "Entry",
    "Form",
    "Match",
    "Static",
    "parse_version",
]



_Scalar = str | int | float | bool | None

#: Where a ``silent`` entry's expectation (``ok``) comes from.
SILENT_BASIS = "PyTorch's tests: no alert"


def _same(a: object, b: object) -> bool:
    """Equality in which a bool equals only a bool (in Python, True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


@dataclass(frozen=True, slots=True)
class Condition:
    """What one argument must be: one of ``values``, a number in [``min``, ``max``], or given.

    YAML forms: a scalar (``mode: max``), a list (``dtype: [float, complex]``),
    ``{min: 2}`` / ``{max: 3}``, and ``{given: true}`` (passed and not None).
    """

    values: tuple[_Scalar, ...] = ()
    min: float | None = None
    max: float | None = None
    given: bool | None = None

    def test(self, value: object, present: bool = True) -> bool:
        """Does ``value`` (``present``: the caller passed it, or it has a default) satisfy this?"""
        if self.given is not None:
            return (present and value is not None) == self.given
        if not present:
            return False
        if self.values:
            return any(_same(value, v) for v in self.values)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def to_data(self) -> object:
        """The YAML/JSON form this condition was read from."""
        if self.given is not None:
            return {"given": self.given}
        if self.values:
            return self.values[0] if len(self.values) == 1 else list(self.values)
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass(frozen=True, slots=True)
class Match:
    """How the scanner recognises an entry, where the probe alone cannot tell.

    ``signature`` and ``call`` serve the static scan: the parameters of
    ``api`` (as Python source, ``self`` left out for a Tensor method) and
    conditions on its call's arguments. ``aten`` serves the dynamic scan:
    conditions on the aten op's arguments (schema names; ``ARG.ndim``,
    ``ARG.dtype``, ``ARG.layout``, ``overload``), used instead of the ones
    derived from sibling probes. ``ops`` pins the aten ops (``aten::put_.default``)
    where deriving them from the probe picks the wrong ones; ``ops: []`` says the
    entry has no aten op of its own (``no_ops``), so the dynamic scan never names it.
    """

    signature: str = ""
    call: tuple[tuple[str, Condition], ...] = ()
    aten: tuple[tuple[str, Condition], ...] = ()
    ops: tuple[str, ...] = ()
    no_ops: bool = False

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {}
        if self.signature:
            data["signature"] = self.signature
        for key in ("call", "aten"):
            conditions = getattr(self, key)
            if conditions:
                data[key] = {name: cond.to_data() for name, cond in conditions}
        if self.ops or self.no_ops:
            data["ops"] = list(self.ops)
        return data


@dataclass(frozen=True, slots=True)
class Form:
    """One more call form that reaches an entry's kernel, for the static scan.

    ``api`` is dotted like an entry's (``torch.nn.functional.pad``); ``signature``
    and ``call`` select the entry by literal arguments, as in :class:`Match`.
    """

    api: str
    signature: str = ""
    call: tuple[tuple[str, Condition], ...] = ()


@dataclass(frozen=True, slots=True)
class Static:
    """The static scan's extra facts about an entry: more ``forms``, method names
    (``needs_tensor``) that everyday Python also uses, matched only on a known tensor,
    and the input rank the code must show (``min_rank``)."""

    forms: tuple[Form, ...] = ()
    needs_tensor: tuple[str, ...] = ()
    # Report a call only when the code shows its input has at least this many dimensions
    # (``.view(N, C, H, W)``, literal factory sizes): nll_loss alerts for 4-D input only.
    min_rank: int | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One op under one documented condition."""

    id: str
    api: str
    group: Group  # the seed group (what a user entry without claims claims), or observed
    condition: str
    devices: tuple[str, ...]  # device names (detaudit.devices), in the registry's order
    pass_: Pass
    probe: str
    source: str
    claims: tuple[tuple[str, Claim], ...] = ()
    # Keyword arguments the probe is called with after the device (``args:`` in the YAML):
    # one probe function for several variants (``reduce: sum``). Lists are tuples here.
    probe_args: tuple[tuple[str, Any], ...] = ()
    notes: str = ""
    file: str = ""
    line: int = 0
    probe_path: str | None = None
    match: Match | None = None
    static: Static | None = None  # scanner data only: not in to_dict, so not in the hash
    # The names PyTorch's source passes to alertNotDeterministic for this op ("cublas" for
    # the cuBLAS workspace check): discover's coverage and catalog/known_gaps.yaml use them.
    kernels: tuple[str, ...] = ()
    # Environment variables the probe's runs need: (name, value), None meaning unset.
    env: tuple[tuple[str, str | None], ...] = ()
    # The probe calls torch.compile itself (compiled flex_attention): it runs only in an
    # ``audit --compile``, which gives the audit a compile cache of its own and the time.
    compiles: bool = False
    # ``claims: {}`` given: no docstring read lists the entry (the cuBLAS entries), so it
    # claims nothing; an entry with the key left out claims its group (a user entry).
    unlisted: bool = False
    # The aten ops (``aten::upsample_bilinear2d_backward``, any overload) the probe means to
    # reach: the runner records the ops of the strict run and flags the result when none of
    # these ran (a Python decomposition taken under the mode; see ProbeResult.decomposed_note).
    reaches: tuple[str, ...] = ()
    # PyTorch's own tests assert this case never alerts (the complement of a documented
    # condition: bincount without weights): every device expects ``ok``, so an alert is
    # drift, and the scanners never report a call of it.
    silent: bool = False
    # The probe spends seconds before its first run (Dynamo traces flex_attention): an
    # audit runs it on a worker of its own, started at once, beside the shared one.
    slow_start: bool = False
    # What to do instead (the deterministic alternative, the flag, its cost): shown by scan,
    # audit's summary and the reports. Advice, not a fact about the op: not in the hash.
    remedy: str = ""

    def claim_for(
        self, torch_version: str, docs_versions: Sequence[str] = ()
    ) -> tuple[Claim | None, str | None]:
        """What the docs of the newest sampled release <= ``torch_version`` claim.

        ``docs_versions`` are every release whose docs were read (the
        catalogue's); a release among them that this entry's claims lack did
        not list the entry. Returns ``(claim, basis)``: claim is ``converted``,
        ``raises`` or None (not listed, or older than every sampled release);
        basis names the docs (``"docs 2.13"``; a pre-release such as ``2.15.0a0`` is
        compared with the release before it: ``"pre-release of 2.15, compared with docs
        2.14"``), or is ``"catalog"`` for a user
        entry without claims, which claims its group for every version (an
        entry with ``claims: {}`` is in no docstring read: it claims None). An
        ``observed`` entry claims nothing: ``(None, None)``.
        """
        if not self.claims and not self.unlisted:
            claim = self.group.claim
            return (claim, "catalog") if claim is not None else (None, None)
        claims = dict(self.claims)
        wanted = docs_release(torch_version)  # a pre-release reads the release before it
        sampled = [v for v in {*docs_versions, *claims} if parse_version(v) <= wanted]
        if not sampled:
            return None, None
        newest = max(sampled, key=parse_version)
        return claims.get(newest), docs_label(torch_version, newest)

    def args_dict(self) -> dict[str, Any]:
        """``probe_args`` as the JSON mapping the worker is sent (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.probe_args}

    @property
    def probe_call(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What the probe runs: the function and its args (entries equal here run the same)."""
        return self.probe, self.probe_args

    @property
    def covered(self) -> tuple[str, ...]:
        """The devices where a run with no alert ``converts``: none for an ``observed`` entry.

        ``converts`` says a documented deterministic implementation was used;
        nothing documents an observed entry, so its clean runs are ``ok``.
        """
        return () if self.group is Group.OBSERVED else self.devices

    def to_dict(self) -> dict[str, object]:
        """The entry as ``catalog list --format json`` prints it."""
        return {
            "id": self.id,
            "api": self.api,
            "group": self.group,
            "condition": self.condition,
            "devices": list(self.devices),
            "pass": self.pass_,
            "probe": self.probe,
            **({"args": self.args_dict()} if self.probe_args else {}),
            "source": self.source,
            "claims": dict(self.claims),
            "notes": self.notes,
            "file": self.file,
            "line": self.line,
            **({"match": self.match.to_dict()} if self.match is not None else {}),
            **({"kernels": list(self.kernels)} if self.kernels else {}),
            **({"env": dict(self.env)} if self.env else {}),
            **({"compiles": True} if self.compiles else {}),
            **({"reaches": list(self.reaches)} if self.reaches else {}),
            **({"silent": True} if self.silent else {}),
            **({"slow_start": True} if self.slow_start else {}),
            **({"remedy": self.remedy} if self.remedy else {}),
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    """The loaded catalogue: entries in file order, and the files they came from."""

    entries: tuple[Entry, ...]
    files: tuple[str, ...] = ()
    docs_versions: tuple[str, ...] = field(default=())
    #: (file, why) for each catalogue file not loaded: its ``requires:`` modules are missing.
    skipped: tuple[tuple[str, str], ...] = ()

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Entry:
        """The entry with this id (KeyError when absent)."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def select(self, ids: Sequence[str]) -> Catalog:
        """Only the given ids, in catalogue order; unknown ids are a CatalogError."""
        known = {entry.id for entry in self.entries}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise CatalogError(
                f": unknown entry id {', '.join(map(repr, unknown))} (see `detaudit catalog list`)",
                option="only",
            )
        wanted = set(ids)
        return Catalog(
            tuple(e for e in self.entries if e.id in wanted),
            self.files,
            self.docs_versions,
            self.skipped,
        )

    @property
    def hash(self) -> str:
        """A short digest of every entry's facts: reports made from equal catalogues match."""
        facts = [
            {k: v for k, v in entry.to_dict().items() if k not in ("file", "line", "remedy")}
            for entry in self.entries
        ]
        blob = json.dumps(facts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def expected(
        self, entry: Entry, device: str, torch_version: str
    ) -> tuple[Status | None, str | None]:
        """What the docs for ``torch_version`` claim ``entry`` does on ``device``.

        ``converts``/``raises`` where the entry's condition covers the device;
        ``ok`` where it does not (the op should run without an alert there),
        unless another entry with the same probe covers that device (put_ with
        accumulate=True is split into a CPU and a CUDA entry): then that entry
        makes the claim and this one makes none (None). A ``silent`` entry
        expects ``ok`` everywhere, on the word of PyTorch's tests.
        """
        if entry.silent:  # like a claim, only for a torch no older than every docs read
            old = all(parse_version(v) > parse_version(torch_version) for v in self.docs_versions)
            return (None, None) if old else (Status.OK, SILENT_BASIS)
        claim, basis = entry.claim_for(torch_version, self.docs_versions)
        if claim is None:
            return None, basis
        if device in entry.devices:
            return Claim(claim).status, basis
        for other in self.entries:
            if other.id != entry.id and other.probe_call == entry.probe_call and device in other.devices:
                return None, f"see {other.id}"
        return Status.OK, basis
