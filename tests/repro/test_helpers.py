"""seed_everything, deterministic() and the DataLoader helpers: what they set, and that it all comes back."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import detaudit
from detaudit import devices, torchstate
from detaudit.repro.bitwise import first_difference
from detaudit.repro.helpers import (
    DETERMINISTIC_FLAGS,
    ReproducibilityWarning,
    capture,
    set_cublas_workspace_config,
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """Put flags and RNGs back after each test, without the code under test."""
    import torch._inductor.config  # so that snapshots hold Inductor's flag

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    flags = torchstate.snapshot()
    rngs = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    torchstate.restore(flags)
    random.setstate(rngs[0])
    np.random.set_state(rngs[1])
    torch.set_rng_state(rngs[2])


def _fresh_python(code: str, *args: str) -> str:
    """What ``code`` prints in a fresh process, without detaudit's or Inductor's variables."""
    unset = ("CUBLAS_WORKSPACE_CONFIG", "TORCHINDUCTOR_DETERMINISTIC")
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k not in unset},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _draws() -> tuple:
    return random.random(), np.random.rand(3), torch.rand(3), torch.randn(2, 2)


def _unusual_start() -> None:
    """A state unlike both torch's defaults and what seed_everything sets."""
    import torch._inductor.config as inductor

    torchstate.set_deterministic_algorithms(True, warn_only=True)
    torchstate.set_flags(
        {
            "cudnn.benchmark": True,
            "fill_uninitialized_memory": False,
            "mkldnn.deterministic": False,
            "default_dtype": torch.float64,
        }
    )
    inductor.deterministic = False
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    _draws()


def test_deterministic_turns_on_every_setting():
    import torch._inductor.config as inductor

    with detaudit.deterministic(seed=3):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert inductor.deterministic is True
        assert torch.backends.cudnn.deterministic is True
        assert torch.backends.cudnn.benchmark is False
        assert torch.utils.deterministic.fill_uninitialized_memory is True
        assert torch.backends.mkldnn.deterministic is True
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        with pytest.raises(RuntimeError, match="put_ does not have a deterministic"):
            torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("body_raises", [False, True], ids=["returns", "raises"])
def test_deterministic_restores_every_flag_variable_and_rng(body_raises):
    import torch._inductor.config as inductor

    _unusual_start()
    before = capture()
    expected_next = _draws()  # what the RNGs give next from the saved state
    before.restore()
    flags_before = torchstate.snapshot()

    class Boom(Exception):
        pass

    raises = pytest.raises(Boom) if body_raises else contextlib.nullcontext()
    with raises, detaudit.deterministic(seed=7):
        _draws()
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = False
        torch.set_default_dtype(torch.float16)
        torch.set_grad_enabled(False)
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
        if body_raises:
            raise Boom

    assert first_difference(before.as_dict(), capture().as_dict(), "state") is None
    assert torchstate.snapshot() == flags_before
    assert inductor.deterministic is False
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.benchmark is True
    assert torch.get_default_dtype() == torch.float64
    assert torch.is_grad_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert first_difference(expected_next, _draws(), "draws") is None


def test_deterministic_without_seed_still_restores_the_rngs():
    random.seed(5)
    before = capture()
    with detaudit.deterministic():
        inside = random.random()
    random.seed(5)
    assert random.random() == inside  # not reseeded
    assert random.getstate() != before.python_rng  # (drew once since)
    before.restore()


def test_deterministic_works_as_a_decorator():
    @detaudit.deterministic(seed=1)
    def draw() -> torch.Tensor:
        assert torch.are_deterministic_algorithms_enabled()
        return torch.rand(3)

    assert torch.equal(draw(), draw())
    assert not torch.are_deterministic_algorithms_enabled()


def test_warn_only_turns_the_alert_into_a_warning():
    with (
        detaudit.deterministic(seed=0, warn_only=True),
        pytest.warns(UserWarning, match="put_ does not have a deterministic"),
    ):
        torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def test_seed_everything_makes_draws_equal_and_returns_the_old_state():
    _unusual_start()
    start = capture()
    saved = detaudit.seed_everything(2024)
    first = _draws()
    detaudit.seed_everything(2024)
    second = _draws()
    detaudit.seed_everything(2025)
    other = _draws()
    assert first_difference(first, second) is None
    assert first_difference(first, other) is not None
    assert torch.are_deterministic_algorithms_enabled()
    assert all(torchstate.snapshot()[k] == v for k, v in DETERMINISTIC_FLAGS.items())
    saved.restore()
    assert first_difference(start.as_dict(), capture().as_dict()) is None


def test_seed_everything_without_deterministic_touches_no_flag():
    flags = torchstate.snapshot()
    detaudit.seed_everything(9, deterministic=False)
    a = _draws()
    detaudit.seed_everything(9, deterministic=False)
    assert first_difference(a, _draws()) is None
    assert torchstate.snapshot() == flags
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_seed_matches_seeding_each_library_yourself():
    detaudit.seed_everything(77, deterministic=False)
    ours = _draws()
    random.seed(77)
    np.random.seed(77)
    torch.manual_seed(77)
    assert first_difference(ours, _draws()) is None


