"""Load and validate catalogue YAML files into frozen :class:`~.records.Entry` records.

Every problem is collected with its file and line; the built-in catalogue is
found inside the wheel or in a checkout.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .. import devices as registry
from ..errors import CatalogError
from ..model.vocabulary import CLAIMS, DEVICES, GROUPS, PASSES, Claim, Device, Group, Pass
from ..probepath import PROBE_RE
from .probes import _probe_unresolved, _UnreadableProbeModule
from .records import Catalog, Condition, Entry, Form, Match, Static, parse_version
from .signature import signature_parameters
from .yamlfile import load_yaml

__all__ = ["GAPS_FILE", "builtin_catalog_dir", "builtin_catalog_files", "load_catalog"]

#: The known-gaps list beside the catalogue (data, not entries): see detaudit.catalog.gaps.
GAPS_FILE = "known_gaps.yaml"

REQUIRED_KEYS = ("id", "api", "condition", "devices", "pass", "probe", "source")
OPTIONAL_KEYS = (
    "args",
    "claims",
    "notes",
    "match",
    "static",
    "kernels",
    "env",
    "compiles",
    "reaches",
    "silent",
    "slow_start",
    "remedy",
)
#: A file-level key beside the groups: the modules the file's ops come from (``torchvision``).
#: A file whose modules are not installed is skipped, with the reason, not loaded.
REQUIRES_KEY = "requires"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DOCS_VERSION_RE = re.compile(r"^\d+\.\d+$")
_OP_RE = re.compile(r"^[a-z_]\w*::\w+(\.\w+)?$")
_ARG_RE = re.compile(r"^(overload|[A-Za-z_]\w*(\.(ndim|dtype|layout))?)$")
MATCH_KEYS = ("signature", "call", "aten", "ops")
STATIC_KEYS = ("forms", "needs_tensor", "min_rank")
FORM_KEYS = ("api", "signature", "call")
_API_RE = re.compile(r"^torch(\.[A-Za-z_]\w*)+$")
_NAME_RE = re.compile(r"^[A-Za-z_]\w*$")
_KERNEL_RE = re.compile(r"^\S(.*\S)?$")  # may have spaces: "median CUDA with indices output"
_REACH_RE = re.compile(r"^[a-z_]\w*::\w+$")
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def builtin_catalog_dir() -> Path:
    """Where the built-in catalogue lives: inside the wheel, or catalog/ in a checkout."""
    packaged = resources.files("detaudit") / "_catalog"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "catalog"  # detaudit/catalog/load.py


def builtin_catalog_files() -> list[Path]:
    """The built-in catalogue's YAML files, sorted by name."""
    folder = builtin_catalog_dir()
    files = sorted(f for f in folder.glob("*.yaml") if f.name != GAPS_FILE)
    if not files:
        raise CatalogError(f"{folder}: the built-in catalogue is missing (reinstall detaudit)")
    return files


