"""One codec for records: frozen dataclasses to JSON-ready dicts and back, every field type checked.

The report schema and the worker protocol both use it, so it runs in probe
workers too: standard library only, and Python 3.9 (see :func:`_hints`).
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Union

from ..errors import ReportError

__all__ = ["KEY", "OMIT", "decode", "encode", "meta", "shown"]

#: Field metadata keys: the JSON key of a field (``pass_`` -> ``pass``), and when it is left out.
KEY = "json_key"
OMIT = "json_omit"

#: When a field is left out of the JSON: ``none`` when None, ``empty`` when empty (``()``,
#: ``""``, ``{}``), or ``without:NAME`` when the field NAME is None. Reports keep their old
#: shape where there is nothing to say.
_OMIT_RULES = ("none", "empty")


def meta(*, key: str | None = None, omit: str | None = None) -> dict[str, str]:
    """The metadata of a field for this codec (``field(default=None, metadata=meta(...))``)."""
    if omit is not None and omit not in _OMIT_RULES and not omit.startswith("without:"):
        raise ValueError(f"unknown omission rule {omit!r}")
    return {k: v for k, v in ((KEY, key), (OMIT, omit)) if v is not None}


def shown(value: object) -> str:
    """A value as JSON text (``"1.5"``, ``true``, ``null``), cut short for one line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


# ----------------------------------------------------------------------------- encode


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _omitted(record: Any, f: dataclasses.Field, value: Any) -> bool:
    rule = f.metadata.get(OMIT)
    if rule == "none":
        return value is None
    if rule == "empty":
        return not value
    if rule is not None and rule.startswith("without:"):
        return getattr(record, rule.partition(":")[2]) is None
    return False


def encode(record: Any) -> dict[str, Any]:
    """``record`` as a JSON-ready dict: fields in order (by their JSON keys), enums as values.

    A class may add derived keys (``json_extra()``, ignored on decoding) and move
    keys to the front or the end (``JSON_FIRST``, ``JSON_LAST``: the order reports have).
    """
    data: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if not _omitted(record, f, value):
            data[f.metadata.get(KEY, f.name)] = _plain(value)
    extra = getattr(record, "json_extra", None)
    if extra is not None:
        data.update(_plain(extra()))
    first = [k for k in getattr(record, "JSON_FIRST", ()) if k in data]
    last = [k for k in getattr(record, "JSON_LAST", ()) if k in data]
    if first or last:
        middle = [k for k in data if k not in first and k not in last]
        data = {k: data[k] for k in (*first, *middle, *last)}
    return data


# ----------------------------------------------------------------------------- decode

#: A check: (value, where) -> the decoded value, or a ReportError naming ``where``.
Check = Callable[[Any, str], Any]


