"""Parse a ``match.signature`` (Python parameter text) into names and literal defaults.

Used by the static scanner to bind call arguments, and by the catalogue loader
to check the field's shape; it imports nothing of the package (no cycle).
"""

from __future__ import annotations

import ast

__all__ = ["signature_parameters"]


def signature_parameters(signature: str) -> list[tuple[str, bool, object]]:
    """``"index, source, accumulate=False"`` -> [(name, has_default, default), ...].

    Raises ValueError for text that is not a Python parameter list with literal defaults.
    """
    try:
        tree = ast.parse(f"def _({signature}): pass")
    except SyntaxError as exc:
        raise ValueError(f"not a Python parameter list ({exc.msg})") from None
    args = tree.body[0].args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [(a.arg, d is not None, d) for a, d in zip(positional, defaults)]
    params += [(a.arg, d is not None, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    result = []
    for name, has_default, node in params:
        try:
            value = ast.literal_eval(node) if node is not None else None
        except ValueError:
            raise ValueError(f"the default of {name!r} must be a literal") from None
        result.append((name, has_default, value))
    return result