@pytest.mark.parametrize(
    "seed, error, words",
    [
        (-1, ValueError, "got -1"),
        (2**32, ValueError, "got 4294967296"),
        (True, TypeError, "bool"),
        (1.0, TypeError, "float"),
        ("3", TypeError, "str"),
        (None, TypeError, "NoneType"),
    ],
)
def test_bad_seeds_are_refused_with_a_clear_message(seed, error, words):
    flags = torchstate.snapshot()
    calls = [lambda: detaudit.seed_everything(seed), lambda: detaudit.dataloader_generator(seed)]
    if seed is not None:  # deterministic(None) means "do not seed"
        calls.append(lambda: detaudit.deterministic(seed))
    for call in calls:
        with pytest.raises(error, match=r"seed must be .*\[0, 4294967295\]") as info:
            call()
        assert words in str(info.value)
    assert torchstate.snapshot() == flags  # refused before changing anything


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_numpy_integers_and_the_limits_are_accepted():
    """A numpy integer seeds like the same Python int; both ends of numpy's range work."""
    detaudit.seed_everything(np.int64(5), deterministic=False)
    from_numpy = _draws()
    detaudit.seed_everything(5, deterministic=False)
    assert _draws() == from_numpy
    for seed in (0, 2**32 - 1):
        detaudit.seed_everything(seed, deterministic=False)
        first = _draws()
        detaudit.seed_everything(seed, deterministic=False)
        assert _draws() == first
        assert torch.initial_seed() == seed


