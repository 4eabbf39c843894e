"""The decoder on a library compiled here: every call found, its string and function read."""

from __future__ import annotations

import pytest

pytest.importorskip("lief", reason='the sites extra is missing: pip install "detaudit[sites]"')
pytest.importorskip("capstone", reason='the sites extra is missing: pip install "detaudit[sites]"')

from detaudit.sites.binary import scan_library

from .conftest import ALERTS, compile_library


def test_every_call_and_its_string_is_found(fake_library):
    scan = scan_library(fake_library)
    assert scan.arch == "x86_64"
    assert {c.alert for c in scan.calls} == ALERTS
    by_alert = {c.alert: c.symbol for c in scan.calls}
    assert "fake_kernel_backward_cuda" in by_alert["fake_kernel_backward_cuda"]
    assert "fake_scatter_mps" in by_alert["fake_scatter_mps with index"]
    assert scan.cublas_markers == ()


@pytest.mark.parametrize("flags", [("-fno-plt",), ("-O1",), ("-O3",), ("-Os",)], ids=str)
def test_calls_through_the_got_and_at_every_optimisation_level_are_found(tmp_path, flags):
    scan = scan_library(compile_library(tmp_path, "libfake.so", *flags))
    assert {c.alert for c in scan.calls} == ALERTS


def test_the_cublas_check_message_is_seen(tmp_path):
    library = compile_library(tmp_path, "libfake.so")
    with open(library, "ab") as handle:
        handle.write(b"Deterministic behavior was enabled with either `torch.use_det...\0")
    assert scan_library(library).cublas_markers


def test_a_library_without_the_alert_function_has_no_calls(tmp_path):
    source = tmp_path / "plain.c"
    source.write_text("int f(int x) { return x + 1; }\n", encoding="utf-8")
    import subprocess

    subprocess.run(
        ["gcc", "-shared", "-fPIC", str(source), "-o", str(tmp_path / "p.so")], check=True
    )
    assert scan_library(tmp_path / "p.so").calls == ()
