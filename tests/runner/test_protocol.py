"""The worker protocol: records round-trip through JSON, and every request kind has a handler."""

from __future__ import annotations

import dataclasses
import json

import pytest

from detaudit.runner import protocol
from detaudit.runner.protocol import (
    EnvironmentRequest,
    Lost,
    OpInfoSweepAnswer,
    ProtocolError,
    Refused,
    RunAnswer,
    RunRequest,
    TraceRequest,
    decode_answer,
    decode_request,
    encode,
)
from detaudit.runner.worker import HANDLERS, handle

SAMPLES = [
    EnvironmentRequest(devices=("cpu", "cuda")),
    RunRequest(id="put", probe="m:f", device="cpu", repeat=3, seed=0, probe_path="/x", cost=5),
    TraceRequest(id="put", probe="m:f"),
    protocol.OpInfoListRequest(ops=("put", "take")),
    protocol.OpInfoSweepRequest(id="put", device="cpu", seed=0, samples=2),
    protocol.Hello(pid=1, torch="2.13.0", python="3.11.7", numpy=None, devices=("cpu",)),
    protocol.EnvironmentAnswer(environment={"torch": "2.13.0"}),
    RunAnswer(
        id="put",
        device="cpu",
        seconds=0.25,
        strict={"outcome": "alert", "kernel": "put_", "warnings": []},
        later=({"outcome": "error", "run": "mode-off 1"},),
        digests_on=("a", "b"),
        digests_off=("c",),
    ),
    protocol.TraceAnswer(id="put", records=({"op": "aten::put_"},)),
    protocol.OpInfoListAnswer(ops=("put",), unknown=("nope",), total=700),
    OpInfoSweepAnswer(id="put", name="put", alerts=({"kernel": "put_"},), samples=3),
    Lost(id="put", device="cpu", request="run", crashed="worker killed by SIGSEGV"),
    Refused(message="unknown request 'x'"),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record):
    wire = json.loads(json.dumps(encode(record)))
    assert wire["type"] == record.kind
    decode = decode_request if type(record) in protocol.REQUESTS.values() else decode_answer
    assert decode(wire) == record


def test_every_record_kind_is_registered_once():
    kinds = [cls.kind for cls in protocol.REQUESTS.values()]
    assert len(kinds) == len(set(kinds))
    assert {type(r) for r in SAMPLES} == {*protocol.REQUESTS.values(), *protocol.ANSWERS.values()}


def test_every_request_kind_has_a_handler_and_every_handler_a_request():
    assert set(HANDLERS) == set(protocol.REQUESTS)


def test_unknown_keys_are_ignored_and_unknown_kinds_refused():
    wire = {**encode(EnvironmentRequest()), "from_the_future": 1}
    assert decode_request(wire) == EnvironmentRequest()
    with pytest.raises(ProtocolError, match="unknown request 'nope'"):
        decode_request({"type": "nope"})
    with pytest.raises(ProtocolError, match="malformed 'run' record"):
        decode_request({"type": "run", "id": "x"})


def test_the_pool_reports_a_lost_request_as_a_typed_record():
    lost = decode_answer({"type": "lost", "id": "e", "device": "cpu", "timeout": 5.0})
    assert isinstance(lost, Lost) and lost.why == "still running after 5 s; worker killed"
    # Its kind is never guessed from its keys: an untyped record is no answer.
    with pytest.raises(ProtocolError, match="unknown answer None"):
        decode_answer({"id": "e", "device": "cpu", "timeout": 5.0, "seconds": 5.2})


def test_a_worker_refuses_what_it_cannot_decode():
    answer = handle({"type": "nope", "id": "e"})
    assert isinstance(answer, Refused) and answer.id == "e"


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLES[1].seed = 3  # type: ignore[misc]
