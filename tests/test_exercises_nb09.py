"""Notebook 09's exercise checks: right answers pass, wrong ones and None get "not yet", strict mode raises."""
from __future__ import annotations

import torch

from course_lib.exercises import nb09

from exercise_checks import strict_fails


def test_exercise_1(capsys, monkeypatch):
    assert nb09.exercise_1(4, 57)
    assert not nb09.exercise_1(3, 57)  # 3 levels see only 57 steps
    assert "not yet" in capsys.readouterr().out
    assert not nb09.exercise_1(4, 53)  # one input's count, cut by dead ReLU units
    assert not nb09.exercise_1(4.0, 57)
    assert not nb09.exercise_1(None, None)
    assert "no answer yet" in capsys.readouterr().out
    strict_fails(monkeypatch, nb09.exercise_1, 5, 57)


def _masked_mean(per_clip, kept):
    kept = kept.float()
    return (per_clip * kept).sum() / kept.sum().clamp(min=1)


def test_exercise_2(capsys, monkeypatch):
    assert nb09.exercise_2(_masked_mean)
    assert not nb09.exercise_2(lambda per_clip, kept: per_clip[kept].mean())  # NaN when no clip is kept
    assert not nb09.exercise_2(lambda per_clip, kept: per_clip.mean())  # ignores the flags
    assert not nb09.exercise_2(lambda per_clip: per_clip.mean())  # wrong signature: a message, not a crash
    assert not nb09.exercise_2(0.5)
    assert not nb09.exercise_2(None)
    assert capsys.readouterr().out.count("not yet") == 5
    strict_fails(monkeypatch, nb09.exercise_2, lambda per_clip, kept: (per_clip * kept).sum() / len(kept))


def test_exercise_3(capsys, monkeypatch):
    assert nb09.exercise_3({False: True, True: False})
    assert not nb09.exercise_3({False: False, True: False})
    assert not nb09.exercise_3({False: True})
    assert not nb09.exercise_3({False: torch.tensor(True), True: False})
    assert not nb09.exercise_3(None)
    assert capsys.readouterr().out.count("not yet") == 4
    strict_fails(monkeypatch, nb09.exercise_3, {False: False, True: True})
