"""The one YAML loader of detaudit: safe, line-aware, and refusing a key given twice.

PyYAML's ``safe_load`` keeps the last of two equal keys silently, which hid the first
``read``/``not_read``/``alerts`` sections of ``catalog/known_gaps.yaml``; every detaudit YAML load
goes through :func:`load_yaml` so that a duplicate is an error naming its file, line and key.
"""

from __future__ import annotations

import yaml

from ..errors import CatalogError

__all__ = ["LineMapping", "StrictLoader", "load_yaml", "yaml_problem"]


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # C parser when built
    """A safe loader whose mappings remember their line and refuse duplicate keys."""


class LineMapping(dict):
    """A YAML mapping (a plain dict) that knows the 1-based line it starts on."""

    line = 0


def _construct_mapping(
    loader: StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> LineMapping:
    loader.flatten_mapping(node)
    mapping = LineMapping()
    mapping.line = node.start_mark.line + 1
    first: dict[object, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = key in first
        except TypeError:  # an unhashable key (a list): let PyYAML say so
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if seen:
            problem = f"duplicate key {key!r} (first at line {first[key]})"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        first[key] = key_node.start_mark.line + 1
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, name: str) -> object:
    """The data of the YAML ``text`` read from ``name``; a :class:`CatalogError` of one line
    (``NAME:LINE: YAML error: duplicate key 'read' (first at line 14)``) when it is not valid."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise CatalogError(yaml_problem(exc, name)) from None


def yaml_problem(exc: yaml.YAMLError, name: str) -> str:
    """One line for a YAML error: the file, the line where it is, and what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{name}:{mark.line + 1}" if mark is not None else name
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: YAML error: {problem}"
