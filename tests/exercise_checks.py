"""What the tests of the exercise checks share (unit tests run lenient checks: see conftest.py)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def strict_fails(monkeypatch: pytest.MonkeyPatch, check: Callable[..., Any], *answers: Any, **named: Any) -> None:
    """Under COURSE_STRICT_CHECKS=1 (as test.sh runs the notebooks) a wrong answer must raise AssertionError."""
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError):
        check(*answers, **named)


def case_tests(module: Any, cases: dict[int, tuple[tuple, tuple]]) -> tuple[Callable[..., None], ...]:
    """The four tests every check module gets from ``cases``: exercise number -> (right answers, wrong answers).

    Use: ``test_passes, test_explains, test_none, test_strict = case_tests(nb07, CASES)`` at module level.
    """
    notebook = module.__name__[-2:]
    numbers = pytest.mark.parametrize("number", sorted(cases))

    def check(number: int) -> Callable[..., Any]:
        return getattr(module, f"exercise_{number}")

    @numbers
    def test_check_passes_a_correct_answer(number: int, capsys: pytest.CaptureFixture[str]) -> None:
        assert check(number)(*cases[number][0])
        assert f"Exercise {number}: passed" in capsys.readouterr().out

    @numbers
    def test_check_explains_a_wrong_answer(number: int, capsys: pytest.CaptureFixture[str]) -> None:
        assert not check(number)(*cases[number][1])
        out = capsys.readouterr().out
        assert f"Exercise {number}: not yet" in out and "Hint" in out

    @numbers
    def test_check_says_no_answer_yet_to_none(number: int, capsys: pytest.CaptureFixture[str]) -> None:
        assert not check(number)(*[None] * len(cases[number][0]))
        assert "no answer yet" in capsys.readouterr().out

    @numbers
    def test_strict_mode_raises_on_a_wrong_answer(number: int, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
        with pytest.raises(AssertionError, match=f"notebook {notebook}, exercise {number}"):
            check(number)(*cases[number][1])

    return (test_check_passes_a_correct_answer, test_check_explains_a_wrong_answer,
            test_check_says_no_answer_yet_to_none, test_strict_mode_raises_on_a_wrong_answer)
