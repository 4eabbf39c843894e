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
from detaudit.model.report import LEGACY_RESULT_KEYS, ProbeResult, Report, migrate
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
        # Before the distinct counts, only whether the bits differed (the legacy booleans).
        on, off = result["runs_mode_on"], result["runs_mode_off"]
        result["repeatable"] = result["distinct_on"] == 1 if on >= 2 else None
        result["varies_without_mode"] = result["distinct_off"] > 1 if off >= 2 else None
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
    assert first.backward_only is None
    # Its repeatability is read from the legacy booleans the old reports had.
    assert (first.distinct_on, first.bits_repeat) == (1, True)
    assert first.patterns() == f"1 of {first.runs_mode_on}"
    for fmt, renderer in RENDERERS["report"].items():
        assert renderer.render(report), fmt


def test_the_legacy_booleans_of_an_older_report_migrate_to_counts():
    """h100-torch2.10.json was written before distinct_on/distinct_off: only the booleans."""
    data = json.loads((REPORTS / "h100-torch2.10.json").read_text(encoding="utf-8"))
    assert all("repeatable" in r and "distinct_on" not in r for r in data["results"])
    report = Report.from_dict(data)
    by_key = {(r.id, r.device): r for r in report.results}
    # repeatable: true, varies_without_mode: true, two runs each way
    index_add = by_key[("index-add", "cuda")]
    assert (index_add.distinct_on, index_add.distinct_off) == (1, 2)
    assert (index_add.patterns(), index_add.patterns(mode_on=False)) == ("1 of 2", "2 of 2")
    assert index_add.bits_repeat is True
    # repeatable: false (the warn-only runs of a racy kernel), varies_without_mode: true
    put = by_key[("put-accumulate-false", "cuda")]
    assert (put.distinct_on, put.distinct_off, put.bits_repeat) == (2, 2, False)
    # repeatable: true, varies_without_mode: false
    kthvalue = by_key[("kthvalue", "cuda")]
    assert (kthvalue.distinct_on, kthvalue.distinct_off) == (1, 1)
    # Written again, the report has the counts and not the legacy keys.
    written = report.to_dict()["results"][0]
    assert not set(LEGACY_RESULT_KEYS) & set(written)
    assert (written["distinct_on"], written["distinct_off"]) == (1, 1)


@pytest.mark.parametrize(
    "legacy, counts",
    [
        ({"repeatable": True, "varies_without_mode": False}, (1, 1)),
        ({"repeatable": False, "varies_without_mode": True}, (2, 2)),
        ({"repeatable": None, "varies_without_mode": None}, (None, None)),  # one run
        ({}, (None, None)),
        # A result that has the counts keeps them: the booleans are only dropped.
        ({"repeatable": False, "distinct_on": 3, "distinct_off": 1}, (3, 1)),
    ],
)
def test_migrate_reads_the_legacy_booleans_as_the_fewest_patterns(legacy, counts):
    data = json.loads(REAL.read_text(encoding="utf-8"))
    result = {
        k: v for k, v in data["results"][0].items() if k not in ("distinct_on", "distinct_off")
    }
    data["results"] = [{**result, **legacy}]
    migrated = migrate(data, 1)["results"][0]
    assert not set(LEGACY_RESULT_KEYS) & set(migrated)
    assert (migrated.get("distinct_on"), migrated.get("distinct_off")) == counts


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


def test_annotations_are_read_where_python_cannot_evaluate_x_or_y(monkeypatch):
    """Python 3.9 (a worker's ``--python``) raises TypeError on ``str | None``: rewritten as Union."""
    from detaudit.model import codec

    def python_3_9(cls):
        raise TypeError("unsupported operand type(s) for |: 'type' and 'NoneType'")

    @dataclass(frozen=True)
    class Wire:
        name: str | None
        env: dict[str, str | None] | None = None
        runs: tuple[int, ...] = ()

    monkeypatch.setattr(codec.typing, "get_type_hints", python_3_9)
    hints = codec._hints(Wire)
    assert hints["name"] == str | None and hints["env"] == dict[str, str | None] | None
    assert decode(Wire, {"name": None, "env": {"A": None}, "runs": [1]}) == Wire(
        None, {"A": None}, (1,)
    )
    with pytest.raises(ReportError, match=r"w\.runs: expected a list of whole numbers"):
        decode(Wire, {"name": "x", "runs": ["1"]}, "w")
