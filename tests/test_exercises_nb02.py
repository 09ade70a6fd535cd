"""Notebook 02's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from course_lib.data import sort_of_clevr
from course_lib.exercises import nb02

from exercise_checks import strict_fails


def flip_question(text: str) -> str:
    return re.sub(r"\b(left|right)\b", lambda m: {"left": "right", "right": "left"}[m.group(1)], text)


def _clevr_arrays() -> dict[str, np.ndarray]:
    """Four scenes of 3 objects (three for training) and one horizontal question about each."""
    rng = np.random.default_rng(0)
    horizontal = sort_of_clevr.SUBTYPES.index("horizontal")
    return {"image_split": np.array([0, 0, 0, 2]), "question_image": np.arange(4),
            "subtype": np.array([horizontal, horizontal, horizontal, horizontal]),
            "object_shape": rng.integers(0, 2, (4, 3)), "object_x": rng.integers(5, 70, (4, 3)),
            "object_y": rng.integers(5, 70, (4, 3))}


def _kept(arrays) -> list[str]:
    train = arrays["image_split"] == 0
    shapes, xs, ys = (arrays[key][train] for key in ("object_shape", "object_x", "object_y"))
    before = sort_of_clevr.scene_facts(shapes, xs, ys, 75)
    after = sort_of_clevr.scene_facts(shapes, 74 - xs, ys, 75)
    return [fact for fact in before if np.array_equal(before[fact], after[fact])]


def test_exercise_1(capsys, monkeypatch):
    arrays = _clevr_arrays()
    kept = _kept(arrays)
    assert "left" not in kept and "shape" in kept
    assert nb02.exercise_1(flip_question, 3, kept, arrays)

    def one_way(text: str) -> str:  # the second replace undoes the first
        return text.replace("left", "right").replace("right", "left")

    assert not nb02.exercise_1(one_way, 3, kept, arrays)
    assert "one pass" in capsys.readouterr().out
    assert not nb02.exercise_1(flip_question, 4, kept, arrays)  # the test question counted too
    assert not nb02.exercise_1(flip_question, 3, [*kept, "left"], arrays)
    assert "scene_facts" in capsys.readouterr().out
    assert not nb02.exercise_1(flip_question, None, kept, arrays)
    strict_fails(monkeypatch, nb02.exercise_1, one_way, 3, kept, arrays)


def test_exercise_2(capsys, monkeypatch):
    right = {"per frame": [2.5] * 20, "per clip": [0.9] * 20}
    assert nb02.exercise_2(right)
    assert not nb02.exercise_2({"per frame": [1.0] * 20, "per clip": [1.0] * 20})
    assert "loop" in capsys.readouterr().out
    assert not nb02.exercise_2({"per frame": [2.5] * 20, "per clip": [2.4] * 20})
    assert not nb02.exercise_2({"per frame": [2.5] * 5, "per clip": [0.9] * 5})
    assert not nb02.exercise_2(None)
    strict_fails(monkeypatch, nb02.exercise_2, {"per frame": [1.0] * 20, "per clip": [1.0] * 20})


def _video_train() -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    return [{"video": 0.2 + 0.1 * torch.rand(4, 1, 32, 32, generator=generator)} for _ in range(6)]


def test_exercise_3(capsys, monkeypatch):
    clips = _video_train()
    values = torch.stack([clip["video"] for clip in clips])
    mean, std = values.mean().reshape(1), values.std(correction=0).reshape(1)
    fifty = torch.randn(50, 4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    assert nb02.exercise_3(mean, std, fifty, clips)
    assert not nb02.exercise_3(mean + 0.1, std, fifty, clips)
    assert "channel_mean_std" in capsys.readouterr().out
    assert not nb02.exercise_3(mean, std, fifty * 3, clips)
    assert "Normalize" in capsys.readouterr().out
    assert not nb02.exercise_3(mean, std, fifty[:10], clips)
    assert not nb02.exercise_3(mean, std, None, clips)
    strict_fails(monkeypatch, nb02.exercise_3, mean, std, fifty * 3, clips)


class RandomTimeShift(nn.Module):
    def __init__(self, max_shift: int) -> None:
        super().__init__()
        self.max_shift = max_shift

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        shift = int(torch.randint(-self.max_shift, self.max_shift + 1, size=()))
        return torch.roll(waveform, shifts=shift, dims=-1)


class FixedShift(RandomTimeShift):
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.roll(waveform, shifts=self.max_shift, dims=-1)


def test_exercise_4(capsys, monkeypatch):
    phrase = torch.randn(4000, generator=torch.Generator().manual_seed(0))
    shifted = torch.roll(phrase, 800)
    state = torch.random.get_rng_state()
    assert nb02.exercise_4(RandomTimeShift, shifted, 800, 5, phrase)
    assert torch.equal(torch.random.get_rng_state(), state), "a check must not move the global random state"
    assert not nb02.exercise_4(FixedShift, shifted, 800, 5, phrase)
    assert "new shift" in capsys.readouterr().out
    assert not nb02.exercise_4(RandomTimeShift, shifted, -800, 5, phrase)
    assert not nb02.exercise_4(RandomTimeShift, shifted, 800, 8, phrase)
    assert "160 samples" in capsys.readouterr().out
    assert not nb02.exercise_4(RandomTimeShift, shifted, None, 5, phrase)
    strict_fails(monkeypatch, nb02.exercise_4, RandomTimeShift, shifted, 800, 8, phrase)
