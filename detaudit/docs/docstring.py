"""Parse the ``torch.use_deterministic_algorithms`` docstring into its two lists. Pure.

The docstring lists the ops that "will act deterministically when ``mode=True``"
(group ``converted``) and those that "will throw a :class:`RuntimeError`"
(group ``raises``), one reStructuredText bullet each:

    * :class:`torch.nn.Conv1d` when called on CUDA tensor
    * :func:`torch.nn.functional.interpolate` when attempting to differentiate a CUDA tensor
      and one of the following modes is used:

      - ``linear``
      - ``bilinear``

A bullet may wrap onto continuation lines and may carry sub-bullets (the
interpolate modes). A bullet may name several APIs under one condition
(2.15: "MaxPool2d, MaxPool3d, and AvgPool3d when attempting to differentiate
an MPS tensor"): each API is an item of its own. The cuBLAS paragraph of 1.10
to 2.9 ("a RuntimeError will be raised from these operations when called with
CUDA tensors" unless ``CUBLAS_WORKSPACE_CONFIG`` is set: ``torch.mm``, ``mv``,
``bmm``) is a third list, ``cublas``, of raises items under that condition
(:data:`CUBLAS_CONDITION`). Other bullet lists (Inductor's notes of 2.10+)
belong to no list. Formats seen: torch 1.10 to 2.15 (tests/data/docstrings).

Reading the installed torch's docstring (:func:`installed_docstring`) does not
import torch: the function's source is read with :mod:`ast`.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import EnvironmentUnsupported

__all__ = ["CUBLAS_CONDITION", "DocItem", "DocLists", "installed_docstring", "parse_docstring"]

# "The following normally-nondeterministic operations will act deterministically when ..."
# Found with str.find, not a regex: ``following\b.*\boperations ...`` backtracks
# quadratically on a paragraph of many "following" without the phrase
# (30,000 x "The following " took 171 s).
_FOLLOWING = "following"
_INTROS = (
    ("converted", "operations will act deterministically"),
    ("raises", "operations will throw"),
)
# "If one of these environment variable configurations is not set, a :class:`RuntimeError`
# will be raised from these operations when called with CUDA tensors:" (1.10 to 2.9)
_CUBLAS_INTRO = re.compile(r"RuntimeError`?\s+will be raised from these operations", re.DOTALL)
#: The condition of the cuBLAS paragraph's items, in the paragraph's words.
CUBLAS_CONDITION = (
    "when called with CUDA tensors (CUDA 10.2 or greater) unless the environment variable "
    "CUBLAS_WORKSPACE_CONFIG=:4096:8 or CUBLAS_WORKSPACE_CONFIG=:16:8 is set"
)
_BULLET = re.compile(r"^(\s*)\* (.*)$")
_SUB_BULLET = re.compile(r"^\s*- (.*)$")
# :class:`torch.nn.Conv1d`, :func:`torch.bmm`, :meth:`...`, or a bare `torch.x`
_API = re.compile(r"^(?::\w+:)?`+~?([\w.]+)`+\s*(.*)$", re.DOTALL)
# ", :func:`torch.nn.MaxPool3d`" / ", and :func:`...`" / " and :func:`...`": one more API
_MORE_API = re.compile(r"^(?:,\s*(?:and\s+)?|and\s+)(?::\w+:)?`+~?([\w.]+)`+\s*(.*)$", re.DOTALL)
_LITERAL = re.compile(r"`+([^`]*)`+")


@dataclass(frozen=True, slots=True)
class DocItem:
    """One bullet of one list: an API under a condition, in plain text."""

    api: str
    condition: str
    group: str
    options: tuple[str, ...] = ()  # sub-bullets, e.g. interpolate's modes
    bullet: str = ""  # the whole bullet in plain text (several APIs where it names several)
    line: int = 0  # the bullet's first line in the docstring text, from 1

    def expand(self) -> tuple[DocItem, ...]:
        """One item per sub-bullet (``"... modes is used: linear"``), or the item itself."""
        if not self.options:
            return (self,)
        return tuple(
            replace(self, condition=f"{self.condition} {option}".strip(), options=())
            for option in self.options
        )

    def to_dict(self) -> dict[str, object]:
        """The item as JSON."""
        return {
            "api": self.api,
            "condition": self.condition,
            "group": self.group,
            "options": list(self.options),
            "bullet": self.bullet,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class DocLists:
    """The docstring's two lists, in docstring order, and its cuBLAS list (raises items)."""

    converted: tuple[DocItem, ...]
    raises: tuple[DocItem, ...]
    cublas: tuple[DocItem, ...] = ()  # the cuBLAS paragraph's ops (1.10 to 2.9), group raises

    @property
    def items(self) -> tuple[DocItem, ...]:
        """Every list, converted first, the cuBLAS list last."""
        return self.converted + self.raises + self.cublas

    def bullets(self, group: str) -> int:
        """How many bullets one list has (a bullet naming several APIs counts once)."""
        return len({item.line for item in getattr(self, group)})

    def expanded(self) -> tuple[DocItem, ...]:
        """Both lists with every sub-bullet as its own item (one per catalogue condition)."""
        return tuple(part for item in self.items for part in item.expand())


