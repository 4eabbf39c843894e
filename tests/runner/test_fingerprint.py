"""The worker-side fingerprint: the rng canary that tells whether two reports' inputs match."""

from __future__ import annotations


def test_rng_canary_is_stable_and_leaves_the_global_rng_alone():
    import torch

    from detaudit.runner.fingerprint import rng_canary

    state = torch.get_rng_state()
    assert rng_canary("cpu") == rng_canary("cpu")
    assert torch.equal(state, torch.get_rng_state())


def test_the_environment_handler_answers_the_reports_record():
    """The worker sends the report's Environment as is; the parent only adds its own facts."""
    import json

    import torch

    from detaudit.model.environment import Environment
    from detaudit.runner.fingerprint import handle
    from detaudit.runner.protocol import (
        EnvironmentAnswer,
        EnvironmentRequest,
        decode_answer,
        encode,
    )

    answer = handle(EnvironmentRequest(devices=("cpu",)))
    assert isinstance(answer, EnvironmentAnswer) and isinstance(answer.environment, Environment)
    env = answer.environment
    assert env.torch == torch.__version__ and env.rng_cpu and env.inductor is None
    assert (env.time, env.catalog_hash, env.detaudit) == ("", "", "")  # the parent's
    assert decode_answer(json.loads(json.dumps(encode(answer)))) == answer
