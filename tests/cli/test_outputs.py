"""Output files: a bad place is exit 2 before any work; a failed write is exit 3 and changes nothing."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from detaudit import cli
from detaudit.atomic import unwritable_reason, write_texts_atomic
from detaudit.render import RENDERERS, Renderer

from ..conftest import NEW_GPU, OLD_GPU, run_cli

#: Far below a worker's start (it imports torch): the check ran before any work.
FAST = 20.0


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    path = tmp_path / "afile"
    path.write_text("a file, not a folder\n")
    return path


def _one_error_line(result, code: int, *words: str) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("detaudit: error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def _no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------ a bad place: exit 2, at once


@pytest.mark.parametrize("where", ["under-a-file", "a-file", "proc", "proc-new"])
def test_audit_out_that_cannot_be_written_is_exit_2_before_any_worker(afile, where):
    out = {
        "under-a-file": f"{afile}/sub",
        "a-file": str(afile),
        "proc": "/proc/self",
        "proc-new": "/proc/self/new",
    }[where]
    started = time.monotonic()
    result = run_cli("audit", "--device", "cpu", "--only", "index-add", "--out", out)
    assert time.monotonic() - started < FAST
    line = _one_error_line(result, 2, f"--out {out}: ", "; give a folder you can write to")
    if where.startswith("proc"):
        assert "/proc/self is not writable" in line
    else:
        assert f"{afile} is a file, not a folder" in line
    assert "index-add" not in result.stderr + result.stdout  # no progress line: nothing ran


def test_audit_out_that_will_be_created_is_not_created_by_the_check(tmp_path):
    assert unwritable_reason(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists()
    assert os.listdir(tmp_path) == []  # the trial file is gone too


def test_o_that_cannot_be_written_is_exit_2_for_every_command(afile, tmp_path):
    script = tmp_path / "script.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    under = f"{afile}/sub/out.md"
    runs = {
        "diff": ["diff", str(OLD_GPU), str(NEW_GPU), "-o", under],
        "table": ["table", str(OLD_GPU), "-o", "/proc/self/x.md"],
        "table-folder": ["table", str(OLD_GPU), "-o", str(tmp_path)],
        "scan": ["scan", "-o", under, "--", "python", str(script)],
        "scan-static": ["scan", "--static", "-o", under, str(script)],
        "discover": ["discover", "--op", "put", "--emit-yaml", f"{afile}/found.yaml"],
    }
    for name, args in runs.items():
        started = time.monotonic()
        result = run_cli(*args)
        assert time.monotonic() - started < FAST, name
        option = "--emit-yaml" if name == "discover" else "-o"
        given = args[args.index(option) + 1]
        _one_error_line(result, 2, f"{option} {given}: ")
    assert not marker.exists()  # the scanned program never ran


# ------------------------------------------------------------ a failed write: exit 3, no change


def _fail_on_call(monkeypatch, name: str, n: int, error: int) -> None:
    """Make ``os.NAME`` fail with ``error`` on its ``n``-th call from now (1-based) only.

    Later calls work: undoing a partial write (renaming the old files back) must.
    """
    real = getattr(os, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)


@pytest.mark.parametrize("name,n,error", [("fsync", 2, errno.ENOSPC), ("replace", 2, errno.EROFS)])
def test_write_texts_atomic_writes_all_or_nothing(tmp_path, monkeypatch, name, n, error):
    old = tmp_path / "old.md"
    old.write_text("the user's file\n")
    new = tmp_path / "new" / "deep" / "new.json"
    third = tmp_path / "third.html"
    _fail_on_call(monkeypatch, name, n, error)
    with pytest.raises(OSError) as caught:
        write_texts_atomic({old: "replaced\n", new: "{}\n", third: "<html>\n"})
    monkeypatch.undo()
    assert caught.value.errno == error and caught.value.filename in (str(new), str(third))
    assert old.read_text() == "the user's file\n"  # restored even after its rename
    assert not new.exists() and not (tmp_path / "new").exists() and not third.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.md"]


def test_write_texts_atomic_replaces_and_keeps_the_mode(tmp_path):
    target = tmp_path / "r.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_texts_atomic({link: "new", tmp_path / "sub" / "x.json": "{}"})
    assert link.is_symlink() and target.read_text() == "new"  # written through the link
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "sub" / "x.json").stat().st_mode) == 0o666 & ~mask
    _no_temporaries(tmp_path)


def test_diff_o_on_a_full_disk_is_exit_3_and_leaves_the_old_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "diff.md"
    out.write_text("yesterday's diff\n")
    _fail_on_call(monkeypatch, "fsync", 1, errno.ENOSPC)
    code = cli.main(["diff", str(OLD_GPU), str(NEW_GPU), "--format", "md", "-o", str(out)])
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert code == 3, captured.err
    assert captured.err.strip().splitlines() == [
        f"detaudit: error: -o {out}: cannot write: No space left on device; "
        + "no file was written or changed"
    ]
    assert captured.out == ""
    assert out.read_text() == "yesterday's diff\n"
    _no_temporaries(tmp_path)


def test_table_o_dev_full_is_exit_3_in_one_line(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = run_cli("table", str(OLD_GPU), "--format", "md", "-o", "/dev/full")
    _one_error_line(result, 3, "/dev/full", "No space left on device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written in place, not replaced


@pytest.mark.slow  # an audit of its own in a process of its own
def test_audit_writes_every_format_or_none(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    args = ["audit", "--device", "cpu", "--only", "index-add", "--repeat", "1", "-q"]
    args += ["--format", "json,md,html", "--out", str(out)]
    assert cli.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["wrote"] * 3
    paths = [Path(line.split(maxsplit=1)[1]) for line in lines]
    assert [p.suffix for p in paths] == [".json", ".md", ".html"]
    assert sorted(out.iterdir()) == sorted(paths)
    paths[0].unlink()  # a failed run must not create the .json either
    before = {p.name: p.read_text() for p in paths[1:]}

    _fail_on_call(monkeypatch, "fsync", 3, errno.ENOSPC)  # the third file: html
    code = cli.main(args)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 3
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"detaudit: error: --out {out}: cannot write {out}/")
    )
    assert "No space left on device; no file was written or changed" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == before


def test_discover_emit_yaml_writes_both_files_or_none(tmp_path, monkeypatch, capsys):
    from detaudit.docs import discover

    yaml_path = tmp_path / "found.yaml"
    probes = tmp_path / "found_probes.py"
    monkeypatch.setattr(discover, "discover", lambda **kwargs: SimpleNamespace(uncovered=["x"]))
    monkeypatch.setitem(RENDERERS["discovery"], "text", Renderer(lambda found: "swept\n", ".txt"))
    monkeypatch.setattr(
        discover, "emit_catalog", lambda found, path: {path: "raises: []\n", probes: "# p\n"}
    )
    argv = ["discover", "--op", "put", "--emit-yaml", str(yaml_path)]
    _fail_on_call(monkeypatch, "replace", 2, errno.EIO)  # the second rename: the YAML stays?
    code = cli.main(argv)
    monkeypatch.undo()
    _, err = capsys.readouterr()
    assert (
        code == 3 and f"--emit-yaml {yaml_path}: cannot write" in err and len(err.splitlines()) == 1
    )
    assert os.listdir(tmp_path) == []  # no: the first rename is undone


def test_discover_emit_yaml_both_files_when_the_disk_works(tmp_path, monkeypatch, capsys):
    from detaudit.docs import discover

    yaml_path = tmp_path / "new" / "found.yaml"
    probes = yaml_path.with_name("found_probes.py")
    monkeypatch.setattr(discover, "discover", lambda **kwargs: SimpleNamespace(uncovered=["x"]))
    monkeypatch.setitem(RENDERERS["discovery"], "text", Renderer(lambda found: "swept\n", ".txt"))
    monkeypatch.setattr(
        discover, "emit_catalog", lambda found, path: {path: "raises: []\n", probes: "# p\n"}
    )
    assert cli.main(["discover", "--emit-yaml", str(yaml_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "swept\n"
    assert err.splitlines() == [f"wrote {yaml_path}", f"wrote {probes}"]
    assert yaml_path.read_text() == "raises: []\n" and probes.read_text() == "# p\n"


# ------------------------------------------------------------ no OSError is an internal error


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied", "/some/where"),
        IsADirectoryError(errno.EISDIR, "Is a directory", "/some/where"),
        OSError(errno.EROFS, "Read-only file system", "/some/where"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_an_oserror_anywhere_is_exit_3_in_one_line(monkeypatch, capsys, error):
    def refuse(args):
        raise error

    from detaudit.cli import env

    monkeypatch.setattr(env, "run", refuse)
    assert cli.main(["env"]) == 3
    err = capsys.readouterr().err
    where = "/some/where: " if error.filename else ""
    assert err == f"detaudit: error: {where}{error.strerror}\n"
