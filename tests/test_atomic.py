"""Two runs writing the same set of files at once: what is left on disk comes from one of them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from detaudit.cli.output import write_files

ITERATIONS = 40
NAMES = ("detaudit-x.json", "detaudit-x.md", "detaudit-x.html", "detaudit-x.txt")


def _write(out: Path, writer: str, start: threading.Barrier, failed: list[BaseException]) -> None:
    """One audit's set of files, every one of them saying which writer made it."""
    files = {out / name: f"{writer} {name}\n" * 200 for name in NAMES}
    start.wait()
    try:
        write_files("--out", str(out), files)
    except BaseException as exc:  # noqa: BLE001 - the test reports it
        failed.append(exc)


def test_two_writers_of_one_out_folder_never_mix_their_files(tmp_path, monkeypatch):
    replace = os.replace

    def replace_then_yield(src, dst):
        replace(src, dst)
        time.sleep(0.002)  # let the other writer run between two renames, as a busy machine does

    monkeypatch.setattr(os, "replace", replace_then_yield)
    out = tmp_path / "new" / "out"  # created by whichever writer comes first
    mixed = []
    for i in range(ITERATIONS):
        start = threading.Barrier(2)
        failed: list[BaseException] = []
        threads = [
            threading.Thread(target=_write, args=(out, writer, start, failed))
            for writer in ("one", "two")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failed, failed
        if len({(out / name).read_text().split()[0] for name in NAMES}) != 1:
            mixed.append(i)
    assert mixed == [], f"{len(mixed)} of {ITERATIONS} iterations left files of both writers"
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)  # no lock file, no temporary


def test_a_folder_another_writer_creates_meanwhile_is_used_not_an_error(tmp_path, monkeypatch):
    """The race CI met: the other writer locked a nearer folder and created ours in between."""
    from detaudit import atomic

    found_missing = atomic._missing_folders

    def then_created_by_the_other_writer(folder):
        missing = found_missing(folder)
        for each in missing:
            each.mkdir()
        return missing

    monkeypatch.setattr(atomic, "_missing_folders", then_created_by_the_other_writer)
    out = tmp_path / "new" / "out"
    atomic.write_texts_atomic({out / "a.json": "{}\n"})
    assert (out / "a.json").read_text() == "{}\n"

    def fail_after(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail_after)
    again = tmp_path / "other" / "out"
    try:
        atomic.write_texts_atomic({again / "a.json": "{}\n"})
    except OSError:
        pass
    else:
        raise AssertionError("the failing rename did not fail")
    assert again.is_dir()  # the other writer's folder is not ours to remove
