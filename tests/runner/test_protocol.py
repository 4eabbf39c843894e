"""The worker protocol: records round-trip through JSON, and every request kind has a handler."""

from __future__ import annotations

import dataclasses
import json

import pytest

from detaudit.model.environment import Environment
from detaudit.model.observation import Compiled, Cost, DispatchedOp, Observation, OpInfoAlert
from detaudit.runner import protocol
from detaudit.runner.protocol import (
    EnvironmentAnswer,
    EnvironmentRequest,
    Lost,
    OpInfoSweepAnswer,
    ProtocolError,
    Refused,
    RunAnswer,
    RunRequest,
    TraceAnswer,
    TraceRequest,
    decode_answer,
    decode_request,
    encode,
)
from detaudit.runner.worker import HANDLERS, handle

#: An answer with every field: each record a worker sends, nested.
FULL = RunAnswer(
    id="put",
    device="cpu",
    seconds=0.25,
    strict=Observation("alert", kernel="put_", message="put_ does not have...", run="strict"),
    warn_only=Observation(
        "ran", kernel="put_", warnings=("put_ does not have...",), run="warn-only 1"
    ),
    later=(Observation("error", exc_type="ValueError", run="mode-off 1"),),
    digests_on=("a", "b"),
    digests_off=("c",),
    backward_only=Observation(
        "unobserved",
        message="not observed",
        run="backward-only",
        restored=("default device",),
        env={"OMP_NUM_THREADS": "1", "CUBLAS_WORKSPACE_CONFIG": None},
    ),
    cost=Cost.from_samples([1.0, 1.2, 0.9], [2.0, 2.5, 1.9]),
    compiled=Compiled(
        "inductor",
        "ran",
        warnings=("scatter_add_ does not have...",),
        runs=3,
        distinct=2,
        digest="d" * 32,
        same_as_eager=False,
        settings={"deterministic": True},
        seconds=1.5,
        restored=("dynamo",),
    ),
    ops={"strict": ("aten::put_",), "mode-off 1": ()},
    retire="the probe changed the default dtype, which cannot be restored",
)

#: A fingerprint as a worker takes it: the parent's own facts (time, hash) left empty.
ENVIRONMENT = EnvironmentAnswer(
    environment=Environment(
        torch="2.13.0",
        torch_git="abc123",
        torch_path="/venv/lib/python3.11/site-packages/torch",
        cuda="12.8",
        cudnn="91000",
        gpu="NVIDIA H200",
        gpu_capability="sm_90",
        gpu_driver="570.1",
        gpu_count=1,
        python="3.11.7",
        os="Linux",
        numpy=None,
        rng_cpu="c" * 32,
        rng_cuda=None,
        inductor={"deterministic": True},
    )
)

#: A trace with a forward op and the backward op its backward dispatched.
TRACE = TraceAnswer(
    id="put",
    records=(
        DispatchedOp(
            "aten::put_.default",
            "forward",
            features={"accumulate": False, "self.ndim": 1, "size": [4, 4], "index": "tensor"},
            tensor_inputs=True,
            calls=2,
            produced=True,
        ),
        DispatchedOp(
            "aten::index_put.default",
            "backward",
            parent="aten::put_.default",
            warnings=("index_put does not have a deterministic...",),
        ),
    ),
)

#: An OpInfo op that alerted forward and backward.
SWEEP = OpInfoSweepAnswer(
    id="put",
    name="put",
    api="torch.Tensor.put",
    aliases=("put_",),
    samples=3,
    backward=2,
    alerts=(
        OpInfoAlert("forward", "raises", "put_", count=3, first_sample=0, sample="x", message="m"),
        OpInfoAlert("backward", "warns", "index_put", count=1, first_sample=2),
    ),
    dtype="float32",
    seconds=0.5,
)

