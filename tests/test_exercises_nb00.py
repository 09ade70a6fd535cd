"""Notebook 00's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from course_lib.data.sort_of_clevr import ANSWERS, SUBTYPES
from course_lib.exercises import nb00


def _toy(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    return np.where(labels == 1, 1.0, -1.0) + rng.normal(0, 1.0, n), labels


def test_exercise_1(capsys, monkeypatch):
    feature_a, labels = _toy()
    useless_b = np.random.default_rng(1).normal(0, 1.0, len(labels))
    right = nb00._split_scores(np.column_stack([feature_a, useless_b]), labels)
    assert nb00.exercise_1(right, feature_a, labels)
    assert "passed" in capsys.readouterr().out
    assert not nb00.exercise_1({**right, "A only": right["A only"] - 0.05}, feature_a, labels)
    assert "Hint" in capsys.readouterr().out
    assert not nb00.exercise_1({"A only": 0.8}, feature_a, labels)
    assert not nb00.exercise_1(None, feature_a, labels)
    assert "no answer yet" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="exercise 1"):
        nb00.exercise_1({**right, "B only": 0.9}, feature_a, labels)


def _av_train() -> SimpleNamespace:
    return SimpleNamespace(labels=np.repeat(np.arange(10), 4), voices=np.tile([0, 1, 2, 3], 10),
                           voice_names=["a", "b", "c", "d", "test-only"])


def test_exercise_2(capsys, monkeypatch):
    av_train = _av_train()
    digits, voices = np.full(10, 4), np.array([10, 10, 10, 10, 0])
    assert nb00.exercise_2(digits, voices, av_train)
    assert "1 without" in capsys.readouterr().out
    assert not nb00.exercise_2(digits, voices[:4], av_train)  # the test-only voice dropped
    assert "minlength" in capsys.readouterr().out
    assert not nb00.exercise_2(digits + 1, voices, av_train)
    assert not nb00.exercise_2(None, voices, av_train)
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        nb00.exercise_2(digits, voices[:4], av_train)


def test_exercise_3(capsys, monkeypatch):
    subtype = np.repeat(np.arange(len(SUBTYPES)), 4)
    labels = np.tile([0, 0, 1, 2], len(SUBTYPES)) % len(ANSWERS)
    clevr = SimpleNamespace(labels=labels, subtype=subtype)
    right = {name: 0.5 for name in SUBTYPES}
    assert nb00.exercise_3(right, clevr)
    assert not nb00.exercise_3({**right, SUBTYPES[0]: 0.25}, clevr)
    assert "np.bincount" in capsys.readouterr().out
    assert not nb00.exercise_3({SUBTYPES[0]: 0.5}, clevr)
    assert not nb00.exercise_3(None, clevr)
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        nb00.exercise_3({**right, SUBTYPES[0]: 0.25}, clevr)


def _clips(fps: int = 4) -> list[dict]:
    """Ten clips of 8 frames: one bright frame each, at frame t; the onset at t / fps, or 1 s off for clip 0."""
    clips = []
    for index in range(10):
        video = torch.zeros(8, 1, 5, 5)
        peak = index % 8
        video[peak] = 1.0
        clips.append({"video": video, "onset": torch.tensor(peak / fps + (1.0 if index == 0 else 0.1))})
    return clips


def test_exercise_4(capsys, monkeypatch):
    clips = _clips()
    assert nb00.exercise_4(9, clips, 4)
    assert "9 of 10" in capsys.readouterr().out
    assert not nb00.exercise_4(10, clips, 4)
    assert "quantile" in capsys.readouterr().out
    assert not nb00.exercise_4("9", clips, 4)
    assert not nb00.exercise_4(None, clips, 4)
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        nb00.exercise_4(10, clips, 4)
