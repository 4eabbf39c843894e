"""The vocabulary: statuses, claims, devices and passes, and what each status means and shows.

Every word is a ``str`` enum whose value is the lowercase word itself, so a
member serialises as-is (``json.dumps``, ``str()``, ``format()``, f-strings,
``str.join``) and compares and hashes equal to its value: ``Status.RAISES ==
"raises"`` and ``{"raises": 1}[Status.RAISES]`` hold. :data:`STATUS_INFO` is the
one table of what each status means and how it shows; every consumer (the
renderers' meanings, colours and "not observed" lists, the terminal styles,
the diff's :data:`~detaudit.compare.diff.RAN` and ``REPEATS``,
:attr:`Status.observed`) derives from it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CLAIMS",
    "DEVICES",
    "GROUPS",
    "PASSES",
    "STATUS_INFO",
    "Claim",
    "Device",
    "Group",
    "Pass",
    "Status",
    "StatusInfo",
    "clean_run_status",
    "docs_label",
    "docs_release",
    "group_heading",
    "is_prerelease",
    "parse_version",
]


class _Word(str, enum.Enum):
    """A word of the vocabulary: formats, prints and serialises as its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        # Python 3.11 changed format() of mixed-in enums; say what we mean.
        return format(self.value, spec)


class Status(_Word):
    """What was observed for one (entry, device) under deterministic mode."""

    RAISES = "raises"  # the nondeterministic-alert RuntimeError
    WARNS = "warns"  # ran, but emitted a nondeterminism warning in strict mode
    CONVERTS = "converts"  # ran with no alert on a device the condition covers
    OK = "ok"  # ran with no alert where no documented condition covers it
    SKIPPED = "skipped"  # device absent, or the op does not exist in this torch
    ERROR = "error"  # any other exception
    CRASHED = "crashed"  # the probe killed its worker process
    TIMEOUT = "timeout"  # the probe ran past --timeout

    @property
    def info(self) -> StatusInfo:
        """This status's row of :data:`STATUS_INFO`."""
        return STATUS_INFO[self]

    @property
    def observed(self) -> bool:
        """True for statuses that say what deterministic mode did (drift is defined)."""
        return STATUS_INFO[self].observed


class Claim(_Word):
    """What the docs of one torch release claim an entry does under deterministic mode.

    The catalogue's seed groups are the same two words: a user entry without
    claims claims its group for every release.
    """

    CONVERTED = "converted"  # listed as using a deterministic implementation
    RAISES = "raises"  # listed as throwing a RuntimeError

    @property
    def status(self) -> Status:
        """The status the claim expects on a device the entry's condition covers."""
        return Status.CONVERTS if self is Claim.CONVERTED else Status.RAISES


class Group(_Word):
    """The catalogue group an entry is filed under: a docstring list, or ``observed``.

    ``converted`` and ``raises`` are the docstring's two lists (the seed groups);
    a user entry without claims claims its group. ``observed`` entries are in
    no docstring: known only by running them, they claim nothing, so they
    never drift.
    """

    CONVERTED = "converted"
    RAISES = "raises"
    OBSERVED = "observed"

    @property
    def claim(self) -> Claim | None:
        """What an entry of this group without claims claims: the group's word, or None."""
        return None if self is Group.OBSERVED else Claim(self.value)

    @property
    def heading(self) -> str:
        """How a report's section of this group is titled."""
        if self is Group.OBSERVED:
            return "observed (not in the docs: known only by running it)"
        return f"{self.value} (seed group)"


class Device(_Word):
    """A device an entry's condition covers and an audit runs on."""

    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"  # Apple silicon; no result on it has been observed by this project


class Pass(_Word):
    """The autograd pass an entry's op runs in."""

    FORWARD = "forward"
    BACKWARD = "backward"