SAMPLES = [
    EnvironmentRequest(devices=("cpu", "cuda")),
    RunRequest(id="put", probe="m:f", device="cpu", repeat=3, seed=0, probe_path="/x", cost=5),
    RunRequest(
        id="put",
        probe="m:f",
        device="cuda",
        repeat=2,
        seed=1,
        probe_args={"mode": "bilinear", "size": [4, 4]},
        compile="inductor",
        compile_deterministic=True,
        compile_timeout=30.0,
        env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "OMP_NUM_THREADS": None},
        backward_only=True,
        skip="the plan knew",
        reaches=("aten::put_", "aten::index_put_"),
    ),
    TraceRequest(id="put", probe="m:f"),
    protocol.OpInfoListRequest(ops=("put", "take")),
    protocol.OpInfoSweepRequest(id="put", device="cpu", seed=0, samples=2),
    protocol.Hello(pid=1, torch="2.13.0", python="3.11.7", numpy=None, devices=("cpu",)),
    EnvironmentAnswer(environment=Environment(torch="2.13.0")),
    ENVIRONMENT,
    FULL,
    RunAnswer(id="put", device="cuda", skip="no CUDA device is available to this torch"),
    TRACE,
    TraceAnswer(id="put", records=()),
    TraceAnswer(id="put", error="RuntimeError: no"),
    protocol.OpInfoListAnswer(ops=("put",), unknown=("nope",), total=700),
    SWEEP,
    OpInfoSweepAnswer(id="put", skip="no dtype supported on cpu"),
    Lost(id="put", device="cpu", request="run", crashed="worker killed by SIGSEGV"),
    Lost(id="put", device="cpu", request="run", timeout=5.0, seconds=5.2, stderr="Traceback..."),
    Refused(message="unknown request 'x'"),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record):
    wire = json.loads(json.dumps(encode(record)))
    assert wire["type"] == record.kind
    decode = decode_request if type(record) in protocol.REQUESTS.values() else decode_answer
    assert decode(wire) == record


def test_a_run_answer_carries_the_models_own_records():
    answer = decode_answer(json.loads(json.dumps(encode(FULL))))
    assert isinstance(answer.strict, Observation) and answer.strict.kernel == "put_"
    assert isinstance(answer.later[0], Observation)
    assert isinstance(answer.cost, Cost) and answer.cost.runs == 3
    assert isinstance(answer.compiled, Compiled) and answer.compiled.bits_repeat is False
    assert answer.ops == {"strict": ("aten::put_",), "mode-off 1": ()}


