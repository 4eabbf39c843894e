"""The one codec of the report schema: every field type checked, omission and key order kept."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detaudit.errors import ReportError
from detaudit.model import report as report_module
from detaudit.model.codec import decode, encode, meta
from detaudit.model.report import ProbeResult, Report, migrate
from detaudit.model.vocabulary import Status
from detaudit.render import RENDERERS

REPORTS = Path(__file__).resolve().parent.parent / "data" / "reports"
REAL = REPORTS / "cpu-torch2.13.0.json"  # a real audit's report, every newer field in it


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    tags: list[str] = field(default_factory=list)
    words: tuple[str, ...] = ()
    either: str | int | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    status: Status | None = field(default=None, metadata=meta(omit="none"))
    pass_: str = field(default="x", metadata=meta(key="pass"))


def test_a_list_of_strings_is_checked():
    assert decode(Sample, {"name": "a", "tags": ["x", "y"]}).tags == ("x", "y")
    with pytest.raises(ReportError, match=r"^s\.tags: expected a list of strings, got \[1\]"):
        decode(Sample, {"name": "a", "tags": [1]}, "s")
    with pytest.raises(ReportError, match=r"^s\.words: expected a list of strings"):
        decode(Sample, {"name": "a", "words": "abc"}, "s")


def test_an_optional_union_takes_null_and_each_of_its_kinds():
    for value in (None, 3, "three"):
        assert decode(Sample, {"name": "a", "either": value}).either == value
    with pytest.raises(ReportError, match=r"either: expected a string or a whole number or null"):
        decode(Sample, {"name": "a", "either": 1.5}, "s")
    with pytest.raises(ReportError, match=r"either: expected .*, got true"):
        decode(Sample, {"name": "a", "either": True}, "s")


def test_mappings_enums_and_missing_fields():
    assert decode(Sample, {"name": "a", "flags": {"x": True}}).flags == {"x": True}
    with pytest.raises(ReportError, match=r"^s\.flags: expected an object of true/false values"):
        decode(Sample, {"name": "a", "flags": {"x": 1}}, "s")
    assert decode(Sample, {"name": "a", "status": "raises"}).status is Status.RAISES
    with pytest.raises(ReportError, match=r"^s\.status: expected one of raises, "):
        decode(Sample, {"name": "a", "status": "melts"}, "s")
    with pytest.raises(ReportError, match=r"^s: missing field 'name'"):
        decode(Sample, {}, "s")
    with pytest.raises(ReportError, match=r"^s: expected an object, got 5"):
        decode(Sample, 5, "s")


def test_encode_renames_omits_and_writes_enum_values():
    assert encode(Sample("a", status=Status.OK)) == {
        "name": "a", "tags": [], "words": [], "either": None, "flags": {}, "status": "ok",
        "pass": "x",
    }  # fmt: skip
    assert "status" not in encode(Sample("a"))
    assert decode(Sample, encode(Sample("a", ["t"], either=2))) == Sample("a", ("t",), either=2)


def test_a_real_report_round_trips_byte_for_byte():
    text = REAL.read_text(encoding="utf-8")
    report = Report.from_dict(json.loads(text))
    assert RENDERERS["report"]["json"].render(report) == text
    assert any(r.backward_only is not None for r in report.results)  # the late keys are there


def test_a_probe_result_writes_pass_and_backward_only_last():
    data = json.loads(REAL.read_text(encoding="utf-8"))
    for raw in data["results"]:
        keys = list(ProbeResult.from_dict(raw).to_dict())
        assert keys == list(raw)
        tail = (
            ["pass", "backward_only", "backward_only_status"]
            if "backward_only" in raw
            else ["pass"]
        )
        assert keys[-len(tail) :] == tail


def _oldest_shape(data: dict) -> dict:
    """The report as the first schema-1 detaudit wrote it: none of the fields added since."""
    old = copy.deepcopy(data)
    for key in ("catalog_docs_newest", "census", "devices", "settings"):
        old.pop(key, None)
    old["environment"].pop("torch_path", None)
    for result in old["results"]:
        for key in ("distinct_on", "distinct_off", "backward_only", "backward_only_status"):
            result.pop(key, None)
        for obs in (result.get("strict"), result.get("warn_only"), *result.get("later", [])):
            if obs:
                obs.pop("run", None)
                obs.pop("restored", None)
    return old


def test_an_old_shape_report_migrates_and_renders():
    data = json.loads(REAL.read_text(encoding="utf-8"))
    report = Report.from_dict(_oldest_shape(data))
    assert report.devices == () and report.settings == {} and report.census is None
    assert report.environment.torch_path is None
    first = report.results[0]
    assert first.distinct_on is None and first.backward_only is None
    # Its repeatability is read from the legacy booleans the old reports had.
    assert first.patterns() == f"1 of {first.runs_mode_on}"
    for fmt, renderer in RENDERERS["report"].items():
        assert renderer.render(report), fmt


def test_each_older_schema_migrates_through_its_step(monkeypatch):
    """A schema-0 report would reach the reader through MIGRATIONS[0], then the schema-1 shapes."""
    data = json.loads(REAL.read_text(encoding="utf-8"))
    zero = {**data, "schema_version": 0, "machine": data["environment"]}
    del zero["environment"]

    def step(old: dict) -> dict:
        new = dict(old)
        new["environment"] = new.pop("machine")
        return new

    monkeypatch.setitem(report_module.MIGRATIONS, 0, step)
    migrated = migrate(zero, 0)
    assert migrated["environment"] == data["environment"] and "machine" not in migrated
    assert decode(Report, migrated) == Report.from_dict(data)