#: The values as plain strings, for argparse ``choices`` and messages (a member's repr
#: is ``<Device.CPU: 'cpu'>``, which argparse would show in its errors).
DEVICES: tuple[str, ...] = tuple(d.value for d in Device)
PASSES: tuple[str, ...] = tuple(p.value for p in Pass)
CLAIMS: tuple[str, ...] = tuple(c.value for c in Claim)
GROUPS: tuple[str, ...] = tuple(g.value for g in Group)  # the seed groups (claims), observed


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What one status means and how it shows.

    ``colour`` is the HTML cell's (background, text, dot); ``style`` the rich
    terminal style. ``observed``: it says what deterministic mode did (drift is
    defined). ``failed``: the probe could not finish (an exception, a dead or
    hung worker); listed under "Not observed" in the table page. ``ran``: a
    training run gets past the op under the mode. ``repeats``: the op ran with
    no alert, so the mode promises repeating bits.
    """

    meaning: str
    colour: tuple[str, str, str]
    style: str
    observed: bool
    failed: bool
    ran: bool
    repeats: bool


#: Status -> its row. Light tints with strong text; crashes stand out.
STATUS_INFO: Mapping[Status, StatusInfo] = MappingProxyType(
    {
        Status.RAISES: StatusInfo(
            meaning="raised the nondeterministic-alert RuntimeError under "
            "use_deterministic_algorithms(True)",
            colour=("#fcd9d6", "#a51d14", "#e5392b"),
            style="bold red",
            observed=True,
            failed=False,
            ran=False,
            repeats=False,
        ),
        Status.WARNS: StatusInfo(
            meaning="ran, but emitted a nondeterminism warning in strict mode",
            colour=("#feefc3", "#8a4b08", "#f0a30a"),
            style="yellow",
            observed=True,
            failed=False,
            ran=True,
            repeats=False,  # it ran the nondeterministic kernel
        ),
        Status.CONVERTS: StatusInfo(
            meaning="ran with no alert where the documented condition applies: "
            "a deterministic implementation is used",
            colour=("#c8f0d8", "#0b6b3a", "#17b26a"),
            style="green",
            observed=True,
            failed=False,
            ran=True,
            repeats=True,
        ),
        Status.OK: StatusInfo(
            meaning="ran with no alert where no documented condition covers it "
            "(another device, or an entry the docs do not list)",
            colour=("#eaf7ef", "#2f7a4e", "#9ad8b4"),
            style="dim green",
            observed=True,
            failed=False,
            ran=True,
            repeats=True,
        ),
        Status.SKIPPED: StatusInfo(
            meaning="not run: the device is absent or this torch lacks the op",
            colour=("#f2f4f7", "#7a8494", "#c3c9d3"),
            style="dim",
            observed=False,
            failed=False,
            ran=False,
            repeats=False,
        ),
        Status.ERROR: StatusInfo(
            meaning="failed with an exception other than the determinism alert",
            colour=("#ece4ff", "#5b2fc0", "#9b7bf5"),
            style="magenta",
            observed=False,
            failed=True,
            ran=False,
            repeats=False,
        ),
        Status.CRASHED: StatusInfo(
            meaning="the probe killed its worker process (segfault, abort, CUDA fatal error)",
            colour=("#6d3fd6", "#ffffff", "#6d3fd6"),
            style="bold magenta",
            observed=False,
            failed=True,
            ran=False,
            repeats=False,
        ),
        Status.TIMEOUT: StatusInfo(
            meaning="the probe ran past --timeout seconds and its worker was killed",
            colour=("#ffe2cc", "#9c3408", "#f2792b"),
            style="bold magenta",
            observed=False,
            failed=True,
            ran=False,
            repeats=False,
        ),
    }
)


def clean_run_status(device: str, covered: Collection[str]) -> Status:
    """The status of a run with no alert and no error on ``device``.

    ``converts`` where the entry's condition covers the device (``covered``:
    the entry's devices; empty for an op no entry matches and for an
    ``observed`` entry, which no docs cover), else ``ok``. The
    audit's classification and the dynamic scan both decide with this.
    """
    return Status.CONVERTS if device in covered else Status.OK


def group_heading(group: str) -> str:
    """The title of a report's section for ``group``; a group this detaudit lacks shows as-is."""
    return Group(group).heading if group in GROUPS else group


_VERSION_RE = re.compile(r"^(\d+)\.(\d+)")


def parse_version(version: str) -> tuple[int, int]:
    """``"2.11.0+cu130"`` -> ``(2, 11)``: the docs are per minor release."""
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"not a torch version: {version!r}")
    return int(match.group(1)), int(match.group(2))


# A build before its release: 2.15.0a0+git1234 (a source build), 2.15.0.dev20260901 (a
# nightly), 2.15.0rc1, 2.15.0b1 (PEP 440 pre- and dev-releases; a local +cu130 is not one).
_PRE_RE = re.compile(r"^\d+\.\d+(\.\d+)*(a|b|rc|\.?dev)\d*", re.IGNORECASE)


def is_prerelease(version: str) -> bool:
    """Is ``version`` a build made before its release (``2.15.0a0``, a nightly, an rc)?"""
    return bool(_PRE_RE.match(version))


def docs_release(version: str) -> tuple[int, int]:
    """The minor release whose docs a torch ``version`` is compared with.

    A release reads its own docs: ``2.14.1`` -> ``(2, 14)``. A pre-release is built
    before its docs are final (``2.15.0a0`` may have none of 2.15's docstring changes
    yet, or some), so it is compared with the release before it: ``(2, 14)``. For
    ``X.0`` pre-releases that is every release of ``X-1`` (``(X-1, large)``).
    """
    major, minor = parse_version(version)
    if not is_prerelease(version):
        return major, minor
    return (major, minor - 1) if minor > 0 else (major - 1, 10**6)


def docs_label(version: str, docs: str) -> str:
    """How a report names the docs a ``version`` was compared with: ``"docs 2.14"``, or
    ``"pre-release of 2.15, compared with docs 2.14"`` for a pre-release."""
    if not is_prerelease(version):
        return f"docs {docs}"
    major, minor = parse_version(version)
    return f"pre-release of {major}.{minor}, compared with docs {docs}"
