"""The one probe resolver: catalog validation, the worker and the scanner agree on every form."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from detaudit.catalog import load_catalog
from detaudit.catalog.probes import _probe_unresolved
from detaudit.probepath import ProbeNotFound, locate
from detaudit.runner.probing import load_probe
from detaudit.scanner.signatures import _probe_source

BUILTIN_INDEXING = "detaudit.probes.indexing"


def _write(folder: Path, rel: str, text: str) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user catalogue's folder with a module, a package, a subpackage and a stdlib-named file."""
    folder = tmp_path_factory.mktemp("resolver")
    fn = "def fn(device):\n    return device\n"
    _write(folder, "mine.py", fn)
    _write(folder, "pkg/__init__.py", fn)
    _write(folder, "pkg/sub.py", fn)
    _write(folder, "json.py", fn)  # shadows the stdlib json only for this catalogue
    return folder


#: (probe, resolves?) as seen from a user catalogue's folder.
USER_FORMS = [
    ("mine:fn", True),
    ("pkg:fn", True),
    ("pkg.sub:fn", True),
    ("json:fn", True),  # the folder's json.py, not the stdlib's
    ("json:dumps", False),  # ...which has no dumps
    (f"{BUILTIN_INDEXING}:put_accumulate_false", True),  # a built-in probe from a user YAML
    (f"{BUILTIN_INDEXING}:no_such_probe", False),
    ("detaudit.probes.no_such_module:fn", False),
    ("mine:nope", False),
    ("missing:fn", False),
    ("pkg.missing:fn", False),
    ("math:sqrt", False),  # an extension module: no source to read
]


def _three_callers(
    probe: str, folder: str | None, args: tuple[tuple[str, object], ...] = ()
) -> tuple[bool, str | None, str]:
    """(validate accepts, file of the function the worker loaded or None, scanner's digest)."""
    validated = _probe_unresolved(probe, folder, args) is None
    try:
        fn = load_probe(probe, folder, dict(args))
    except ImportError:
        loaded = None
    else:
        inner = getattr(fn, "detaudit_probe", fn)
        inner = getattr(inner, "__wrapped__", inner)  # bound to its args
        loaded = os.path.realpath(inner.__code__.co_filename)
    digest = _probe_source(SimpleNamespace(probe=probe, probe_path=folder))  # type: ignore[arg-type]
    return validated, loaded, digest


def _agree(
    probe: str, folder: str | None, args: tuple[tuple[str, object], ...] = ()
) -> tuple[bool, str | None]:
    validated, loaded, digest = _three_callers(probe, folder, args)
    assert validated == (loaded is not None), (probe, folder, validated, loaded)
    if loaded is not None:
        # The scanner caches traces under the source of the very file the worker ran.
        assert digest == hashlib.sha256(Path(loaded).read_bytes()).hexdigest(), probe
        assert locate(probe, folder).file == loaded
    return validated, loaded


def test_every_builtin_probe_resolves_the_same_for_all_three() -> None:
    calls = sorted({e.probe_call for e in load_catalog()}, key=repr)
    assert len(calls) > 50
    for probe, args in calls:
        validated, loaded = _agree(probe, None, args)
        assert validated, probe
        assert loaded is not None and "detaudit" in loaded


@pytest.mark.parametrize(("probe", "resolves"), USER_FORMS)
def test_user_forms_resolve_the_same_for_all_three(
    user_folder: Path, probe: str, resolves: bool
) -> None:
    validated, loaded = _agree(probe, str(user_folder))
    assert validated is resolves
    if loaded is not None and not probe.startswith("detaudit."):
        assert loaded.startswith(os.path.realpath(user_folder) + os.sep)


def test_builtin_module_named_from_a_user_catalogue_is_imported_by_name(user_folder: Path) -> None:
    where = locate(f"{BUILTIN_INDEXING}:put_accumulate_false", str(user_folder))
    assert where.folder is None
    assert where.file.endswith(os.path.join("detaudit", "probes", "indexing.py"))


def test_the_folder_wins_over_the_import_path(user_folder: Path) -> None:
    assert locate("json:fn", str(user_folder)).folder == os.path.realpath(user_folder)
    assert locate("json:dumps").folder is None


def test_malformed_and_missing_probes_are_typed_errors() -> None:
    with pytest.raises(ValueError, match="module:function"):
        locate("no-colon")
    with pytest.raises(ProbeNotFound, match="no module 'missing'"):
        locate("missing:fn")


def test_user_yaml_naming_a_builtin_probe_audits(tmp_path: Path) -> None:
    """The bug: it passed ``catalog validate``, then every result was ``error: no module``."""
    from detaudit import audit
    from detaudit.model.vocabulary import Status

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        textwrap.dedent(
            f"""\
            raises:
              - id: my-put
                api: torch.Tensor.put_
                condition: when accumulate=False
                devices: [cpu]
                pass: forward
                probe: {BUILTIN_INDEXING}:put_accumulate_false
                source: test fixture
            """
        ),
        encoding="utf-8",
    )
    load_catalog([catalog], builtin=False)  # validates
    report = audit(catalogs=[catalog], builtin=False, device="cpu", repeat=1)
    (result,) = report.results
    assert result.status is Status.RAISES, result