def test_cublas_config_set_when_unset_and_restored():
    with detaudit.deterministic():
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_cublas_config_of_the_user_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with detaudit.deterministic():
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_cublas_warning_when_cuda_already_started(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.warns(ReproducibilityWarning, match="cuBLAS will not pick it up"):
        set_cublas_workspace_config()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        set_cublas_workspace_config()  # already set: nothing to warn about


def test_no_cublas_warning_before_cuda_starts(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        set_cublas_workspace_config()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


@pytest.mark.slow  # imports Inductor in a fresh process
def test_inductor_flag_restored_when_inductor_was_not_imported():
    # torch.use_deterministic_algorithms imports Inductor to set its flag; the
    # flag must still be back at its default afterwards.
    code = (
        "import sys, torch, detaudit\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "with detaudit.deterministic(seed=0):\n"
        "    import torch._inductor.config as c\n"
        "    assert c.deterministic is True\n"
        "print(c.deterministic, torch.are_deterministic_algorithms_enabled())\n"
    )
    assert _fresh_python(code).split() == ["False", "False"]


def test_saved_state_repr_is_short():
    text = repr(capture())
    # about fifty torch flags (every torch.backends one) by name, and no RNG state
    assert text.startswith("SavedState(flags={") and len(text) < 4000
    assert "rng" not in text and "tensor(" not in text


def test_assert_reproducible_passes_and_returns_the_result():
    result = detaudit.assert_reproducible(lambda: {"w": torch.randn(3), "n": np.random.rand(2)})
    torch.manual_seed(0)
    np.random.seed(0)
    assert torch.equal(result["w"], torch.randn(3))


def test_assert_reproducible_names_the_first_difference():
    import time

    def noisy() -> dict:
        generator = torch.Generator().manual_seed(time.time_ns())
        return {"logits": [torch.zeros(2), torch.randn(4, 6, generator=generator)]}

    with pytest.raises(AssertionError) as info:
        detaudit.assert_reproducible(noisy, seed=3)
    message = str(info.value)
    assert "noisy is not reproducible: two runs from seed 3 differ at " in message
    assert "result['logits'][1]: tensor element [0, 0]: " in message


def _random_dataset() -> torch.utils.data.Dataset:
    class Noise(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, index: int) -> tuple:
            info = torch.utils.data.get_worker_info()
            return info.id, random.random(), float(np.random.rand()), float(torch.rand(1))

    return Noise()


def _load(seed: int) -> list:
    loader = torch.utils.data.DataLoader(
        _random_dataset(),
        batch_size=None,
        num_workers=2,
        worker_init_fn=detaudit.seed_worker,
        generator=detaudit.dataloader_generator(seed),
    )
    return [tuple(float(x) for x in sample) for sample in loader]


def test_dataloader_pattern_repeats_and_differs_per_worker():
    first, again, other = _load(0), _load(0), _load(1)
    assert first == again
    assert first != other
    worker0 = [s[1:] for s in first if s[0] == 0]
    worker1 = [s[1:] for s in first if s[0] == 1]
    assert worker0 and worker1
    # each of random, numpy and torch gives each worker its own stream
    for column in range(3):
        assert worker0[0][column] != worker1[0][column]


def test_dataloader_generator_is_a_seeded_cpu_generator():
    generator = detaudit.dataloader_generator(11)
    assert generator.device.type == "cpu" and generator.initial_seed() == 11


# ---------------------------------------------------------------------------- other devices


def _fake_device(**fields) -> devices.DeviceInfo:
    """A device a package would register, whose tensors are the CPU's."""
    return devices.DeviceInfo(
        name="fake", label="fake device", available=lambda: True, torch_type="cpu", auto=False,
        **fields,
    )  # fmt: skip


def _never_called(index: int) -> torch.Generator:
    raise AssertionError(f"the generator of device {index} was asked for: that would start it")


def test_a_registered_devices_generators_are_seeded_saved_and_restored(monkeypatch):
    """A device the registry knows (a package's) is seeded, and its generators come back."""
    generators = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    seeded: list[int] = []
    fake = _fake_device(
        initialized=lambda: True,
        count=lambda: 2,
        generator=generators.__getitem__,
        seed=seeded.append,
    )
    monkeypatch.setattr(devices, "_plugins", (fake,))
    before = [g.get_state() for g in generators]
    expected_next = [torch.rand(3, generator=g) for g in generators]
    for generator, state in zip(generators, before):
        generator.set_state(state)

    with detaudit.deterministic(seed=5) as saved:
        assert seeded == [5]
        assert set(saved.generators) == {"cpu", "fake"} and len(saved.generators["fake"]) == 2
        for generator in generators:
            torch.rand(8, generator=generator)
    assert first_difference(before, [g.get_state() for g in generators]) is None
    assert first_difference(expected_next, [torch.rand(3, generator=g) for g in generators]) is None


def test_a_device_that_has_not_started_gets_its_queued_seeds_back_and_stays_unstarted(
    monkeypatch,
):
    """Like CUDA before its start: restoring puts back what was queued and starts nothing."""
    queue = ["seed 1"]
    fake = _fake_device(
        initialized=lambda: False,
        count=lambda: 1,
        generator=_never_called,
        seed=lambda seed: queue.append(f"seed {seed}"),
        lazy_seeds=lambda: tuple(queue),
        requeue=lambda queued: queue.__setitem__(slice(None), queued),
    )
    monkeypatch.setattr(devices, "_plugins", (fake,))
    saved = detaudit.seed_everything(9, deterministic=False)
    assert saved.lazy_seeds["fake"] == ("seed 1",) and "fake" not in saved.generators
    assert queue == ["seed 1", "seed 9"]
    saved.restore()
    assert queue == ["seed 1"]


def test_cuda_before_its_start_is_saved_as_queued_seeds():
    """On a machine without a started CUDA, the snapshot holds torch's queue, not CUDA's states."""
    if torch.cuda.is_initialized():
        pytest.skip("CUDA has started in this process")
    saved = capture()
    assert "cuda" not in saved.generators and "cuda" in saved.lazy_seeds
    assert len(saved.generators["cpu"]) == 1
    assert torch.equal(saved.generators["cpu"][0], torch.get_rng_state())
    assert not torch.cuda.is_initialized()


# ---------------------------------------------------------------------------- on a GPU


@pytest.mark.cuda
def test_cuda_rng_restored_when_cuda_was_running():
    torch.cuda.init()
    before = torch.cuda.get_rng_state_all()
    with detaudit.deterministic(seed=1):
        torch.randn(8, device="cuda")
    assert first_difference(before, torch.cuda.get_rng_state_all()) is None


@pytest.mark.cuda
def test_cuda_started_inside_the_block_gets_the_state_it_would_have_had():
    code = (
        "import sys, torch, detaudit\n"
        "torch.manual_seed(42)  # queued until CUDA starts\n"
        "if sys.argv[1] == 'block':\n"
        "    with detaudit.deterministic(seed=1):\n"
        "        torch.randn(4, device='cuda')\n"
        "print(torch.randn(4, device='cuda').tolist())\n"
    )
    assert _fresh_python(code, "plain") == _fresh_python(code, "block")


@pytest.mark.cuda
def test_cuda_matmul_runs_under_deterministic_mode_from_a_fresh_process():
    # CUBLAS_WORKSPACE_CONFIG is set before CUDA starts, so the matmul does not raise.
    code = (
        "import torch, detaudit\n"
        "with detaudit.deterministic(seed=0):\n"
        "    a = torch.randn(256, 256, device='cuda')\n"
        "    print(torch.equal(a @ a, a @ a))\n"
    )
    assert _fresh_python(code) == "True"


@pytest.mark.cuda
def test_cublas_warning_when_cuda_started_first():
    code = (
        "import warnings, torch, detaudit\n"
        "torch.cuda.init()\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    detaudit.seed_everything(0)\n"
        "print(any('cuBLAS will not pick it up' in str(w.message) for w in caught))\n"
    )
    assert _fresh_python(code) == "True"