def load_catalog(paths: Sequence[str | Path] = (), *, builtin: bool = True) -> Catalog:
    """Load the built-in catalogue (unless ``builtin=False``) plus ``paths``.

    Every problem is collected; if there is any, one :class:`CatalogError`
    carries one line per problem, each naming the file, the line and the entry.
    """
    builtin_files = builtin_catalog_files() if builtin else []
    files = [*builtin_files, *_expand(paths)]
    if not files:
        raise CatalogError("no catalogue: give --catalog PATH or drop --no-builtin")
    _refuse_twice(files, len(builtin_files))
    builtin_dir = builtin_catalog_dir().resolve() if builtin else None
    entries: list[Entry] = []
    problems: list[str] = []
    seen: dict[str, Entry] = {}
    skipped: list[tuple[str, str]] = []
    for path in files:
        is_builtin = builtin_dir is not None and path.resolve().parent == builtin_dir
        for entry in _load_file(path, problems, user=not is_builtin, skipped=skipped):
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
    loaded = tuple(str(f) for f in files if str(f) not in {s for s, _ in skipped})
    return Catalog(tuple(entries), loaded, tuple(versions), tuple(skipped))


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


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    """The catalogue files ``paths`` name: a folder stands for its ``*.yaml`` (known gaps aside)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(f for f in path.glob("*.yaml") if f.name != GAPS_FILE)
        if not found:
            raise CatalogError(f"{path}: a folder with no catalogue files (*.yaml) in it")
        files += found
    return files


def _missing_requirement(path: Path, data: dict, problems: list[str]) -> str | None:
    """Why the file's ``requires:`` modules are not there (None: they are, or it needs none).

    Found with importlib's finder, never imported: loading the catalogue stays light.
    """
    raw = data.pop(REQUIRES_KEY)
    names = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and _MODULE_RE.match(n) for n in names)
    ):
        problems.append(
            f"{path}: requires must be a module name or a list of them, like torchvision, "
            f"got {raw!r}"
        )
        return None
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{name} is not installed"
    return None


def _load_file(
    path: Path, problems: list[str], *, user: bool, skipped: list[tuple[str, str]] | None = None
) -> list[Entry]:
    name = str(path)
    if path.name == GAPS_FILE:
        problems.append(
            f"{name}: the known-gaps list (PyTorch alerts no entry covers), not catalogue "
            "entries: leave it out, or give the folder (its catalogue files are read)"
        )
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{name}: cannot read: {exc.strerror or exc}")
        return []
    except UnicodeDecodeError as exc:
        problems.append(f"{name}: {_not_utf8(exc)}")
        return []
    try:
        data = load_yaml(text, name)
    except CatalogError as exc:
        problems.extend(exc.problems)
        return []
    if isinstance(data, dict) and REQUIRES_KEY in data:
        data = dict(data)
        why = _missing_requirement(path, data, problems)
        if why is not None:
            if skipped is not None:
                skipped.append((name, why))
            return []
    if not isinstance(data, dict) or not data:
        problems.append(f"{name}: expected a mapping with groups among {', '.join(GROUPS)}")
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
    for key in ("id", "api", "condition", "probe", "source", "notes", "remedy"):
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
        or any(not isinstance(d, str) or not registry.known(d) for d in devices)
        or len(set(devices)) != len(devices)
    ):
        bad(f"devices must be a non-empty list of {', '.join(registry.names())}, got {devices!r}")
    if raw["pass"] not in PASSES:
        bad(f"pass must be one of {', '.join(PASSES)}, got {raw['pass']!r}")
    claims = _validate_claims(raw.get("claims", {}), bad)
    if group == Group.OBSERVED and claims:
        bad(
            "an observed entry claims nothing (the docs do not list it): remove its claims, "
            "or file it under converted or raises"
        )
    match = _validate_match(raw["match"], bad) if "match" in raw else None
    static = _validate_static(raw["static"], bad) if "static" in raw else None
    kernels = _validate_kernels(raw.get("kernels", []), bad)
    reaches = _validate_reaches(raw.get("reaches", []), bad)
    env = _validate_env(raw["env"], bad) if "env" in raw else ()
    compiles = raw.get("compiles", False)
    silent = raw.get("silent", False)
    if not isinstance(silent, bool):
        bad(f"silent must be true or false (true: PyTorch's tests assert no alert), got {silent!r}")
    slow_start = raw.get("slow_start", False)
    if not isinstance(slow_start, bool):
        bad(
            "slow_start must be true or false (true: the probe takes seconds to start, "
            f"so an audit gives it a worker of its own), got {slow_start!r}"
        )
    if not isinstance(compiles, bool):
        bad(
            f"compiles must be true or false (true: the probe calls torch.compile), got {compiles!r}"
        )
    probe = raw["probe"]
    probe_args = _validate_args(raw["args"], bad) if "args" in raw else ()
    probe_path = str(path.resolve().parent) if user else None
    if not PROBE_RE.match(probe):
        bad(f"probe must look like 'module:function', got {probe!r}")
    else:
        try:
            why = _probe_unresolved(probe, probe_path, probe_args)
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
        group=Group(group),
        condition=raw["condition"],
        # Built-in names as vocabulary words (Device); a registered device's as its plain name.
        devices=tuple(Device(d) if d in DEVICES else d for d in registry.ordered(devices)),
        pass_=Pass(raw["pass"]),
        probe=probe,
        probe_args=probe_args,
        source=raw["source"],
        claims=claims,
        notes=raw.get("notes", ""),
        file=name,
        line=line,
        probe_path=probe_path,
        match=match,
        static=static,
        kernels=kernels,
        env=env,
        compiles=compiles,
        unlisted=raw.get("claims") == {},
        reaches=reaches,
        silent=silent,
        slow_start=slow_start,
        remedy=raw.get("remedy", "").strip(),
    )


def _validate_args(raw: object, bad) -> tuple[tuple[str, Any], ...]:
    """The optional ``args`` field: keyword arguments the probe is called with after the device.

    One probe function serves several entries (``reduce: sum``, ``reduce: mean``):
    names are identifiers, values YAML scalars or lists of them (they cross to the
    worker as JSON). Lists become tuples, so the entry stays hashable.
    """
    scalar = (str, int, float, bool, type(None))

    def plain(value: object) -> bool:
        if isinstance(value, list):
            return all(isinstance(v, scalar) for v in value)
        return isinstance(value, scalar)

    if (
        not isinstance(raw, dict)
        or not raw
        or not all(isinstance(k, str) and _NAME_RE.match(k) for k in raw)
        or not all(plain(v) for v in raw.values())
    ):
        bad(
            "args must be a mapping of parameter names to scalars or lists of scalars, "
            f"like {{reduce: sum}}, got {raw!r}"
        )
        return ()
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in raw.items())


def _validate_reaches(raw: object, bad) -> tuple[str, ...]:
    """The optional ``reaches`` field: aten ops (``aten::name``, no overload) the probe must run."""
    if (
        not isinstance(raw, list)
        or not all(isinstance(op, str) and _REACH_RE.match(op) for op in raw)
        or len(set(raw)) != len(raw)
    ):
        bad(
            "reaches must be a list of distinct aten op names without overload, "
            f"like [aten::upsample_bilinear2d_backward], got {raw!r}"
        )
        return ()
    return tuple(raw)


def _validate_kernels(raw: object, bad) -> tuple[str, ...]:
    """The optional ``kernels`` field: the names PyTorch passes to alertNotDeterministic."""
    if (
        not isinstance(raw, list)
        or not all(isinstance(k, str) and _KERNEL_RE.match(k) for k in raw)
        or len(set(raw)) != len(raw)
    ):
        bad(f"kernels must be a list of distinct alert names like [index_add_cuda_], got {raw!r}")
        return ()
    return tuple(raw)


def _validate_env(raw: object, bad) -> tuple[tuple[str, str | None], ...]:
    """The optional ``env`` field: variables set (a string) or unset (null) for the probe's runs."""
    if (
        not isinstance(raw, dict)
        or not raw
        or not all(isinstance(k, str) and _ENV_RE.match(k) for k in raw)
        or not all(v is None or isinstance(v, str) for v in raw.values())
    ):
        bad(
            "env must map variable names to a quoted string (set) or null (unset), "
            f'like {{CUBLAS_WORKSPACE_CONFIG: ":4096:8"}}, got {raw!r}'
        )
        return ()
    return tuple(raw.items())