def _bad(where: str, wanted: str, value: object) -> ReportError:
    return ReportError(f"{where}: expected {wanted}, got {shown(value)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: The scalars: (test, what a bad value should have been, the plural for lists of them).
_SCALARS: dict[Any, tuple[Callable[[Any], bool], str, str]] = {
    str: (lambda v: isinstance(v, str), "a string", "strings"),
    int: (_is_int, "a whole number", "whole numbers"),
    float: (_is_number, "a number", "numbers"),
    bool: (lambda v: isinstance(v, bool), "true or false", "true/false values"),
    type(None): (lambda v: v is None, "null", "nulls"),
}


def _describe(tp: Any, plural: bool = False) -> str:
    """What a value of type ``tp`` is, in words (``a string``; ``strings`` for a list's items)."""
    if tp in _SCALARS:
        _, one, many = _SCALARS[tp]
        return many if plural else one
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = ", ".join(str(w.value) for w in tp)
        return f"values among {values}" if plural else f"one of {values}"
    args = typing.get_args(tp)
    if _is_union(tp):
        return " or ".join(_describe(a, plural) for a in args)
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "lists" if plural else f"a list of {_describe(args[0], True)}"
    if origin in (dict, Mapping) or tp is dict:
        return "objects" if plural else f"an object of {_describe(args[1], True)}"
    return "values" if plural else "an object"


#: ``typing.Union`` and, from Python 3.10, what ``X | Y`` makes.
_UNIONS = (Union, getattr(types, "UnionType", Union))


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in _UNIONS


@cache
def _checker(tp: Any) -> Check:
    """The check of one annotation (resolved): scalars, enums, unions, lists, mappings, records."""
    if tp is Any or tp is object:
        return lambda v, where: v
    if tp in _SCALARS:
        test, wanted, _ = _SCALARS[tp]

        def scalar(v: Any, where: str) -> Any:
            if not test(v):
                raise _bad(where, wanted, v)
            return v

        return scalar
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = {w.value for w in tp}

        def word(v: Any, where: str) -> Any:
            if not isinstance(v, str) or v not in values:
                raise _bad(where, _describe(tp), v)
            return tp(v)

        return word
    if dataclasses.is_dataclass(tp):
        record = typing.cast(type, tp)
        return lambda v, where: decode(record, v, where)
    args = typing.get_args(tp)
    if _is_union(tp):
        nullable = type(None) in args
        kinds = [a for a in args if a is not type(None)]
        checks = [_checker(a) for a in kinds]

        def union(v: Any, where: str) -> Any:
            if v is None and nullable:
                return None
            if len(checks) == 1:  # ``Observation | None``: the one kind's own error, inside it
                return checks[0](v, where)
            for check in checks:
                try:
                    return check(v, where)
                except ReportError:
                    continue
            raise _bad(where, _describe(tp), v)

        return union
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        item = args[0]
        check = _checker(item)
        scalar_items = item in _SCALARS or (
            _is_union(item) and all(a in _SCALARS for a in typing.get_args(item))
        )

        def sequence(v: Any, where: str) -> Any:
            if not isinstance(v, (list, tuple)):
                raise _bad(where, _describe(tp) if scalar_items else "a list", v)
            if scalar_items:
                try:
                    return tuple(check(x, where) for x in v)
                except ReportError:
                    raise _bad(where, _describe(tp), v) from None
            return tuple(check(x, f"{where}[{i}]") for i, x in enumerate(v))

        return sequence
    if origin in (dict, Mapping):
        value_check = _checker(args[1]) if args else _checker(Any)

        def mapping(v: Any, where: str) -> Any:
            if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
                raise _bad(where, _describe(tp), v)
            try:
                return {k: value_check(x, f"{where}.{k}") for k, x in v.items()}
            except ReportError:
                raise _bad(where, _describe(tp), v) from None

        return mapping
    raise TypeError(f"the codec has no check for the annotation {tp!r}")


class _PEP604(ast.NodeTransformer):
    """``X | Y`` written as ``typing.Union[X, Y]``, which Python 3.9 evaluates."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.BitOr):
            return node
        union = ast.Attribute(ast.Name("typing", ast.Load()), "Union", ast.Load())
        pair = ast.Tuple([node.left, node.right], ast.Load())
        return ast.copy_location(ast.Subscript(union, pair, ast.Load()), node)


def _evaluate(annotation: str, namespace: dict[str, Any]) -> Any:
    """One string annotation evaluated with ``X | Y`` read as a union, on any Python."""
    tree = ast.fix_missing_locations(_PEP604().visit(ast.parse(annotation, mode="eval")))
    return eval(compile(tree, "<annotation>", "eval"), {**namespace, "typing": typing})


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of ``cls``'s fields.

    Every module writes ``X | None`` under ``from __future__ import annotations``;
    Python 3.9 (a worker's ``--python``) cannot evaluate that (a TypeError), so
    there each annotation is rewritten with ``typing.Union`` first.
    """
    try:
        return typing.get_type_hints(cls)
    except TypeError:
        pass  # ``str | None`` on Python 3.9: read below
    namespace = dict(vars(sys.modules[cls.__module__]))
    return {
        f.name: _evaluate(f.type, namespace) if isinstance(f.type, str) else f.type
        for f in dataclasses.fields(cls)
    }


@cache
def _fields(cls: type) -> tuple[tuple[dataclasses.Field, str, Check, bool], ...]:
    """Each field of ``cls``: the field, its JSON key, its check, whether it is required."""
    hints = _hints(cls)
    return tuple(
        (
            f,
            f.metadata.get(KEY, f.name),
            _checker(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def decode(cls: type, data: object, where: str = "") -> Any:
    """A ``cls`` record from ``data``, every field checked against its annotation.

    Unknown keys are ignored (a newer detaudit's report still loads); a missing
    required field or a value of the wrong type is a :class:`ReportError` naming
    ``where`` and the key (``results[3].seconds: expected a number, got "1.5"``).
    """
    if not isinstance(data, Mapping):
        raise _bad(where or "report", "an object", data)
    values = {}
    for f, key, check, required in _fields(cls):
        inner = f"{where}.{key}" if where else key
        if key not in data:
            if required:
                raise ReportError(f"{where + ': ' if where else ''}missing field {key!r}")
            continue
        values[f.name] = check(data[key], inner)
    return cls(**values)
