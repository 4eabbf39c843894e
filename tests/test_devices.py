"""The device registry: built-in entries, plugins by entry point, and an audit on a fake device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from detaudit import devices
from detaudit.catalog import load_catalog
from detaudit.compare.bits import inputs_key
from detaudit.compare.naming import report_title
from detaudit.errors import CatalogError, EnvironmentUnsupported, UsageError
from detaudit.model.report import Environment, Report
from detaudit.model.vocabulary import DEVICES
from detaudit.runner.spec import device_choices, resolve_devices

ROOT = Path(__file__).resolve().parent.parent

#: A second CPU under another name: probes run on torch's CPU, reports say ``cpu2``.
#: What a package adding a device (XPU) ships, in miniature.
PLUGIN = '''"""A fake device for detaudit's tests: the CPU under another name."""

from detaudit.devices import DeviceInfo

CPU2 = DeviceInfo(
    name="cpu2",
    label="second CPU",
    available=lambda: True,
    torch_type="cpu",
    auto=False,
    headline=lambda environment: "the CPU again",
)
'''

CATALOG = """raises:
  - id: put-on-cpu2
    api: torch.Tensor.put_
    condition: on the second CPU
    devices: [cpu2]
    pass: forward
    probe: detaudit.probes.indexing:put_accumulate_false
    source: a test
"""


def _install(folder: Path, body: str = PLUGIN, value: str = "detaudit_cpu2:CPU2") -> Path:
    """A package declaring one device, as pip would leave it: a module and its dist-info."""
    (folder / "detaudit_cpu2.py").write_text(body, encoding="utf-8")
    info = folder / "detaudit_cpu2-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: detaudit-cpu2\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{devices.ENTRY_POINT_GROUP}]\ncpu2 = {value}\n", encoding="utf-8"
    )
    return folder


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The cpu2 package on this process's path, the registry re-read; both undone after."""
    monkeypatch.syspath_prepend(str(_install(tmp_path)))
    monkeypatch.setattr(devices, "_plugins", None)
    monkeypatch.delitem(sys.modules, "detaudit_cpu2", raising=False)
    yield devices.get("cpu2")
    sys.modules.pop("detaudit_cpu2", None)


def test_the_builtin_devices_are_the_vocabulary_in_order():
    assert tuple(d.name for d in devices.BUILTIN) == DEVICES == ("cpu", "cuda", "mps")
    assert all(d.torch_type == d.name and d.auto for d in devices.BUILTIN)
    assert devices.get("cpu").available() is True
    assert devices.by_type("cuda") is devices.get("cuda")
    assert devices.ordered(["mps", "cpu"]) == ("cpu", "mps")


def test_the_absent_device_errors_say_what_was_checked_and_what_to_do():
    assert devices.get("cuda").absent == (
        "cuda: this torch sees no CUDA device (torch.cuda.is_available() is False); "
        "run on a GPU machine or use {0} cpu"
    )
    assert devices.get("mps").absent == (
        "mps: this torch sees no MPS device (torch.backends.mps.is_available() is False); "
        "run on Apple silicon with an MPS build of torch or use {0} cpu"
    )
    assert devices.get("mps").missing == "no MPS device is available to this torch"


def test_an_unknown_device_is_a_usage_error_and_names_the_known_ones():
    assert devices.find("tpu") is None and not devices.known("tpu")
    with pytest.raises(UsageError, match=r"cpu, cuda, mps.*'tpu'"):
        devices.get("tpu")


@pytest.mark.parametrize("name", ["auto", "all", "CPU", "x-pu", ""])
def test_a_device_cannot_take_an_option_word_or_a_non_word(name):
    with pytest.raises(UsageError, match="lowercase word"):
        devices.DeviceInfo(name=name, label="X", available=lambda: True)


def test_a_device_whose_check_fails_is_absent_not_fatal(monkeypatch):
    def broken() -> bool:
        raise AttributeError("module 'torch' has no attribute 'xpu'")

    xpu = devices.DeviceInfo(name="xpu", label="XPU", available=broken)
    monkeypatch.setattr(devices, "_plugins", (xpu,))
    assert devices.names()[-1] == "xpu"
    assert "cpu" in devices.present() and "xpu" not in devices.present()


def test_alert_sites_are_placed_by_the_registrys_patterns(monkeypatch):
    assert devices.site_device("put_", "at::native::put_", "libtorch_cpu.so") == "cpu"
    assert devices.site_device("index_add_cuda_", "", "libtorch.so") == "cuda"
    assert devices.site_device("x", "f", "libtorch_cuda.so") == "cuda"
    assert devices.site_device("scatter_mps with index", "at::native::_gpu_x", "lib") == "mps"
    xpu = devices.DeviceInfo(name="xpu", label="XPU", available=lambda: False, site_names="xpu")
    monkeypatch.setattr(devices, "_plugins", (xpu,))
    assert devices.site_device("index_add_xpu_cuda_like", "", "libtorch.so") == "xpu"


def test_the_title_adds_each_devices_words():
    env = Environment(torch="2.13.0", gpu="NVIDIA H200", gpu_capability="sm_90")
    assert report_title(Report(env, (), ("cpu",))) == "torch 2.13.0 · cpu"
    assert report_title(Report(env, (), ("cpu", "cuda"))) == (
        "torch 2.13.0 · cpu + cuda · NVIDIA H200 (sm_90)"
    )
    # A report of a device this detaudit does not know (its plugin not installed) still titles.
    assert report_title(Report(env, (), ("npu",))) == "torch 2.13.0 · npu"


def test_bits_compare_on_the_canary_field_the_registry_names():
    env = Environment(torch="2.13.0", rng_cpu="aa", rng_cuda="bb")
    report = Report(env, (), ("cpu", "cuda", "mps"), settings={"seed": 0})
    assert inputs_key(report, "cpu") == ("cpu", 0, "aa")
    assert inputs_key(report, "cuda") == ("cuda", 0, "bb")
    assert inputs_key(report, "mps") is None  # no canary: never compared


def test_a_plugin_device_is_found_by_entry_point(plugin):
    assert plugin.name == "cpu2" and plugin.torch_type == "cpu"
    assert devices.names() == ("cpu", "cuda", "mps", "cpu2")
    assert device_choices() == ("auto", "cpu", "cuda", "mps", "cpu2", "all")
    assert devices.by_type("cpu") is devices.get("cpu")  # the built-in comes first
    assert resolve_devices("auto", ("cpu", "cpu2")) == ("cpu",)  # auto=False
    assert resolve_devices("all", ("cpu",)) == ("cpu", "cuda", "mps", "cpu2")
    assert resolve_devices("cpu2", ("cpu", "cpu2")) == ("cpu2",)
    with pytest.raises(EnvironmentUnsupported, match=r"^device cpu2: .*second CPU"):
        resolve_devices("cpu2", ("cpu",))


def test_a_catalogue_names_a_plugin_device_only_once_registered(tmp_path, plugin):
    path = tmp_path / "mine.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    (entry,) = load_catalog([path], builtin=False).entries
    assert entry.devices == ("cpu2",)
    devices._plugins = ()  # the package gone (monkeypatch puts the registry back)
    with pytest.raises(CatalogError, match="devices must be a non-empty list of cpu, cuda, mps"):
        load_catalog([path], builtin=False)


@pytest.mark.parametrize(
    "body,value,why",
    [
        ("X = 1\n", "detaudit_cpu2:X", "names int, not a DeviceInfo"),
        (
            "from detaudit.devices import CPU\n",
            "detaudit_cpu2:CPU",
            "device 'cpu' is already registered",
        ),
    ],
)
def test_a_bad_plugin_is_a_usage_error_naming_its_entry_point(
    tmp_path, monkeypatch, body, value, why
):
    monkeypatch.syspath_prepend(str(_install(tmp_path, body, value)))
    monkeypatch.setattr(devices, "_plugins", None)
    monkeypatch.delitem(sys.modules, "detaudit_cpu2", raising=False)
    with pytest.raises(UsageError, match=f"entry point cpu2 = {value}.*{why}"):
        devices.names()
    sys.modules.pop("detaudit_cpu2", None)


def test_an_audit_runs_on_a_plugin_device_through_real_workers(tmp_path):
    """The CLI, the plan and the workers all find cpu2 by its entry point; nothing else is edited.

    cpu2 runs torch's CPU under another name, so its results are the CPU's, bit for bit.
    """
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    catalog = tmp_path / "mine.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    only = ("put-accumulate-false", "index-copy", "put-on-cpu2")
    done = subprocess.run(
        [sys.executable, "-m", "detaudit", "audit", "--device", "all", "--catalog", str(catalog)]
        + [f"--only={entry}" for entry in only]
        + ["--repeat", "2", "--no-census", "--format", "json", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (written,) = out.glob("*.json")
    report = json.loads(written.read_text(encoding="utf-8"))
    assert report["devices"] == ["cpu", "cuda", "mps", "cpu2"]
    by = {(r["id"], r["device"]): r for r in report["results"]}
    for entry in ("put-accumulate-false", "index-copy"):
        cpu, cpu2 = by[(entry, "cpu")], by[(entry, "cpu2")]
        # The same run; only the docs' word differs (they cover cpu, not cpu2: ok, not converts).
        same = {"converts": "ok"}.get(cpu["status"], cpu["status"])
        assert cpu2["status"] == same != "skipped", (cpu, cpu2)
    # index_copy under the mode is deterministic: the same bits on both names. (put_ is not:
    # its CPU kernel runs in parallel, so its bits may differ from run to run.)
    assert by[("index-copy", "cpu2")]["digest"] == by[("index-copy", "cpu")]["digest"] is not None
    assert by[("put-accumulate-false", "cpu2")]["status"] == "raises"
    # The user entry's condition covers cpu2 only: there it raises, as its group claims.
    mine = by[("put-on-cpu2", "cpu2")]
    assert (mine["status"], mine["expected"], mine["drift"]) == ("raises", "raises", False)
    # The terminal summary names the device, and its title the device's own words.
    shown = (done.stdout + done.stderr).splitlines()
    assert any(line.startswith("cpu2: ") and "raises" in line for line in shown), shown
    assert any(line.startswith("detaudit: ") and "cpu2 · the CPU again" in line for line in shown)