def _validate_claims(claims: object, bad) -> tuple[tuple[str, Claim], ...]:
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
            result.append((version, Claim(claim)))
    return tuple(sorted(result, key=lambda vc: parse_version(vc[0])))


def _validate_condition(key: str, data: object, bad, where: str = "match") -> Condition | None:
    scalar = (str, int, float, bool, type(None))
    if isinstance(data, scalar):
        return Condition(values=(data,))
    if isinstance(data, list) and data and all(isinstance(v, scalar) for v in data):
        return Condition(values=tuple(data))
    numbers = isinstance(data, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()
    )
    if isinstance(data, dict) and numbers and data and set(data) <= {"min", "max"}:
        return Condition(min=data.get("min"), max=data.get("max"))
    if isinstance(data, dict) and set(data) == {"given"} and isinstance(data["given"], bool):
        return Condition(given=data["given"])
    bad(
        f"{where}: {key}: expected a value, a list of values, {{min: N, max: N}} "
        f"or {{given: true}}, got {data!r}"
    )
    return None


def _validate_conditions(
    key: str, data: object, bad, where: str = "match"
) -> tuple[tuple[str, Condition], ...]:
    if not isinstance(data, dict) or not data:
        bad(f"{where}: {key} must be a mapping of argument name to condition")
        return ()
    result = []
    for name, cond in data.items():
        if not isinstance(name, str) or (key == "aten" and not _ARG_RE.match(name)):
            bad(
                f"{where}: {key}: {name!r} is not an argument name "
                "(NAME, NAME.ndim, NAME.dtype, ...)"
            )
            continue
        condition = _validate_condition(f"{key}.{name}", cond, bad, where)
        if condition is not None:
            result.append((name, condition))
    return tuple(result)