@pytest.mark.parametrize(
    "change, refused",
    [
        ({"seconds": "0.25"}, r"seconds: expected a number, got \"0.25\""),
        ({"strict": {"outcome": 1}}, r"strict\.outcome: expected a string, got 1"),
        ({"strict": "ran"}, r"strict: expected an object, got \"ran\""),
        ({"later": [{"outcome": "ran", "warnings": "x"}]}, r"later\[0\]\.warnings: expected a list"),
        ({"digests_on": ["a", 2]}, r"digests_on: expected a list of strings"),
        ({"cost": {"off": 1.0}}, r"cost: missing field 'on'"),
        ({"compiled": {"backend": "inductor", "outcome": "ran", "runs": 1.5}}, r"compiled\.runs"),
        ({"ops": {"strict": "aten::put_"}}, r"ops: expected an object of lists"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_a_field_of_the_wrong_type_is_a_protocol_error_naming_it(change, refused):
    wire = {**json.loads(json.dumps(encode(FULL))), **change}
    with pytest.raises(ProtocolError, match=r"^malformed 'result' record: " + refused):
        decode_answer(wire)


def test_the_nested_answers_carry_the_models_own_records():
    environment = decode_answer(json.loads(json.dumps(encode(ENVIRONMENT)))).environment
    assert isinstance(environment, Environment) and environment.gpu_count == 1
    assert environment.inductor == {"deterministic": True}
    trace = decode_answer(json.loads(json.dumps(encode(TRACE))))
    assert all(isinstance(r, DispatchedOp) for r in trace.records)
    assert trace.records[0].pass_ == "forward" and trace.records[1].parent == "aten::put_.default"
    sweep = decode_answer(json.loads(json.dumps(encode(SWEEP))))
    assert all(isinstance(a, OpInfoAlert) for a in sweep.alerts)
    assert sweep.alerts[1].pass_ == "backward" and sweep.alerts[1].message == ""


def test_nested_records_keep_their_json_keys():
    """``pass_`` travels as ``pass``: the trace cache and the sweep keep the keys they had."""
    wire = json.loads(json.dumps(encode(TRACE)))
    assert wire["records"][0]["pass"] == "forward" and "pass_" not in wire["records"][0]
    assert wire["records"][0]["features"]["size"] == [4, 4]
    wire = json.loads(json.dumps(encode(SWEEP)))
    assert set(wire["alerts"][0]) == {
        "pass", "status", "kernel", "count", "first_sample", "sample", "message"
    }  # fmt: skip


def _changed(record, field, change):
    """``record``'s wire form with ``change`` merged into the first item of ``field``."""
    wire = json.loads(json.dumps(encode(record)))
    inner = wire[field][0] if isinstance(wire[field], list) else wire[field]
    inner.update(change)
    for key in [k for k, v in change.items() if v is _GONE]:
        del inner[key]
    return wire


_GONE = object()


@pytest.mark.parametrize(
    "record, field, change, refused",
    [
        (
            ENVIRONMENT,
            "environment",
            {"gpu_count": "1"},
            r"'environment' record: environment\.gpu_count: expected a whole number, got \"1\"",
        ),
        (
            ENVIRONMENT,
            "environment",
            {"torch": _GONE},
            r"'environment' record: environment: missing field 'torch'",
        ),
        (
            ENVIRONMENT,
            "environment",
            {"inductor": {"deterministic": "yes"}},
            r"'environment' record: environment\.inductor: expected an object of true/false",
        ),
        (
            TRACE,
            "records",
            {"op": 1},
            r"'trace' record: records\[0\]\.op: expected a string, got 1",
        ),
        (
            TRACE,
            "records",
            {"calls": 1.5},
            r"'trace' record: records\[0\]\.calls: expected a whole number, got 1\.5",
        ),
        (
            TRACE,
            "records",
            {"warnings": "x"},
            r"'trace' record: records\[0\]\.warnings: expected a list of strings, got \"x\"",
        ),
        (
            TRACE,
            "records",
            {"features": ["accumulate"]},
            r"'trace' record: records\[0\]\.features: expected an object",
        ),
        (
            TRACE,
            "records",
            {"pass": _GONE},
            r"'trace' record: records\[0\]: missing field 'pass'",
        ),
        (
            SWEEP,
            "alerts",
            {"kernel": _GONE},
            r"'opinfo' record: alerts\[0\]: missing field 'kernel'",
        ),
        (
            SWEEP,
            "alerts",
            {"count": "3"},
            r"'opinfo' record: alerts\[0\]\.count: expected a whole number, got \"3\"",
        ),
        (
            SWEEP,
            "alerts",
            {"status": None},
            r"'opinfo' record: alerts\[0\]\.status: expected a string, got null",
        ),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_a_nested_field_of_the_wrong_type_is_a_protocol_error_naming_it(
    record, field, change, refused
):
    with pytest.raises(ProtocolError, match=r"^malformed " + refused):
        decode_answer(_changed(record, field, change))


def test_a_nested_record_that_is_not_an_object_is_refused():
    wire = {**json.loads(json.dumps(encode(TRACE))), "records": ["aten::put_"]}
    with pytest.raises(ProtocolError, match=r"records\[0\]: expected an object"):
        decode_answer(wire)
    wire = {**json.loads(json.dumps(encode(ENVIRONMENT))), "environment": "2.13.0"}
    with pytest.raises(ProtocolError, match=r"environment: expected an object"):
        decode_answer(wire)


def test_a_lost_record_of_the_wrong_type_is_refused_too():
    with pytest.raises(ProtocolError, match=r"malformed 'lost' record: timeout: expected a number"):
        decode_answer({"type": "lost", "id": "e", "timeout": "5 s"})
    with pytest.raises(ProtocolError, match=r"malformed 'lost' record: missing field 'id'"):
        decode_answer({"type": "lost", "timeout": 5.0})


def test_a_request_of_the_wrong_type_is_refused_by_the_worker():
    answer = handle({**encode(SAMPLES[1]), "repeat": "3"})
    assert isinstance(answer, Refused) and answer.id == "put"
    assert answer.message == "malformed 'run' record: repeat: expected a whole number, got \"3\""


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


def test_the_pool_loses_a_request_whose_answer_has_a_field_of_the_wrong_type():
    """The pool checks each answer with the codec: a bad one is that entry's ``crashed``."""
    from detaudit.runner.pool import _not_its_answer

    request = encode(RunRequest(id="put", probe="m:f", device="cpu", repeat=2, seed=0))
    assert _not_its_answer(request, encode(FULL)) is None
    wire = {**encode(FULL), "strict": {"outcome": 1}}
    assert _not_its_answer(request, wire) == (
        "it sent a line that is not a protocol answer "
        "(malformed 'result' record: strict.outcome: expected a string, got 1)"
    )


_UNDER_3_9 = """
import json, sys
from detaudit.model.observation import Compiled, Cost, Observation
from detaudit.runner import protocol as p
answer = p.RunAnswer(
    id="x", device="cpu", strict=Observation("ran", run="strict", env={"A": None}),
    later=(Observation("error"),), cost=Cost.from_samples([1.0, 2.0], [2.0, 3.0]),
    compiled=Compiled("inductor", "ran", settings={"deterministic": True}),
    ops={"strict": ("aten::mul",)},
)
wire = json.loads(json.dumps(p.encode(answer)))
assert p.decode_answer(wire) == answer
request = p.RunRequest(id="x", probe="m:f", device="cpu", repeat=2, seed=0, env={"A": None})
assert p.decode_request(json.loads(json.dumps(p.encode(request)))) == request
from detaudit.model.environment import Environment
from detaudit.model.observation import DispatchedOp, OpInfoAlert
for nested in (
    p.EnvironmentAnswer(environment=Environment(torch="2.13.0", inductor={"deterministic": True})),
    p.TraceAnswer(id="x", records=(DispatchedOp("aten::mul.Tensor", "forward", parent=None),)),
    p.OpInfoSweepAnswer(id="x", alerts=(OpInfoAlert("forward", "raises", "put_", 1, 0),)),
):
    assert p.decode_answer(json.loads(json.dumps(p.encode(nested)))) == nested
try:
    p.decode_answer({**wire, "seconds": "x"})
except p.ProtocolError as exc:
    print(sys.version_info[:2], exc)
"""


def _python_3_9() -> str | None:
    """A Python 3.9 that runs: on PATH, or one pyenv installed; None if there is none."""
    import glob
    import os
    import shutil
    import subprocess
    from pathlib import Path

    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installed = sorted(glob.glob(f"{pyenv}/versions/3.9*/bin/python3.9"))
    candidates = [shutil.which("python3.9"), *installed]
    for python in filter(None, candidates):
        probe = [python, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0 and done.stdout.strip() == "True":
            return python
    return None


def test_the_records_and_their_codec_run_under_python_3_9():
    """A worker's ``--python`` may be 3.9: the codec reads ``X | None`` annotations there too."""
    import os
    import subprocess
    from pathlib import Path

    python = _python_3_9()
    if python is None:
        pytest.skip("no Python 3.9 interpreter here")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [python, "-c", _UNDER_3_9],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "(3, 9) malformed 'result' record: seconds: expected a number, got \"x\""
    )
