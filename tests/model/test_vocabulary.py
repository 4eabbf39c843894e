"""The vocabulary: one table per status, every consumer derived from it, words that print as-is."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import replace

import pytest

from detaudit import devices
from detaudit.catalog import load_catalog
from detaudit.cli import console
from detaudit.compare import diff
from detaudit.errors import ReportError
from detaudit.model.report import ProbeResult, Report, Status
from detaudit.model.reportfile import load_report
from detaudit.model.vocabulary import (
    CLAIMS,
    DEVICES,
    GROUPS,
    PASSES,
    STATUS_INFO,
    Claim,
    Device,
    Group,
    Pass,
    StatusInfo,
    clean_run_status,
)
from detaudit.render import html, markdown
from detaudit.runner.spec import device_choices

from ..conftest import NEW_GPU

WORDS = (Status, Claim, Device, Pass)
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")


def test_every_status_has_a_complete_row():
    assert list(STATUS_INFO) == list(Status)  # a new status without its row fails here
    for status, info in STATUS_INFO.items():
        assert isinstance(info, StatusInfo)
        for f in dataclasses.fields(StatusInfo):
            value = getattr(info, f.name)
            assert value is not None and value != "", (status, f.name)
        assert info.meaning.strip() and info.style.strip(), status
        assert len(info.colour) == 3 and all(_COLOUR.match(c) for c in info.colour), status
        for flag in ("observed", "failed", "ran", "repeats"):
            assert isinstance(getattr(info, flag), bool), (status, flag)
        # the flags nest: repeating bits need a run, a run is an observation, a failure is not
        assert not info.repeats or info.ran
        assert not info.ran or info.observed
        assert not (info.failed and info.observed)
        assert status.info is info


def _id(word) -> str:
    return f"{type(word).__name__}.{word.value}"  # a bare "cuda" id would mark it a GPU test


@pytest.mark.parametrize("word", [w for kind in WORDS for w in kind], ids=_id)
def test_words_print_and_serialise_as_their_values(word):
    value = word.value
    assert value == value.lower() and word == value and hash(word) == hash(value)
    # every way a renderer turns a word into text (Python 3.11 changed format() of str enums)
    assert str(word) == f"{word}" == format(word) == value and f"{word:>10}" == f"{value:>10}"
    assert "{}".format(word) == "%s" % word == value  # noqa: UP031, UP032
    assert json.dumps({word: [word]}) == json.dumps({value: [value]})
    assert "-".join((word, word)) == f"{value}-{value}"  # noqa: FLY002
    assert {value: 1}[word] == 1 and {word: 1}[value] == 1  # mixed keys find each other
    assert type(word)(value) is word


def test_plain_string_tuples_name_every_word():
    assert tuple(d.value for d in Device) == DEVICES and all(type(d) is str for d in DEVICES)
    assert tuple(p.value for p in Pass) == PASSES and all(type(p) is str for p in PASSES)
    assert tuple(c.value for c in Claim) == CLAIMS
    assert GROUPS == (*CLAIMS, "observed") == tuple(g.value for g in Group)
    # The vocabulary's devices are the registry's built-in ones, in its order.
    assert tuple(d.name for d in devices.BUILTIN) == DEVICES
    assert device_choices()[: len(DEVICES) + 1] == ("auto", *DEVICES)
    assert device_choices()[-1] == "all"


def test_a_claim_expects_its_status():
    assert Claim.CONVERTED.status is Status.CONVERTS
    assert Claim.RAISES.status is Status.RAISES


def test_a_clean_run_converts_only_where_the_condition_covers_the_device():
    assert clean_run_status(Device.CUDA, (Device.CUDA,)) is Status.CONVERTS
    assert clean_run_status("cpu", (Device.CUDA,)) is Status.OK
    assert clean_run_status("cpu", ()) is Status.OK  # an op no entry matches


# ---------------------------------------------------------------------------- consumers


def test_consumers_derive_from_the_table():
    assert {s: i.colour for s, i in STATUS_INFO.items()} == html.PALETTE
    assert {s: i.style for s, i in STATUS_INFO.items()} == console.STATUS_STYLE
    assert all(console.STATUS_STYLE[s.value] == STATUS_INFO[s].style for s in Status)
    assert {s for s, i in STATUS_INFO.items() if i.ran} == diff.RAN
    assert {s for s, i in STATUS_INFO.items() if i.repeats} == diff.REPEATS
    assert {s for s in Status if s.observed} == {s for s, i in STATUS_INFO.items() if i.observed}


@pytest.fixture(scope="module")
def every_status() -> Report:
    """A report with one cpu result per status, each with a message to show."""
    report = load_report(NEW_GPU)
    template = next(r for r in report.results if r.device == "cpu")
    results = tuple(
        replace(template, id=f"entry-{s.value}", status=s, message=f"why {s.value}", drift=None)
        for s in Status
    )
    return replace(report, results=results, devices=("cpu",))


def _section(text: str, heading: str, end: str) -> str:
    start = text.index(heading)
    stop = text.find(end, start + len(heading))
    return text[start : stop if stop >= 0 else None]


def _listed(section: str) -> set[Status]:
    return {s for s in Status if f"entry-{s.value}" in section}


def test_the_markdown_not_observed_list_is_every_status_not_observed(every_status):
    section = _section(markdown.render(every_status), "## Not observed", "\n## ")
    assert _listed(section) == {s for s, i in STATUS_INFO.items() if not i.observed}


def test_the_html_not_observed_list_is_every_failed_status(every_status):
    page = html.render(every_status)
    section = _section(page, "<h2>Not observed", "<h2>")
    assert _listed(section) == {s for s, i in STATUS_INFO.items() if i.failed}
    for status, info in STATUS_INFO.items():
        bg, fg, _ = info.colour
        assert f".st-{status} {{ background: {bg}; color: {fg}; }}" in page
        assert info.meaning in page  # the legend


def test_the_markdown_counts_give_each_meaning(every_status):
    text = markdown.render(every_status)
    for status, info in STATUS_INFO.items():
        assert f"| `{status}` | 1 | 1 | {info.meaning} |" in text


# ---------------------------------------------------------------------------- records


def test_a_loaded_report_holds_words():
    report = load_report(NEW_GPU)
    for r in report.results:
        assert type(r.status) is Status and type(r.pass_) is Pass
        assert r.expected is None or type(r.expected) is Status
    data = report.to_dict()
    assert json.dumps(data) == json.dumps(_plain(data))  # the words serialise as their values


def _plain(value):
    """``value`` with every str subclass (a vocabulary word) turned into a plain str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def test_a_bad_word_in_a_report_names_its_field():
    data = load_report(NEW_GPU).results[0].to_dict()
    with pytest.raises(ReportError, match=r"^r\.pass: expected one of forward, backward, got"):
        ProbeResult.from_dict({**data, "pass": "sideways"}, where="r")
    with pytest.raises(ReportError, match=r"^r\.expected: expected one of raises, warns"):
        ProbeResult.from_dict({**data, "expected": "converted"}, where="r")


def test_the_catalogue_holds_words():
    for entry in load_catalog():
        assert type(entry.group) is Group and type(entry.pass_) is Pass
        assert entry.devices and all(type(d) is Device for d in entry.devices)
        assert all(type(claim) is Claim for _, claim in entry.claims)
