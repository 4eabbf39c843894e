"""Load and validate catalogue YAML files into frozen :class:`Entry` records.

The catalogue holds facts: which op, under which condition, on which devices,
what each version of the ``torch.use_deterministic_algorithms`` docstring
claims, and which probe exercises it. It never holds an observed status.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import CatalogError

__all__ = [
    "DEVICES",
    "GROUPS",
    "PASSES",
    "Catalog",
    "Condition",
    "Entry",
    "Match",
    "builtin_catalog_files",
    "load_catalog",
    "parse_version",
]

GROUPS = ("converted", "raises")
DEVICES = ("cpu", "cuda")
PASSES = ("forward", "backward")
CLAIMS = ("converted", "raises")
REQUIRED_KEYS = ("id", "api", "condition", "devices", "pass", "probe", "source")
OPTIONAL_KEYS = ("claims", "notes", "match")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PROBE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_DOCS_VERSION_RE = re.compile(r"^\d+\.\d+$")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)")


def parse_version(version: str) -> tuple[int, int]:
    """``"2.11.0+cu130"`` -> ``(2, 11)``: the docs are per minor release."""
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"not a torch version: {version!r}")
    return int(match.group(1)), int(match.group(2))


_Scalar = str | int | float | bool | None
_OP_RE = re.compile(r"^[a-z_]\w*::\w+(\.\w+)?$")
_ARG_RE = re.compile(r"^(overload|[A-Za-z_]\w*(\.(ndim|dtype|layout))?)$")
MATCH_KEYS = ("signature", "call", "aten", "ops")


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
    where deriving them from the probe picks the wrong ones.
    """

    signature: str = ""
    call: tuple[tuple[str, Condition], ...] = ()
    aten: tuple[tuple[str, Condition], ...] = ()
    ops: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {}
        if self.signature:
            data["signature"] = self.signature
        for key in ("call", "aten"):
            conditions = getattr(self, key)
            if conditions:
                data[key] = {name: cond.to_data() for name, cond in conditions}
        if self.ops:
            data["ops"] = list(self.ops)
        return data


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
    defaults: list[object] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [(a.arg, d is not None, d) for a, d in zip(positional, defaults)]
    params += [(a.arg, d is not None, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    result = []
    for name, has_default, node in params:
        try:
            value = ast.literal_eval(node) if has_default else None
        except ValueError:
            raise ValueError(f"the default of {name!r} must be a literal") from None
        result.append((name, has_default, value))
    return result


@dataclass(frozen=True, slots=True)
class Entry:
    """One op under one documented condition."""

    id: str
    api: str
    group: str
    condition: str
    devices: tuple[str, ...]
    pass_: str
    probe: str
    source: str
    claims: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    file: str = ""
    line: int = 0
    probe_path: str | None = None
    match: Match | None = None

    def claim_for(
        self, torch_version: str, docs_versions: Sequence[str] = ()
    ) -> tuple[str | None, str | None]:
        """What the docs of the newest sampled release <= ``torch_version`` claim.

        ``docs_versions`` are every release whose docs were read (the
        catalogue's); a release among them that this entry's claims lack did
        not list the entry. Returns ``(claim, basis)``: claim is ``converted``,
        ``raises`` or None (not listed, or older than every sampled release);
        basis names the docs (``"docs 2.13"``), or is ``"catalog"`` for a user
        entry without claims, which claims its group for every version.
        """
        if not self.claims:
            return self.group, "catalog"
        claims = dict(self.claims)
        wanted = parse_version(torch_version)
        sampled = [v for v in {*docs_versions, *claims} if parse_version(v) <= wanted]
        if not sampled:
            return None, None
        newest = max(sampled, key=parse_version)
        return claims.get(newest), f"docs {newest}"

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
            "source": self.source,
            "claims": dict(self.claims),
            "notes": self.notes,
            "file": self.file,
            "line": self.line,
            **({"match": self.match.to_dict()} if self.match is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    """The loaded catalogue: entries in file order, and the files they came from."""

    entries: tuple[Entry, ...]
    files: tuple[str, ...] = ()
    docs_versions: tuple[str, ...] = field(default=())

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
                f"--only: unknown entry id {', '.join(map(repr, unknown))} "
                "(see `detaudit catalog list`)"
            )
        wanted = set(ids)
        return Catalog(
            tuple(e for e in self.entries if e.id in wanted), self.files, self.docs_versions
        )

    @property
    def hash(self) -> str:
        """A short digest of every entry's facts: reports made from equal catalogues match."""
        facts = [
            {k: v for k, v in entry.to_dict().items() if k not in ("file", "line")}
            for entry in self.entries
        ]
        blob = json.dumps(facts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def expected(
        self, entry: Entry, device: str, torch_version: str
    ) -> tuple[str | None, str | None]:
        """What the docs for ``torch_version`` claim ``entry`` does on ``device``.

        ``converts``/``raises`` where the entry's condition covers the device;
        ``ok`` where it does not (the op should run without an alert there),
        unless another entry with the same probe covers that device (put_ with
        accumulate=True is split into a CPU and a CUDA entry): then that entry
        makes the claim and this one makes none (None).
        """
        claim, basis = entry.claim_for(torch_version, self.docs_versions)
        if claim is None:
            return None, basis
        if device in entry.devices:
            return ("converts" if claim == "converted" else "raises"), basis
        for other in self.entries:
            if other.id != entry.id and other.probe == entry.probe and device in other.devices:
                return None, f"see {other.id}"
        return "ok", basis


# --------------------------------------------------------------------------- loading


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # C parser when built
    """A safe loader that remembers each mapping's line and rejects duplicate keys."""


class _Mapping(dict):
    line = 0


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def builtin_catalog_dir() -> Path:
    """Where the built-in catalogue lives: inside the wheel, or catalog/ in a checkout."""
    packaged = resources.files("detaudit") / "_catalog"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "catalog"


def builtin_catalog_files() -> list[Path]:
    """The built-in catalogue's YAML files, sorted by name."""
    folder = builtin_catalog_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise CatalogError(f"{folder}: the built-in catalogue is missing (reinstall detaudit)")
    return files


def load_catalog(paths: Sequence[str | Path] = (), *, builtin: bool = True) -> Catalog:
    """Load the built-in catalogue (unless ``builtin=False``) plus ``paths``.

    Every problem is collected; if there is any, one :class:`CatalogError`
    carries one line per problem, each naming the file, the line and the entry.
    """
    builtin_files = builtin_catalog_files() if builtin else []
    files = [*builtin_files, *(Path(p) for p in paths)]
    if not files:
        raise CatalogError("no catalogue: give --catalog PATH or drop --no-builtin")
    _refuse_twice(files, len(builtin_files))
    builtin_dir = builtin_catalog_dir().resolve() if builtin else None
    entries: list[Entry] = []
    problems: list[str] = []
    seen: dict[str, Entry] = {}
    for path in files:
        is_builtin = builtin_dir is not None and path.resolve().parent == builtin_dir
        for entry in _load_file(path, problems, user=not is_builtin):
            if entry.id in seen:
                first = seen[entry.id]
                problems.append(
                    f"{entry.file}:{entry.line}: entry {entry.id!r}: duplicate id "
                    f"(first defined at {first.file}:{first.line})"
                )
                continue
            seen[entry.id] = entry
            entries.append(entry)
    if problems:
        raise CatalogError(problems)
    versions = sorted({v for e in entries for v, _ in e.claims}, key=parse_version)
    return Catalog(tuple(entries), tuple(str(f) for f in files), tuple(versions))


def _refuse_twice(files: list[Path], n_builtin: int) -> None:
    """One line for a file loaded twice, instead of a duplicate-id line for each of its entries.

    ``files[:n_builtin]`` are the built-in catalogue's; paths compare resolved.
    """
    first: dict[str, int] = {}
    for index, path in enumerate(files):
        real = os.path.realpath(path)
        if real not in first:
            first[real] = index
            continue
        earlier = files[first[real]]
        if first[real] < n_builtin:
            why = (
                "already loaded: it is part of the built-in catalogue "
                "(--no-builtin loads only the --catalog files)"
            )
        elif str(earlier) == str(path):
            why = "given twice"
        else:
            why = f"already given as {earlier}"
        raise CatalogError(f"{path}: {why}; give each catalogue file once")


def _not_utf8(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start]
    return f"not UTF-8 text (byte {byte:#04x} at offset {exc.start}); save it as UTF-8"


def _load_file(path: Path, problems: list[str], *, user: bool) -> list[Entry]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{name}: cannot read: {exc.strerror or exc}")
        return []
    except UnicodeDecodeError as exc:
        problems.append(f"{name}: {_not_utf8(exc)}")
        return []
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(f"{where}: YAML error: {problem}")
        return []
    if not isinstance(data, dict) or not data:
        problems.append(f"{name}: expected a mapping with the groups {' and '.join(GROUPS)}")
        return []
    entries: list[Entry] = []
    for group, items in data.items():
        if group not in GROUPS:
            line = _line_of_key(text, group)
            problems.append(
                f"{name}:{line}: unknown group {group!r} (expected {' or '.join(GROUPS)})"
            )
            continue
        if not isinstance(items, list):
            problems.append(
                f"{name}:{_line_of_key(text, group)}: group {group!r} must be a list of entries"
            )
            continue
        for index, raw in enumerate(items):
            entry = _validate_entry(raw, group, index, path, problems, user=user)
            if entry is not None:
                entries.append(entry)
    return entries


def _line_of_key(text: str, key: object) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def _validate_entry(
    raw: object, group: str, index: int, path: Path, problems: list[str], *, user: bool
) -> Entry | None:
    name = str(path)
    if not isinstance(raw, dict):
        problems.append(f"{name}: {group}[{index}]: an entry must be a mapping of keys")
        return None
    line = getattr(raw, "line", 0)
    label = repr(raw.get("id")) if isinstance(raw.get("id"), str) else f"{group}[{index}]"
    before = len(problems)

    def bad(message: str) -> None:
        problems.append(f"{name}:{line}: entry {label}: {message}")

    for key in raw:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            bad(f"unknown key {key!r} (allowed: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in raw:
            bad(f"missing field {key!r}")
    for key in ("id", "api", "condition", "probe", "source", "notes"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            bad(f"{key!r} must be a non-empty string")
    if len(problems) > before:
        return None

    if not _ID_RE.match(raw["id"]):
        bad("id must match [a-z0-9][a-z0-9._-]* (lowercase, no spaces)")
    devices = raw["devices"]
    if (
        not isinstance(devices, list)
        or not devices
        or any(d not in DEVICES for d in devices)
        or len(set(devices)) != len(devices)
    ):
        bad(f"devices must be a non-empty list of {', '.join(DEVICES)}, got {devices!r}")
    if raw["pass"] not in PASSES:
        bad(f"pass must be one of {', '.join(PASSES)}, got {raw['pass']!r}")
    claims = _validate_claims(raw.get("claims", {}), bad)
    match = _validate_match(raw["match"], bad) if "match" in raw else None
    probe = raw["probe"]
    probe_path = str(path.resolve().parent) if user else None
    if not _PROBE_RE.match(probe):
        bad(f"probe must look like 'module:function', got {probe!r}")
    else:
        try:
            why = _probe_unresolved(probe, probe_path)
        except _UnreadableProbeModule as exc:
            if str(exc) not in problems:  # one line for the file, however many entries use it
                problems.append(str(exc))
            return None
        if why:
            bad(f"probe {probe!r} does not resolve: {why}")
    if len(problems) > before:
        return None
    return Entry(
        id=raw["id"],
        api=raw["api"],
        group=group,
        condition=raw["condition"],
        devices=tuple(d for d in DEVICES if d in devices),
        pass_=raw["pass"],
        probe=probe,
        source=raw["source"],
        claims=claims,
        notes=raw.get("notes", ""),
        file=name,
        line=line,
        probe_path=probe_path,
        match=match,
    )


def _validate_claims(claims: object, bad) -> tuple[tuple[str, str], ...]:
    if not isinstance(claims, dict):
        bad('claims must be a mapping like {"2.13": raises}')
        return ()
    result = []
    for version, claim in claims.items():
        if not isinstance(version, str) or not _DOCS_VERSION_RE.match(version):
            bad(f'claims: version {version!r} must be a quoted "MAJOR.MINOR" string')
        elif claim not in CLAIMS:
            bad(f"claims: {version}: must be {' or '.join(CLAIMS)}, got {claim!r}")
        else:
            result.append((version, claim))
    return tuple(sorted(result, key=lambda vc: parse_version(vc[0])))


def _validate_condition(where: str, data: object, bad) -> Condition | None:
    scalar = (str, int, float, bool, type(None))
    if isinstance(data, scalar):
        return Condition(values=(data,))
    if isinstance(data, list) and data and all(isinstance(v, scalar) for v in data):
        return Condition(values=tuple(data))
    numbers = isinstance(data, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()
    )
    if numbers and data and set(data) <= {"min", "max"}:
        return Condition(min=data.get("min"), max=data.get("max"))
    if isinstance(data, dict) and set(data) == {"given"} and isinstance(data["given"], bool):
        return Condition(given=data["given"])
    bad(
        f"match: {where}: expected a value, a list of values, {{min: N, max: N}} "
        f"or {{given: true}}, got {data!r}"
    )
    return None


def _validate_conditions(key: str, data: object, bad) -> tuple[tuple[str, Condition], ...]:
    if not isinstance(data, dict) or not data:
        bad(f"match: {key} must be a mapping of argument name to condition")
        return ()
    result = []
    for name, cond in data.items():
        if not isinstance(name, str) or (key == "aten" and not _ARG_RE.match(name)):
            bad(
                f"match: {key}: {name!r} is not an argument name (NAME, NAME.ndim, NAME.dtype, ...)"
            )
            continue
        condition = _validate_condition(f"{key}.{name}", cond, bad)
        if condition is not None:
            result.append((name, condition))
    return tuple(result)


def _validate_match(raw: object, bad) -> Match | None:
    """The optional ``match`` field: scanner hints, checked for shape here (no torch)."""
    if not isinstance(raw, dict) or not raw:
        bad(f"match must be a mapping with keys among {', '.join(MATCH_KEYS)}")
        return None
    for key in raw:
        if key not in MATCH_KEYS:
            bad(f"match: unknown key {key!r} (allowed: {', '.join(MATCH_KEYS)})")
    signature = raw.get("signature", "")
    names: set[str] = set()
    if not isinstance(signature, str):
        bad("match: signature must be a string of Python parameters")
    elif signature:
        try:
            names = {name for name, _, _ in signature_parameters(signature)}
        except ValueError as exc:
            bad(f"match: signature {signature!r}: {exc}")
    call = _validate_conditions("call", raw["call"], bad) if "call" in raw else ()
    if call and not signature:
        bad("match: call needs a signature (for positional arguments and defaults)")
    for name, _ in call:
        if names and name not in names:
            bad(f"match: call: {name!r} is not a parameter of the signature")
    aten = _validate_conditions("aten", raw["aten"], bad) if "aten" in raw else ()
    ops = raw.get("ops", [])
    if not isinstance(ops, list) or not all(isinstance(o, str) and _OP_RE.match(o) for o in ops):
        bad(f"match: ops must be a list like ['aten::put_.default'], got {ops!r}")
        ops = []
    return Match(signature=signature or "", call=call, aten=aten, ops=tuple(ops))


class _UnreadableProbeModule(Exception):
    """A probe module that cannot be read or parsed: one problem for the file, not per entry."""


def _probe_unresolved(probe: str, folder: str | None) -> str | None:
    """Why ``module:function`` cannot be found, without importing (and so running) it.

    Importing a probe module imports torch; the parent process stays light and
    leaves that to the workers. The module is found with importlib's finder and
    the function looked up in its source with ``ast``.
    """
    module, function = probe.split(":")
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return f"cannot find module {module!r} ({exc})"
    finally:
        if added:
            sys.path.remove(folder)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        where = f" in {folder} or on the import path" if folder else ""
        return f"no module {module!r}{where}"
    try:
        # Bytes, so that ast honours a coding declaration as Python's import would.
        tree = ast.parse(Path(spec.origin).read_bytes(), spec.origin)
    except OSError as exc:
        raise _UnreadableProbeModule(f"{spec.origin}: cannot read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes, before Python 3.12
        msg = getattr(exc, "msg", None) or str(exc)
        if "(unicode error)" in msg:
            msg = "not UTF-8 text (and no coding declaration); save it as UTF-8"
        line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise _UnreadableProbeModule(
            f"{spec.origin}{line}: probe module cannot be parsed: {msg}"
        ) from None
    if function not in _top_level_names(tree):
        return f"{spec.origin} defines no {function!r}"
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign,)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names
