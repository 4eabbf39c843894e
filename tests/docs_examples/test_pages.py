"""The README stays one screen per job, and its links land on pages that exist."""

from __future__ import annotations

import re

from .checker import ROOT

#: Pages other branches write (named in mkdocs.yml's nav as commented lines until they merge).
ELSEWHERE = {
    "docs/how-to/debug-two-runs.md",
    "docs/reference/trace-format.md",
    "docs/how-to/find-ops-in-your-code.md",
    "docs/explanation/matching.md",
}


def test_the_readme_is_at_most_150_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, len(lines)


def test_the_readmes_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local, "no links found: the pattern is wrong"
    missing = [t for t in local if not (ROOT / t).exists() and t not in ELSEWHERE]
    assert missing == []


def test_the_pages_of_other_branches_are_in_the_nav_commented_or_not():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in ELSEWHERE:
        assert page.removeprefix("docs/") in nav, page
