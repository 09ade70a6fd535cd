"""Settings: paths, fast mode, seeding (also NumPy integer seeds, deterministic mode on and off), devices."""
import random

import numpy as np
import pytest
import torch

from course_lib import config


def test_paths_default_under_repo_and_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert config.data_dir() == config.ROOT / "data"
    assert (config.ROOT / "course_lib" / "config.py").exists()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_ARTIFACTS_DIR", str(tmp_path / "a"))
    assert config.data_dir() == tmp_path / "d"
    assert config.artifacts_dir() == tmp_path / "a"


@pytest.mark.parametrize("value, fast", [("1", True), ("true", True), ("YES", True),
                                         ("0", False), ("", False), ("false", False)])
def test_fast_mode_from_environment(monkeypatch, value, fast):
    monkeypatch.setenv("COURSE_FAST", value)
    assert config.is_fast() is fast
    assert config.mode() == ("fast" if fast else "full")
    assert config.fast_or_full(fast="small", full="big") == ("small" if fast else "big")


def test_fast_mode_unset_is_full(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert config.mode() == "full"


def test_bad_fast_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        config.is_fast()


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    config.seed_everything(124)
    assert not torch.equal(draw()[2], first[2])


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, 2**32, np.float64(3.0)])
def test_seed_must_be_an_int_numpy_accepts(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*32 - 1\], got"):
        config.seed_everything(seed)


@pytest.mark.parametrize("seed", [np.int64(7), np.uint32(7), np.int8(7)])
def test_numpy_integer_seeds_seed_like_the_python_int(seed):
    config.seed_everything(7)
    expected = random.random(), np.random.rand(), torch.rand(2)
    config.seed_everything(seed)
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(2), expected[2])


@pytest.fixture
def restore_deterministic():
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark = before[1]


def test_deterministic_mode_is_set_by_each_call(restore_deterministic):
    config.seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    config.seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device() == torch.device("cuda")


def test_get_device_honours_a_forced_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA"):
        config.get_device("cuda")
