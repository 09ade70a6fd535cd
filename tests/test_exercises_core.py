"""The exercise-check machinery: verdicts, messages, strict mode and the grade log."""
from __future__ import annotations

import json

import pytest

from course_lib.exercises.core import REGISTRY, NotYet, close, exercise, require


@exercise("97", 1)
def exercise_1(total: int) -> str:
    require(isinstance(total, int), f"total should be an int, got {type(total).__name__}.")
    require(total == 6, f"total is {total}, expected the sum of 1, 2 and 3. Hint: sum([1, 2, 3]).")
    return "6 it is."


@exercise("97", 2)
def exercise_2(mean: float) -> None:
    close(mean, 2.0, "the mean", tolerance=1e-3)


def test_pass_prints_and_returns_true(capsys: pytest.CaptureFixture[str]) -> None:
    assert exercise_1(6)
    assert capsys.readouterr().out == "Exercise 1: passed. 6 it is.\n"


def test_wrong_answer_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert not exercise_1(5)
    out = capsys.readouterr().out
    assert out.startswith("Exercise 1: not yet.") and "total is 5" in out and "Hint" in out


def test_missing_answer_is_not_yet(capsys: pytest.CaptureFixture[str]) -> None:
    assert not exercise_2(None)
    assert "no answer yet" in capsys.readouterr().out


def test_close_rejects_non_numbers_and_far_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert exercise_2(2.0005)
    assert not exercise_2(2.1)
    assert not exercise_2("two")
    out = capsys.readouterr().out
    assert "expected 2" in out and "should be a number, got str" in out


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    assert exercise_1(6)
    with pytest.raises(AssertionError, match="notebook 97, exercise 1: total is 5"):
        exercise_1(5)


def test_verdicts_are_logged_as_json_lines(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSE_GRADE_LOG", str(log))
    exercise_1(5)
    exercise_1(6)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["notebook"], r["exercise"], r["passed"]) for r in rows] == [("97", 1, False), ("97", 1, True)]


def test_registry_and_bad_registrations() -> None:
    assert REGISTRY["97"] == [1, 2]
    with pytest.raises(ValueError, match="already has a check for exercise 1"):
        exercise("97", 1)(lambda answer: None)
    with pytest.raises(ValueError, match="two-digit notebook"):
        exercise("7", 1)
    with pytest.raises(ValueError, match="number >= 1"):
        exercise("97", 0)


def test_not_yet_is_an_exception() -> None:
    with pytest.raises(NotYet):
        require(False, "no")


def test_the_returned_verdict_shows_nothing_in_a_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    """A check cell shows the printed line only, not the returned verdict as ``Out[..]: True``."""
    from IPython.core.formatters import DisplayFormatter

    verdict = exercise_1(6)
    capsys.readouterr()
    assert (verdict.notebook, verdict.exercise, verdict.passed) == ("97", 1, True)
    assert DisplayFormatter().format(verdict) == ({}, {})


def test_describe_names_shape_and_dtype() -> None:
    import numpy as np
    import torch

    from course_lib.exercises.core import describe

    assert describe(torch.zeros(2, 3)) == "a Tensor of shape (2, 3) and dtype torch.float32"
    assert describe(np.zeros(4, dtype=np.int64)) == "a ndarray of shape (4,) and dtype int64"
    assert describe([1, 2]) == "a list"
