"""Bitwise comparison of two results: the first element where they differ, and its path.

torch and numpy are looked up in ``sys.modules``, never imported: if one is not
imported, no object can be one of its arrays.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from typing import Any

__all__ = ["first_difference"]


def first_difference(a: Any, b: Any, path: str = "result") -> str | None:
    """Where ``a`` and ``b`` first differ bit for bit, as ``"<path>: <what>"``; None if equal.

    Tensors and numpy arrays compare by dtype, shape, layout, device and then the
    bits of each element, so a NaN equals a NaN with the same bits and 0.0
    differs from -0.0. Dicts, lists, tuples, dataclasses and plain objects
    compare member by member (the path grows as ``['key']``, ``[3]``,
    ``.field``); floats by their bits; anything else with ``==``. Example:
    ``result['logits'][3]: tensor element [2, 5]: 0.1234 != 0.1235``.
    """
    return _diff(a, b, path, set())


def _diff(a: Any, b: Any, path: str, seen: set[tuple[int, int]]) -> str | None:
    if type(a) is not type(b):
        return f"{path}: type {type(a).__name__} != {type(b).__name__}"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        return _diff_tensor(a, b, path)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(a, (numpy.ndarray, numpy.generic)):
        return _diff_array(numpy.asarray(a), numpy.asarray(b), path, seen)
    if isinstance(a, (float, complex)):
        return _diff_float(a, b, path)
    if isinstance(a, (str, bytes, int, type(None))):  # int covers bool
        return None if a == b else f"{path}: {a!r} != {b!r}"
    if (id(a), id(b)) in seen:  # a cycle: this pair is already being compared
        return None
    seen.add((id(a), id(b)))
    if isinstance(a, dict):
        return _diff_dict(a, b, path, seen)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        return _first(_diff(x, y, f"{path}[{i}]", seen) for i, (x, y) in enumerate(zip(a, b)))
    if dataclasses.is_dataclass(a):
        return _first(
            _diff(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}", seen)
            for f in dataclasses.fields(a)
        )
    if type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__"):
        # No __eq__ of its own: two runs give two objects; compare what they hold.
        return _diff_dict(vars(a), vars(b), path, seen, attributes=True)
    try:
        equal = bool(a == b)
    except Exception:  # noqa: BLE001 - an == that raises: fall back to the repr
        equal = repr(a) == repr(b)
    return None if equal else f"{path}: {a!r} != {b!r}"


def _first(differences: Any) -> str | None:
    return next((d for d in differences if d is not None), None)


def _diff_dict(
    a: dict, b: dict, path: str, seen: set[tuple[int, int]], attributes: bool = False
) -> str | None:
    if a.keys() != b.keys():
        only_a = [k for k in a if k not in b]
        only_b = [k for k in b if k not in a]
        what = "attributes" if attributes else "keys"
        return f"{path}: {what} differ: only in the first {only_a!r}, only in the second {only_b!r}"
    return _first(
        _diff(a[k], b[k], f"{path}.{k}" if attributes else f"{path}[{k!r}]", seen) for k in a
    )


def _diff_float(a: complex, b: complex, path: str) -> str | None:
    fmt = "=dd" if isinstance(a, complex) else "=d"  # native order, as arrays hold them
    parts = (lambda z: (z.real, z.imag)) if isinstance(a, complex) else (lambda x: (x,))
    bits_a, bits_b = struct.pack(fmt, *parts(a)), struct.pack(fmt, *parts(b))
    if bits_a == bits_b:
        return None
    return f"{path}: {_values(repr(a), repr(b), bits_a, bits_b)}"


def _values(text_a: str, text_b: str, bits_a: bytes, bits_b: bytes) -> str:
    """``x != y``, with the bits (native byte order) when the two print alike (NaN payloads)."""
    if text_a != text_b:
        return f"{text_a} != {text_b}"
    width = 2 * len(bits_a)
    hex_a = f"{int.from_bytes(bits_a, sys.byteorder):0{width}x}"
    hex_b = f"{int.from_bytes(bits_b, sys.byteorder):0{width}x}"
    return f"{text_a} != {text_b} (bits 0x{hex_a} != 0x{hex_b})"


def _index(shape: tuple[int, ...], flat_index: int) -> list[int]:
    import numpy

    return [int(i) for i in numpy.unravel_index(flat_index, shape)]


def _element(kind: str, shape: tuple[int, ...], flat_index: int) -> str:
    return f"{kind} element {_index(shape, flat_index)}" if shape else kind


def _first_differing_row(rows_a: Any, rows_b: Any) -> int | None:
    """The first row (element) whose bytes differ, in two ``(n, itemsize)`` uint8 arrays."""
    differs = (rows_a != rows_b).any(axis=1)
    return int(differs.argmax()) if differs.any() else None


def _diff_tensor(a: Any, b: Any, path: str) -> str | None:
    for what, x, y in (
        ("dtype", a.dtype, b.dtype),
        ("shape", tuple(a.shape), tuple(b.shape)),
        ("layout", a.layout, b.layout),
        ("device", a.device, b.device),
    ):
        if x != y:
            return f"{path}: tensor {what} {x} != {y}"
    flat_a, flat_b = _flat(a), _flat(b)
    rows_a, rows_b = _rows(flat_a), _rows(flat_b)
    index = _first_differing_row(rows_a, rows_b)
    if index is None:
        return None
    values = _values(
        _scalar_text(flat_a[index]),
        _scalar_text(flat_b[index]),
        rows_a[index].tobytes(),
        rows_b[index].tobytes(),
    )
    return f"{path}: {_element('tensor', tuple(a.shape), index)}: {values}"


def _flat(t: Any) -> Any:
    """``t`` as a dense, contiguous, 1-D CPU tensor of the same dtype."""
    t = t.detach()
    if t.layout != sys.modules["torch"].strided:
        t = t.to_dense()
    if t.is_quantized:
        t = t.int_repr()
    return t.resolve_conj().resolve_neg().cpu().contiguous().reshape(-1)


def _rows(flat: Any) -> Any:
    torch = sys.modules["torch"]
    return flat.view(torch.uint8).numpy().reshape(flat.numel(), flat.element_size())


def _scalar_text(value: Any) -> str:
    """A 0-d tensor's value, printed as its own dtype's shortest round-trip form."""
    import numpy

    torch = sys.modules["torch"]
    item = value.item()
    if value.dtype == torch.float16:
        return str(numpy.float16(item))
    if value.dtype.is_floating_point and value.dtype != torch.float64:
        return str(numpy.float32(item))  # float32, and bfloat16/float8 exactly
    return repr(item)


def _diff_array(a: Any, b: Any, path: str, seen: set[tuple[int, int]]) -> str | None:
    import numpy

    for what, x, y in (("dtype", a.dtype, b.dtype), ("shape", a.shape, b.shape)):
        if x != y:
            return f"{path}: array {what} {x} != {y}"
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    if a.dtype.hasobject:
        for i, (x, y) in enumerate(zip(flat_a, flat_b)):
            index = ", ".join(map(str, _index(a.shape, i)))
            difference = _diff(x, y, f"{path}[{index}]", seen)
            if difference is not None:
                return difference
        return None
    rows_a = numpy.ascontiguousarray(flat_a).view(numpy.uint8).reshape(a.size, a.dtype.itemsize)
    rows_b = numpy.ascontiguousarray(flat_b).view(numpy.uint8).reshape(b.size, b.dtype.itemsize)
    index = _first_differing_row(rows_a, rows_b)
    if index is None:
        return None
    values = _values(
        str(flat_a[index]), str(flat_b[index]), rows_a[index].tobytes(), rows_b[index].tobytes()
    )
    return f"{path}: {_element('array', a.shape, index)}: {values}"