def plain(text: str) -> str:
    """Drop reStructuredText markup (roles, literals) and collapse whitespace."""
    text = re.sub(r":\w+:(?=`)", "", text)
    text = _LITERAL.sub(r"\1", text)
    return " ".join(text.split())


def _word_char(text: str, index: int) -> bool:
    """Whether ``text[index]`` exists and is a word character (as regex ``\\w``)."""
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _introduces(paragraph: str, phrase: str) -> bool:
    """Whether "following" (ending a word) comes before ``phrase`` (starting one) in ``paragraph``.

    Linear: one scan for the first such "following", then one for the phrase after it.
    """
    at = paragraph.find(_FOLLOWING)
    while at != -1 and _word_char(paragraph, at + len(_FOLLOWING)):
        at = paragraph.find(_FOLLOWING, at + 1)
    if at == -1:
        return False
    at = paragraph.find(phrase, at + len(_FOLLOWING))
    while at != -1 and _word_char(paragraph, at - 1):
        at = paragraph.find(phrase, at + 1)
    return at != -1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line numbers of each run of non-blank lines."""
    spans, start = [], None
    for number, line in enumerate(lines):
        if line.strip() and start is None:
            start = number
        elif not line.strip() and start is not None:
            spans.append((start, number - 1))
            start = None
    if start is not None:
        spans.append((start, len(lines) - 1))
    return spans


def _bullets(lines: list[str], start: int, floor: int) -> list[tuple[str, list[str], int]]:
    """The bullets from line ``start`` on, until a line indented at most ``floor``.

    Returns (bullet text with its continuation lines, sub-bullets, line from 1) triples.
    """
    bullets: list[tuple[list[str], list[str], int]] = []
    bullet_indent = None
    for number, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        if _indent(line) <= floor:
            break
        bullet = _BULLET.match(line)
        if bullet and (bullet_indent is None or len(bullet.group(1)) == bullet_indent):
            bullet_indent = len(bullet.group(1))
            bullets.append(([bullet.group(2)], [], number))
            continue
        if not bullets:
            break  # the intro is not followed by a list
        sub = _SUB_BULLET.match(line)
        if sub:
            bullets[-1][1].append(sub.group(1))
        elif bullets[-1][1]:
            bullets[-1][1][-1] += " " + line.strip()  # a wrapped sub-bullet
        else:
            bullets[-1][0].append(line.strip())
    return [(" ".join(text), subs, number) for text, subs, number in bullets]


def _items(text: str, subs: list[str], group: str, line: int) -> list[DocItem]:
    """One item per API the bullet names, each under the bullet's condition."""
    match = _API.match(text.strip())
    if match:
        apis, rest = [match.group(1)], match.group(2)
        while more := _MORE_API.match(rest):
            apis.append(more.group(1))
            rest = more.group(2)
    else:  # no markup: the first word names the API
        api, _, rest = text.strip().partition(" ")
        apis = [api]
    return [
        DocItem(
            api=api.strip("`"),
            condition=plain(rest),
            group=group,
            options=tuple(plain(s) for s in subs),
            bullet=plain(text),
            line=line,
        )
        for api in apis
    ]


def parse_docstring(text: str) -> DocLists:
    """Parse a ``use_deterministic_algorithms`` docstring into its two lists.

    A list is the bullets after the paragraph that introduces it. A docstring
    without one of the two intros gives an empty list for it.
    """
    lines = text.expandtabs().splitlines()
    found: dict[str, tuple[DocItem, ...]] = {"converted": (), "raises": (), "cublas": ()}
    for first, last in _paragraphs(lines):
        paragraph = " ".join(line.strip() for line in lines[first : last + 1])
        floor = _indent(lines[first])
        for group, phrase in _INTROS:
            if not found[group] and _introduces(paragraph, phrase):
                found[group] = tuple(
                    item
                    for text, subs, line in _bullets(lines, last + 1, floor)
                    for item in _items(text, subs, group, line)
                )
        if _CUBLAS_INTRO.search(paragraph) and not found["cublas"]:
            found["cublas"] = tuple(
                replace(item, condition=CUBLAS_CONDITION)
                for text, subs, line in _bullets(lines, last + 1, floor)
                for item in _items(text, subs, "raises", line)
            )
    return DocLists(converted=found["converted"], raises=found["raises"], cublas=found["cublas"])


def installed_docstring() -> tuple[str, str, str]:
    """``(torch version, docstring, source file)`` of the torch this interpreter would import.

    Read from ``torch/__init__.py`` with :mod:`ast`, without importing torch.
    Raises :class:`~detaudit.errors.EnvironmentUnsupported` when torch is not
    installed or its ``__init__.py`` defines no ``use_deterministic_algorithms``.
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        raise EnvironmentUnsupported("torch is not installed here; give --docstring FILE")
    source = Path(spec.origin)
    tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "use_deterministic_algorithms":
            doc = ast.get_docstring(node, clean=False)
            if doc:
                return importlib.metadata.version("torch"), doc, str(source)
    raise EnvironmentUnsupported(
        f"{source}: no use_deterministic_algorithms docstring found; give --docstring FILE"
    )
