"""The static scan: calls of catalogued APIs in Python source, found with ``ast``, never run.

The patterns come from the catalogue: each entry's ``api`` says what a call
looks like (``torch.nn.X(...)``; ``torch.f(x, ...)`` or ``x.f(...)``;
``x.m(...)``/``x.m_(...)`` for a ``torch.Tensor.m``), and its optional
``match.signature``/``match.call`` say which literal arguments select it
(``mode='bilinear'``, ``accumulate=False``, ``weights=`` given). Imports are
resolved (``import torch.nn.functional as F``, ``from torch import nn``,
``from torch.nn import AdaptiveAvgPool2d``), flow-insensitively per file.

Speed: a match needs a catalogued name (the last part of a dotted api, or a
tensor method) in the source, followed by ``(`` (the call) or by ``as`` (an
import that renames it), with only blanks, comments or line continuations
between. One regex over a file's bytes (the names as a trie) looks for that,
and a file without it is not parsed at all (so a syntax error there is not
reported either). Of a file of 200 lines or more, only the top-level blocks
that hold such a line, and the imports, are parsed, each alone; a block that
does not parse alone, or an answer that needs a module-level name bound in a
block left out, sends the file to a whole parse. Only the statements on those
lines are walked. ``Scanner(prefilter=False)`` parses every file and walks
every statement; the tests check that both find the same.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..catalog import Catalog, Condition, Entry, load_catalog
from ..catalog.signature import signature_parameters
from ..errors import UsageError
from ..model.vocabulary import Claim
from .records import Skipped, StaticFinding, StaticResult

__all__ = ["Pattern", "Scanner", "patterns", "python_files", "scan_static"]

_IMPORT_LINE = re.compile(rb"^[ \t]*(?:from|import)[ \t]", re.MULTILINE)
# After a name, what a call or an import alias needs: blanks, comments, continuations, `(`/`as`.
_CALL_OR_ALIAS = rb"(?:[ \t\f\r\n\\]|#[^\n]*)*(?:\(|as\b)"
_Param = tuple[str, bool, object]
#: Condition values only a runtime object has (trace.feature's words): no literal is one.
_RUNTIME = frozenset(("tensor", "tensors"))
#: Context managers and decorators under which no autograd graph is built.
_NO_GRAD = frozenset(
    (
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
    )
)


@dataclass(frozen=True, slots=True)
class Pattern:
    """What calls of one form of an entry look like, and which arguments select the entry."""

    entry: Entry
    qualified: frozenset[str]  # dotted names a call may resolve to: torch.nn.functional.interpolate
    methods: frozenset[str] = frozenset()  # x.NAME(...) forms, for tensor ops
    function_params: tuple[_Param, ...] | None = None  # parameters of the qualified form
    method_params: tuple[_Param, ...] | None = None  # parameters after the receiver
    call: tuple[tuple[str, Condition], ...] = ()
    needs_tensor: frozenset[str] = frozenset()  # methods matched only on a known tensor
    min_rank: int | None = None  # the input's rank the code must show (static.min_rank)
    module: bool = False  # a class form (torch.nn.X): the input is given where it is called


def _form(
    entry: Entry, api: str, signature: str, call: tuple[tuple[str, Condition], ...]
) -> Pattern | None:
    """The pattern for one call form of ``entry``; None for an operator (``x[i]``)."""
    parts = api.split(".")
    leaf = parts[-1]
    if leaf.startswith("__"):
        return None
    params = tuple(signature_parameters(signature)) if signature else None
    if parts[0] == "torch" and (len(parts) == 2 or (len(parts) == 3 and parts[1] == "Tensor")):
        # a tensor op: torch.f(x, ...), torch.Tensor.f(x, ...) and x.f(...), in- or out-of-place
        base = leaf.removesuffix("_")
        names = frozenset((base, f"{base}_"))
        qualified = frozenset(f"torch.{p}{n}" for p in ("", "Tensor.") for n in names)
        method = parts[1] == "Tensor"
        self_param: tuple[_Param, ...] = (("self", False, None),)
        needs = entry.static.needs_tensor if entry.static is not None else ()
        return Pattern(
            entry,
            qualified,
            names,
            function_params=(self_param + params if method else params) if params else None,
            method_params=(params if method else params[1:]) if params else None,
            call=call,
            needs_tensor=frozenset(needs) & names,
            min_rank=entry.static.min_rank if entry.static is not None else None,
        )
    return Pattern(
        entry,
        frozenset((api,)),
        function_params=params,
        call=call,
        min_rank=entry.static.min_rank if entry.static is not None else None,
        module=leaf[:1].isupper(),
    )


def _patterns(entry: Entry) -> list[Pattern]:
    """The patterns of ``entry``: its ``api`` with ``match``, then each of its ``static`` forms."""
    match = entry.match
    found = [_form(entry, entry.api, match.signature if match else "", match.call if match else ())]
    if entry.static is not None:
        found += [_form(entry, f.api, f.signature, f.call) for f in entry.static.forms]
    return [p for p in found if p is not None]


def patterns(catalog: Catalog) -> list[Pattern]:
    """The patterns of every statically recognisable entry, in catalogue order.

    A ``silent`` entry (PyTorch's tests assert it never alerts) is no finding.
    """
    return [p for e in catalog if not e.silent for p in _patterns(e)]


def _value(expr: ast.expr) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _check(call: ast.Call, params: Sequence[_Param] | None, conditions) -> tuple[bool, list[str]]:
    """(could match, names of conditions whose argument is not a literal)."""
    if not conditions:
        return True, []
    if params is None:
        return True, [name for name, _ in conditions]
    given: dict[str, ast.expr] = {}
    opaque = any(isinstance(a, ast.Starred) for a in call.args)
    for (name, _, _), arg in zip(params, call.args):
        if isinstance(arg, ast.Starred):
            break
        given[name] = arg
    for keyword in call.keywords:
        if keyword.arg is None:
            opaque = True
        else:
            given[keyword.arg] = keyword.value
    defaults = {name: (has, default) for name, has, default in params}
    unchecked = []
    for name, condition in conditions:
        if name in given:
            known, value = _value(given[name])
            if condition.values and all(v in _RUNTIME for v in condition.values):
                # `src: tensor`: a literal never is one (scatter_(1, i, 1) is the value
                # overload); any other expression may be, and it reads as the call's own
                if known:
                    return False, []
                continue
            if condition.given is not None:
                if known and not condition.test(value, True):
                    return False, []
            elif not known:
                unchecked.append(name)
            elif not condition.test(value, True):
                return False, []
        elif opaque:
            unchecked.append(name)
        else:
            has, default = defaults.get(name, (False, None))
            if not condition.test(default, has):
                return False, []
    return True, unchecked


@dataclass
class _Index:
    qualified: dict[str, list[Pattern]] = field(default_factory=dict)
    methods: dict[str, list[Pattern]] = field(default_factory=dict)


class Scanner:
    """Scan source files for the catalogue's patterns; reusable across files."""

    def __init__(
        self, catalog: Catalog, torch_version: str | None = None, *, prefilter: bool = True
    ) -> None:
        self.catalog = catalog
        self.prefilter = prefilter  # False: parse every file and walk every statement
        self.patterns = patterns(catalog)
        self._index = _Index()
        leaves: set[str] = set()
        for pattern in self.patterns:
            for name in pattern.qualified:
                self._index.qualified.setdefault(name, []).append(pattern)
                leaves.add(name.rpartition(".")[2])
            for name in pattern.methods:
                candidates = self._index.methods.setdefault(name, [])
                if pattern not in candidates:
                    candidates.append(pattern)
                leaves.add(name)
        self._gate = _word_regex(leaves, _CALL_OR_ALIAS)
        if torch_version is None:
            try:
                torch_version = metadata.version("torch")
            except metadata.PackageNotFoundError:
                torch_version = catalog.docs_versions[-1] if catalog.docs_versions else "0.0"
        self.torch_version = torch_version

    def scan_file(self, path: str | Path) -> tuple[list[StaticFinding], Skipped | None]:
        """The findings in one file, or why it was skipped (unreadable, does not parse)."""
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return [], Skipped(name, 0, 0, f"cannot read: {exc.strerror or exc}")
        return self.scan_source(data, name)

    def scan_source(
        self, data: bytes | str, name: str, *, whole: bool = False
    ) -> tuple[list[StaticFinding], Skipped | None]:
        """The findings in one source text (``name`` is how findings name the file).

        ``whole``: parse the whole file even where the prefilter would parse only the
        top-level blocks that name a catalogued call.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        lines: list[int] | None = None
        if self.prefilter:
            # No call of a catalogued name, no import renaming one: nothing can match, so skip
            # the parse, which is most of the cost (nine files in ten of torch's own).
            # One pass finds both: the lines on which a catalogued name is called (or renamed
            # on import) are the only ones whose statements can hold a finding.
            lines = _lines(data, self._gate)
            if not lines:
                return [], None
        tree: ast.Module | None = None
        covered: list[tuple[int, int]] = []
        if lines is not None:
            lines = sorted(set(lines) | set(_lines(data, _IMPORT_LINE)))
            if not whole:
                tree, covered = _parse_chunks(data, name, lines)
        if tree is None:
            try:
                tree = ast.parse(data, name)
            except SyntaxError as exc:
                line, col = exc.lineno or 0, exc.offset or 0
                return [], Skipped(name, line, col, f"does not parse: {exc.msg}")
            except (ValueError, RecursionError, MemoryError) as exc:
                return [], Skipped(name, 0, 0, f"does not parse: {exc}")
            covered = []
        if lines is None:
            calls, imports = _walk(tree, None)
            aliases = _aliases(imports)
        else:
            calls, imports = _walk(tree, lines)
            aliases = _aliases(imports)
            extra = {
                local
                for local, target in aliases.items()
                if target in self._index.qualified and local != target.rpartition(".")[2]
            }
            if extra:  # `from torch.nn.functional import interpolate as up`: find `up(` lines
                more = sorted(set(_lines(data, _word_regex(extra))) - set(lines))
                if more and covered and not all(any(a <= m <= b for a, b in covered) for m in more):
                    return self.scan_source(data, name, whole=True)  # `up(` in a block not parsed
                if more:
                    calls += _walk(tree, more)[0]
        findings = []
        tensors = _Tensors(tree, aliases, data, partial=bool(covered))
        try:
            for call in sorted(
                set(calls), key=lambda c: (c.lineno, c.col_offset, c.end_lineno, c.end_col_offset)
            ):
                findings += self._match(call, aliases, name, tensors)
        except _Partial:  # a loss module called in a block not parsed: parse it all
            return self.scan_source(data, name, whole=True)
        return findings, None

    def _match(
        self, call: ast.Call, aliases: dict[str, str], name: str, tensors: _Tensors
    ) -> list[StaticFinding]:
        func = call.func
        target = _resolve(func, aliases)
        if target in self._index.qualified:
            candidates, method = self._index.qualified[target], False
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in self._index.methods
            and _resolve(func.value, aliases) is None  # np.median, asyncio.gather: not a tensor
        ):
            candidates, method = self._index.methods[func.attr], True
        else:
            return []
        entries: dict[str, Entry] = {}
        unchecked: list[str] = []
        for pattern in candidates:
            if pattern.entry.id in entries:
                continue
            if method and func.attr in pattern.needs_tensor and not tensors.known(call):
                continue  # queue.put(x), img.resize(size): everyday Python, not a tensor
            if pattern.entry.pass_ == "backward" and tensors.no_grad(call):
                continue  # under no_grad/inference_mode nothing is differentiated
            if pattern.min_rank and not tensors.shows_rank(call, pattern):
                continue  # F.cross_entropy(logits, y): 2-D unless the code shows more
            params = pattern.method_params if method else pattern.function_params
            ok, names = _check(call, params, pattern.call)
            if ok:
                entries[pattern.entry.id] = pattern.entry
                unchecked += [n for n in names if n not in unchecked]
        if not entries:
            return []
        claims = {
            i: e.claim_for(self.torch_version, self.catalog.docs_versions)
            for i, e in entries.items()
        }
        # The finding speaks for the first entry that raises, else the first the docs of this
        # torch list, else the first: one call, one line.
        listed = next((i for i, (c, _) in claims.items() if c is not None), next(iter(entries)))
        first = next((i for i, (c, _) in claims.items() if c == Claim.RAISES), listed)
        entry = entries[first]
        claim, basis = claims[first]
        return [
            StaticFinding(
                file=name,
                line=call.lineno,
                col=call.col_offset + 1,
                entry=entry.id,
                api=entry.api,
                group=entry.group,
                claim=claim,
                claim_from=basis,
                condition=entry.condition,
                unchecked=tuple(unchecked),
                entries=(first, *(i for i in entries if i != first)),
            )
        ]


#: torch.X calls that return no tensor (X directly under torch, lowercase).
_NOT_TENSORS = frozenset(
    (
        "device",
        "dtype",
        "finfo",
        "iinfo",
        "no_grad",
        "enable_grad",
        "inference_mode",
        "set_grad_enabled",
        "load",
        "compile",
        "get_default_dtype",
        "manual_seed",
        "is_tensor",
        "numel",
        "typename",
        "is_grad_enabled",
        "set_default_dtype",
        "use_deterministic_algorithms",
    )
)
#: Modules whose functions return tensors: torch.nn.functional.relu(x), torch.linalg.norm(x).
_TENSOR_MODULES = frozenset(
    ("torch", "torch.nn.functional", "torch.linalg", "torch.fft", "torch.special")
)
#: Tensor methods that return no tensor.
_NOT_TENSOR_METHODS = frozenset(("item", "tolist", "numpy", "size", "dim", "numel", "data_ptr"))
#: Methods that return a tensor of the receiver's rank.
_SAME_RANK = frozenset(
    (
        "contiguous",
        "float",
        "double",
        "half",
        "bfloat16",
        "to",
        "cuda",
        "cpu",
        "detach",
        "clone",
        "log_softmax",
        "softmax",
        "type_as",
        "relu",
        "sigmoid",
        "requires_grad_",
    )
)
#: Factories whose positional ints (or one tuple) are the sizes; randint's come third.
_FACTORIES = frozenset(("randn", "rand", "zeros", "ones", "empty", "full", "randint"))


class _Partial(Exception):
    """The answer needs blocks of the file that the partial parse left out."""


_GRAD_WORDS = re.compile(rb"no_grad|inference_mode|set_grad_enabled")


def _statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement of ``tree``, nested ones too, without visiting expressions."""
    stack: list[ast.stmt] = list(getattr(tree, "body", ()))
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody"):
            stack.extend(getattr(node, name, ()))
        for handler in getattr(node, "handlers", ()):
            stack.extend(handler.body)
        for case in getattr(node, "cases", ()):
            stack.extend(case.body)


def _dims(args: Sequence[ast.expr]) -> int | None:
    """How many sizes ``view(a, b, c)`` / ``view((a, b, c))`` gives; None when it can't tell."""
    if any(isinstance(a, ast.Starred) for a in args):
        return None
    if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
        inner = args[0].elts
        return None if any(isinstance(a, ast.Starred) for a in inner) else len(inner)
    if len(args) == 1 and not isinstance(args[0], ast.Constant):
        return None  # view(shape): a variable
    return len(args)


class _Tensors:
    """What a file's code shows about a call, worked out for the file only when first asked.

    Tensors: a receiver counts as a tensor when it comes, in the same function (or at
    module level), from a tensor factory or function (``torch.zeros(3)``, ``F.relu(x)``;
    not any ``torch.`` name: ``torch.multiprocessing.Queue()`` is none), a method of a
    known tensor, a parameter annotated ``Tensor``, or a module call (``self.conv(x)``,
    a name bound to ``nn.X(...)``); or when it is itself such a call.

    Grad mode: a call in the body of ``with torch.no_grad()``/``inference_mode()`` or in a
    function decorated with them builds no graph (no backward op runs for it).

    Rank: the input of a call shows its rank through ``.view``/``.reshape``/``.permute``
    sizes or a factory's literal sizes, directly or through a name bound to one.
    """

    def __init__(
        self,
        tree: ast.AST,
        aliases: dict[str, str],
        data: bytes = b"no_grad",
        partial: bool = False,
    ) -> None:
        self._tree = tree
        self._partial = partial  # the tree holds only some top-level blocks of the file
        self._aliases = aliases
        # a file that names no grad-mode switch has no no_grad body to look for
        self._grad_words = _GRAD_WORDS.search(data) is not None
        self._scope: dict[int, frozenset[str]] | None = None
        self._functions: list[tuple[int, int, ast.AST]] = []
        self._classes: list[tuple[int, int, ast.AST]] = []
        self._visited: set[int] = set()
        self._values: dict[int, dict[str, list[ast.expr]]] = {}
        self._no_grad: list[tuple[int, int]] | None = None
        self._uses: dict[str, list[ast.Call]] | None = None
        self._bound: dict[int, list[str]] = {}
        self._outer: dict[int, ast.Call] = {}

    # ------------------------------------------------------------------ tensors

    def _resolved(self, expr: ast.expr | None) -> str | None:
        return _resolve(expr, self._aliases) if expr is not None else None

    def _factory(self, expr: ast.expr | None) -> bool:
        """Does calling ``expr`` return a tensor: a torch function, or an nn module's call?"""
        target = self._resolved(expr)
        if target is None:
            return False
        module, _, name = target.rpartition(".")
        if module in _TENSOR_MODULES and name[:1].islower() and name not in _NOT_TENSORS:
            return True
        return module == "torch.Tensor"

    def _annotated(self, expr: ast.expr | None) -> bool:
        target = self._resolved(expr)
        return target in ("torch.Tensor", "torch.FloatTensor", "torch.LongTensor")

    def _tensor_value(self, value: ast.expr, names: set[str], modules: set[str]) -> bool:
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        if self._factory(func):
            return True
        if isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id == "self":
                return True  # self.layer(x): a submodule's call
            if isinstance(base, ast.Name) and base.id in names:
                return func.attr not in _NOT_TENSOR_METHODS  # x.float(): a known tensor's
            if isinstance(base, ast.Call) and self._tensor_value(base, names, modules):
                return True
        return isinstance(func, ast.Name) and func.id in modules

    def known(self, call: ast.Call) -> bool:
        """Is the receiver of the method call ``call`` known to be a tensor?"""
        receiver = call.func.value  # type: ignore[attr-defined]
        if isinstance(receiver, ast.Call):
            return self._tensor_value(receiver, set(), set())
        if not isinstance(receiver, ast.Name):
            return False
        self._ensure(call)
        known = receiver.id in self._scope.get(id(call), frozenset())  # type: ignore[union-attr]
        if not known and self._partial and not self._inside(call.lineno, self._functions):
            raise _Partial  # a module-level name may be bound in a block not parsed
        return known

    def _index(self) -> None:
        """(start, end, node) of every function and class, found by statements only."""
        if self._scope is not None:
            return
        self._scope = {}
        for node in _statements(self._tree):
            span = (node.lineno, node.end_lineno or node.lineno, node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._functions.append(span)
            elif isinstance(node, ast.ClassDef):
                self._classes.append(span)

    @staticmethod
    def _inside(line: int, spans: list[tuple[int, int, ast.AST]]) -> tuple[int, int] | None:
        """The innermost of ``spans`` that holds ``line``, as (start, end); None if none."""
        inner = [(a, b) for a, b, _ in spans if a <= line <= b]
        return max(inner) if inner else None

    def _ensure(self, call: ast.Call) -> None:
        """Work out the scope of ``call``'s innermost function (or the module), once."""
        self._index()
        if id(call) in self._scope:  # type: ignore[operator]
            return
        inner = [f for f in self._functions if f[0] <= call.lineno <= f[1]]
        scope = max(inner, key=lambda f: f[0])[2] if inner else self._tree
        if id(scope) in self._visited:
            self._scope[id(call)] = frozenset()  # a call the walk of its scope did not reach
            return
        self._visited.add(id(scope))
        self._visit(scope)
        self._scope.setdefault(id(call), frozenset())

    def _visit(self, scope: ast.AST) -> None:
        names: set[str] = set()
        modules: set[str] = set()  # names bound to nn.X(...): calling them gives a tensor
        assigns: list[tuple[list[str], ast.expr]] = []
        calls: list[ast.Call] = []
        values: dict[str, list[ast.expr]] = {}
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = scope.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                if self._annotated(arg.annotation):
                    names.add(arg.arg)
        stack = list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # a scope of its own, worked out when one of its calls asks
            if isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assigns.append((targets, node.value))
                for target in targets:
                    values.setdefault(target, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    assigns.append(([node.target.id], node.value))
                    values.setdefault(node.target.id, []).append(node.value)
                if self._annotated(node.annotation):
                    names.add(node.target.id)
            if isinstance(node, ast.Call):
                calls.append(node)
            stack.extend(ast.iter_child_nodes(node))
        for targets, value in assigns:
            target = self._resolved(value.func) if isinstance(value, ast.Call) else None
            if (
                target is not None
                and target.startswith("torch.nn.")
                and target.rpartition(".")[2][:1].isupper()
            ):
                modules.update(targets)
        changed = True
        while changed:  # y = x.float() after x = torch.zeros(3): flow-insensitive, to a fixpoint
            changed = False
            for targets, value in assigns:
                if set(targets) - names and self._tensor_value(value, names, modules):
                    names.update(targets)
                    changed = True
        known = frozenset(names)
        for call in calls:
            self._scope[id(call)] = known  # type: ignore[index]
            self._values[id(call)] = values

    # ------------------------------------------------------------------ grad mode

    def _grad_off(self, expr: ast.expr) -> bool:
        """Is ``expr`` (a with item or a decorator) torch.no_grad()/inference_mode()?"""
        if isinstance(expr, ast.Call):
            if self._resolved(expr.func) == "torch.set_grad_enabled":
                return (
                    bool(expr.args)
                    and isinstance(expr.args[0], ast.Constant)
                    and expr.args[0].value is False
                )
            if self._resolved(expr.func) in (
                "torch.inference_mode",
                "torch.autograd.inference_mode",
            ):
                # inference_mode(False) turns it off again
                return not (
                    expr.args
                    and isinstance(expr.args[0], ast.Constant)
                    and expr.args[0].value is False
                )
            expr = expr.func
        return self._resolved(expr) in _NO_GRAD

    def no_grad(self, call: ast.Call) -> bool:
        """Is ``call`` inside a no_grad/inference_mode body or a function decorated so?"""
        if self._no_grad is None:
            spans = []
            for node in _statements(self._tree) if self._grad_words else ():
                if isinstance(node, (ast.With, ast.AsyncWith)):
                    off = any(self._grad_off(item.context_expr) for item in node.items)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    off = any(self._grad_off(d) for d in node.decorator_list)
                else:
                    continue
                if off:
                    spans.append((node.body[0].lineno, node.end_lineno or node.lineno))
            self._no_grad = spans
        return any(start <= call.lineno <= end for start, end in self._no_grad)

    # ------------------------------------------------------------------ rank

    def _rank(
        self, expr: ast.expr, values: dict[str, list[ast.expr]], depth: int = 0
    ) -> int | None:
        """The rank the code shows for ``expr``, or None."""
        if depth > 8:
            return None
        if isinstance(expr, ast.Name):
            ranks = [self._rank(v, values, depth + 1) for v in values.get(expr.id, ())]
            known = [r for r in ranks if r is not None]
            return min(known) if known and len(known) == len(ranks) else None
        if not isinstance(expr, ast.Call):
            return None
        func = expr.func
        target = self._resolved(func)
        if target is not None:
            module, _, name = target.rpartition(".")
            if module == "torch" and name in _FACTORIES:
                sizes = expr.args[2:] if name == "randint" else expr.args
                if name == "full":
                    sizes = expr.args[:1]
                size = next((k.value for k in expr.keywords if k.arg == "size"), None)
                return _dims([size]) if size is not None else (_dims(sizes) if sizes else None)
            if module in _TENSOR_MODULES and name in _SAME_RANK and expr.args:
                return self._rank(expr.args[0], values, depth + 1)
            return None
        if isinstance(func, ast.Attribute):
            if func.attr in ("view", "reshape", "permute", "expand"):
                return _dims(expr.args)
            if func.attr in _SAME_RANK:
                return self._rank(func.value, values, depth + 1)
        return None

    def _input(self, call: ast.Call) -> ast.expr | None:
        if call.args and not isinstance(call.args[0], ast.Starred):
            return call.args[0]
        return next((k.value for k in call.keywords if k.arg == "input"), None)

    def shows_rank(self, call: ast.Call, pattern: Pattern) -> bool:
        """Does the code show the input of ``call`` (of a module: where it is called) has
        at least ``pattern.min_rank`` dimensions?"""
        wanted = pattern.min_rank or 0
        self._index()
        uses = self._module_uses(call) if pattern.module else [call]
        for use in uses:
            self._ensure(use)
            given = self._input(use)
            rank = self._rank(given, self._values.get(id(use), {})) if given is not None else None
            if rank is not None and rank >= wanted:
                return True
        if self._partial and any(not self._inside(u.lineno, self._functions) for u in uses):
            raise _Partial  # module-level evidence may be in a block not parsed
        return False

    def _module_uses(self, construction: ast.Call) -> list[ast.Call]:
        """Where the module ``construction`` builds is called: ``nn.X()(x)``, ``crit(x)``
        in the function that binds ``crit = nn.X()``, ``self.crit(x)`` in the class that
        binds ``self.crit = nn.X()``, a module-level name's calls anywhere in the file."""
        if self._uses is None:
            self._uses = {}
            for node in ast.walk(self._tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Call):
                        self._outer[id(func)] = node
                    elif isinstance(func, ast.Name):
                        self._uses.setdefault(func.id, []).append(node)
                    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                        self._uses.setdefault(f"{func.value.id}.{func.attr}", []).append(node)
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            key = target.id
                        elif isinstance(target, ast.Attribute) and isinstance(
                            target.value, ast.Name
                        ):
                            key = f"{target.value.id}.{target.attr}"
                        else:
                            continue
                        self._bound.setdefault(id(node.value), []).append(key)
        uses = [self._outer[id(construction)]] if id(construction) in self._outer else []
        line = construction.lineno
        for key in self._bound.get(id(construction), ()):
            # a local name is called in its function, self.x in its class; a module-level
            # name anywhere in the file (in a partial parse: maybe in a block not parsed)
            span = self._inside(line, self._classes if "." in key else self._functions)
            if span is None and self._partial:
                raise _Partial
            a, b = span or (0, 1 << 30)
            uses += [u for u in self._uses.get(key, []) if a <= u.lineno <= b]
        return uses


_TRIPLE = re.compile(rb'"""|\'\'\'')
#: A line that goes on the block above it, even at column 0.
_CONTINUES = (b" ", b"\t", b"#", b")", b"]", b"}", b"else", b"elif", b"except", b"finally")


def _parse_chunks(
    data: bytes, name: str, lines: list[int]
) -> tuple[ast.Module | None, list[tuple[int, int]]]:
    """Parse only the top-level blocks of ``data`` that hold one of ``lines``.

    A top-level block starts at a line at column 0 that continues nothing above it (not
    a closing bracket, ``else``/``except``/..., a comment, the line after a decorator or
    a backslash) and is not inside a triple-quoted string. Each chosen block is parsed
    alone, behind as many blank lines as precede it, so its line numbers are the file's.
    Returns (the blocks as one module, their line spans), or (None, []) when a block does
    not parse alone: then the caller parses the whole file, which reports any error.
    """
    text = data.split(b"\n")
    if len(text) < 200:
        return None, []  # a small file: one parse costs less than cutting it
    quotes = [m.start() for m in _TRIPLE.finditer(data)]
    starts: list[int] = []
    offset, q, previous = 0, 0, b""
    for number, line in enumerate(text, 1):
        while q < len(quotes) and quotes[q] < offset:
            q += 1
        if (
            line
            and not line.startswith(_CONTINUES)
            and q % 2 == 0
            and not previous.startswith(b"@")
            and not previous.endswith(b"\\")
        ):
            starts.append(number)
        if line.strip() and not line.startswith(b"#"):
            previous = line.rstrip()
        offset += len(line) + 1
    if not starts or starts[0] != 1:
        starts.insert(0, 1)
    spans = [(a, b - 1) for a, b in zip(starts, [*starts[1:], len(text) + 1])]
    wanted = set(lines)
    body: list[ast.stmt] = []
    covered = []
    for first, last in spans:
        if not any(first <= n <= last for n in wanted):
            continue
        source = b"\n" * (first - 1) + b"\n".join(text[first - 1 : last])
        try:
            module = ast.parse(source, name)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None, []
        body += module.body
        covered.append((first, last))
    return ast.Module(body=body, type_ignores=[]), covered


def _trie(words: list[bytes]) -> bytes:
    """A regex for any of ``words``, common prefixes factored out (``a(?:dd|ll)``).

    Python's ``re`` tries an alternation's branches one by one at every position;
    a trie tries each first byte once, which makes the prefilter's pass several times faster.
    """
    if words == [b""]:
        return b""
    groups: dict[bytes, list[bytes]] = {}
    ends = False
    for word in words:
        if word:
            groups.setdefault(word[:1], []).append(word[1:])
        else:
            ends = True
    branches = [re.escape(head) + _trie(sorted(set(rest))) for head, rest in sorted(groups.items())]
    if ends:  # a word ends here, longer ones go on
        return b"(?:" + b"|".join(branches) + b")?"
    return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"


def _word_regex(words: Iterable[str], after: bytes = rb"\b") -> re.Pattern[bytes]:
    """Any of ``words`` as a whole word, followed by ``after``."""
    alternatives = _trie(sorted({w.encode() for w in words}))
    return re.compile(rb"\b(?:" + alternatives + rb")" + after)


def _lines(data: bytes, regex: re.Pattern[bytes]) -> list[int]:
    """1-based numbers of the lines on which ``regex`` matches, ascending."""
    lines, line, last = [], 1, 0
    for match in regex.finditer(data):
        start = match.start()
        line += data.count(b"\n", last, start)
        last = start
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _walk(tree: ast.AST, lines: list[int] | None) -> tuple[list[ast.Call], list[ast.stmt]]:
    """Calls and imports in the nodes whose line span holds one of ``lines`` (sorted; None: all)."""
    calls: list[ast.Call] = []
    imports: list[ast.stmt] = []
    stack = [tree]
    skip = ast.expr_context
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, skip):
                continue
            start = getattr(child, "lineno", None)
            if start is not None and lines is not None:
                i = bisect.bisect_left(lines, start)
                if i == len(lines) or lines[i] > child.end_lineno:
                    continue
            if isinstance(child, ast.Call):
                calls.append(child)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                imports.append(child)
                continue
            stack.append(child)
    return calls, imports


def _aliases(imports: Iterable[ast.stmt]) -> dict[str, str]:
    """Local name -> dotted name it was imported as (``.name`` for relative imports)."""
    aliases: dict[str, str] = {}
    for node in imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            # relative: `from . import functional as F` is the package's own module, not torch's
            # and not a tensor, so it resolves to a name that starts with a dot
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*":
                    dotted = f"{module}.{alias.name}" if node.module else f"{module}{alias.name}"
                    aliases[alias.asname or alias.name] = dotted
    return aliases


def _resolve(expr: ast.expr, aliases: dict[str, str]) -> str | None:
    """``F.interpolate`` -> ``torch.nn.functional.interpolate``; None unless rooted in an import."""
    if isinstance(expr, ast.Name):
        return aliases.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, aliases)
        return f"{base}.{expr.attr}" if base is not None else None
    return None


def python_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """The ``.py`` files under ``paths`` (folders recursively, hidden ones and caches left out)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file in sorted(path.rglob("*.py")):
                parts = file.relative_to(path).parts
                if not any(p.startswith(".") or p == "__pycache__" for p in parts[:-1]):
                    yield file
        elif path.exists():
            yield path
        else:
            raise UsageError(f": {given}: no such file or folder", option="static_paths")


def scan_static(
    paths: Sequence[str | Path],
    *,
    catalogs: Sequence[str | Path] = (),
    builtin: bool = True,
    catalog: Catalog | None = None,
) -> StaticResult:
    """Find calls of catalogued APIs in the Python files under ``paths``, without running them."""
    if not paths:
        raise UsageError(": give at least one file or folder", option="static_paths")
    scanner = Scanner(catalog if catalog is not None else load_catalog(catalogs, builtin=builtin))
    files = list(python_files(paths))
    findings: list[StaticFinding] = []
    skipped: list[Skipped] = []
    for path in files:
        found, problem = scanner.scan_file(path)
        findings += found
        if problem is not None:
            skipped.append(problem)
    return StaticResult(tuple(findings), tuple(skipped), len(files))