def _validate_call(raw: dict, where: str, bad) -> tuple[str, tuple[tuple[str, Condition], ...]]:
    """``signature`` and ``call`` of a ``match`` or of a static form, problems named by ``where``."""
    signature = raw.get("signature", "")
    names: set[str] = set()
    if not isinstance(signature, str):
        bad(f"{where}: signature must be a string of Python parameters")
        signature = ""
    elif signature:
        try:
            names = {name for name, _, _ in signature_parameters(signature)}
        except ValueError as exc:
            bad(f"{where}: signature {signature!r}: {exc}")
    call = _validate_conditions("call", raw["call"], bad, where) if "call" in raw else ()
    if call and not signature:
        bad(f"{where}: call needs a signature (for positional arguments and defaults)")
    for name, _ in call:
        if names and name not in names:
            bad(f"{where}: call: {name!r} is not a parameter of the signature")
    return signature, call


def _validate_static(raw: object, bad) -> Static | None:
    """The optional ``static`` field: more call forms, and method names that need a tensor."""
    if not isinstance(raw, dict) or not raw:
        bad(f"static must be a mapping with keys among {', '.join(STATIC_KEYS)}")
        return None
    for key in raw:
        if key not in STATIC_KEYS:
            bad(f"static: unknown key {key!r} (allowed: {', '.join(STATIC_KEYS)})")
    items = raw.get("forms", [])
    if not isinstance(items, list):
        bad("static: forms must be a list of {api: torch.X, signature: ..., call: {...}}")
        items = []
    forms = []
    for index, item in enumerate(items):
        where = f"static: forms[{index}]"
        if isinstance(item, str):
            item = {"api": item}
        if not isinstance(item, dict):
            bad(f"{where}: expected a dotted name or a mapping with keys {', '.join(FORM_KEYS)}")
            continue
        unknown = [k for k in item if k not in FORM_KEYS]
        for key in unknown:
            bad(f"{where}: unknown key {key!r} (allowed: {', '.join(FORM_KEYS)})")
        api = item.get("api")
        if not isinstance(api, str) or not _API_RE.match(api):
            bad(f"{where}: api must be a dotted name under torch, got {api!r}")
            continue
        signature, call = _validate_call(item, where, bad)
        if not unknown:
            forms.append(Form(api, signature, call))
    names = raw.get("needs_tensor", [])
    if not isinstance(names, list) or not all(
        isinstance(n, str) and _NAME_RE.match(n) for n in names
    ):
        bad(f"static: needs_tensor must be a list of method names like [put], got {names!r}")
        names = []
    rank = raw.get("min_rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        bad(f"static: min_rank must be a whole number of dimensions like 3, got {rank!r}")
        rank = None
    return Static(tuple(forms), tuple(names), rank)


def _validate_match(raw: object, bad) -> Match | None:
    """The optional ``match`` field: scanner hints, checked for shape here (no torch)."""
    if not isinstance(raw, dict) or not raw:
        bad(f"match must be a mapping with keys among {', '.join(MATCH_KEYS)}")
        return None
    for key in raw:
        if key not in MATCH_KEYS:
            bad(f"match: unknown key {key!r} (allowed: {', '.join(MATCH_KEYS)})")
    signature, call = _validate_call(raw, "match", bad)
    aten = _validate_conditions("aten", raw["aten"], bad) if "aten" in raw else ()
    ops = raw.get("ops", [])
    if not isinstance(ops, list) or not all(isinstance(o, str) and _OP_RE.match(o) for o in ops):
        bad(f"match: ops must be a list like ['aten::put_.default'], got {ops!r}")
        ops = []
    no_ops = raw.get("ops") == []  # the entry has no aten op of its own
    if no_ops and aten:
        bad("match: aten conditions need ops to apply to; ops: [] says there are none")
    return Match(signature=signature or "", call=call, aten=aten, ops=tuple(ops), no_ops=no_ops)
