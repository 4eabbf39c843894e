"""What changes from one build's census to another's: alert sites that appear and disappear.

A site is known by its alert name and its function (addresses move between builds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .census import Census, Site

__all__ = ["SitesDiff", "diff_censuses"]


def _key(site: Site) -> tuple[str, str]:
    return site.alert, site.function


@dataclass(frozen=True, slots=True)
class SitesDiff:
    """The sites and names only in ``new`` (appeared) or only in ``old`` (gone), and the cuBLAS check."""

    old: Census
    new: Census
    appeared: tuple[Site, ...]
    gone: tuple[Site, ...]
    names_appeared: tuple[str, ...]
    names_gone: tuple[str, ...]

    @property
    def cublas_change(self) -> str | None:
        """``"gone"``, ``"appeared"`` or None when the cuBLAS check is in both or neither."""
        old, new = bool(self.old.cublas_check), bool(self.new.cublas_check)
        if old == new:
            return None
        return "gone" if old else "appeared"

    @property
    def changed(self) -> bool:
        """True when a site appeared or went, or the cuBLAS check changed."""
        return bool(self.appeared or self.gone or self.cublas_change)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "old": {"torch": self.old.torch, "source": self.old.source,
                    "cublas_check": bool(self.old.cublas_check)},
            "new": {"torch": self.new.torch, "source": self.new.source,
                    "cublas_check": bool(self.new.cublas_check)},
            "cublas_check": self.cublas_change,
            "names_appeared": list(self.names_appeared),
            "names_gone": list(self.names_gone),
            "appeared": [s.to_dict() for s in self.appeared],
            "gone": [s.to_dict() for s in self.gone],
        }  # fmt: skip


def diff_censuses(old: Census, new: Census) -> SitesDiff:
    """The sites of ``new`` not in ``old`` and those of ``old`` not in ``new``."""
    old_keys = {_key(s) for s in old.sites}
    new_keys = {_key(s) for s in new.sites}

    def unique(sites, keys) -> tuple[Site, ...]:
        seen: dict[tuple[str, str], Site] = {}
        for site in sites:
            if _key(site) not in keys:
                seen.setdefault(_key(site), site)
        return tuple(sorted(seen.values(), key=_key))

    return SitesDiff(
        old=old,
        new=new,
        appeared=unique(new.sites, old_keys),
        gone=unique(old.sites, new_keys),
        names_appeared=tuple(sorted(set(new.names) - set(old.names))),
        names_gone=tuple(sorted(set(old.names) - set(new.names))),
    )
