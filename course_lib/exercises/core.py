"""What every exercise check shares: the verdict, the message to the learner, strict mode and the grade log.

A check is a function decorated with :func:`exercise`. It returns ``None`` or a short success message
when the answer is right, and raises :class:`NotYet` with what is wrong and a hint when it is not.
The decorator turns that into a printed verdict, so a wrong answer never stops the notebook.

Environment variables:
    COURSE_STRICT_CHECKS=1   a "not yet" raises ``AssertionError`` (the instructor's notebooks under test).
    COURSE_GRADE_LOG=PATH    each verdict is appended to PATH as one JSON line (used by ``grade``).
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: notebook number -> exercise numbers that have a check, filled in as the modules are imported.
REGISTRY: dict[str, list[int]] = {}


class NotYet(Exception):
    """Raised by a check: the message says what is wrong with the answer and gives a hint."""


@dataclass(frozen=True)
class Verdict:
    """What a check returns: true when the answer passed. It shows nothing in a notebook (the check printed it)."""

    notebook: str
    exercise: int
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        pass


def strict() -> bool:
    """True when a wrong answer must fail the run (``COURSE_STRICT_CHECKS=1``)."""
    return os.environ.get("COURSE_STRICT_CHECKS", "") not in ("", "0")


def _record(verdict: Verdict) -> None:
    path = os.environ.get("COURSE_GRADE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(verdict)) + "\n")


def exercise(notebook: str, number: int) -> Callable[[Callable[..., str | None]], Callable[..., Verdict]]:
    """Register ``fn`` as the check of exercise ``number`` of notebook ``notebook`` (e.g. ``"03"``).

    The wrapped check prints the verdict and returns it (a :class:`Verdict`, true when the answer passed).
    An answer still set to ``None`` (the student edition's starting value) gets "not yet: no answer".
    """
    if not (len(notebook) == 2 and notebook.isdigit()) or number < 1:
        raise ValueError(f"exercise(notebook, number) needs a two-digit notebook like '03' and a number >= 1, "
                         f"got {notebook!r}, {number!r}")

    def decorate(fn: Callable[..., str | None]) -> Callable[..., Verdict]:
        REGISTRY.setdefault(notebook, [])
        if number in REGISTRY[notebook]:
            raise ValueError(f"notebook {notebook} already has a check for exercise {number}")
        REGISTRY[notebook].append(number)

        @functools.wraps(fn)
        def check(*answers: Any, **named: Any) -> Verdict:
            try:
                if any(a is None for a in (*answers, *named.values())):
                    raise NotYet("no answer yet: replace None with your answer and run the cell again.")
                message, passed = fn(*answers, **named) or "", True
            except NotYet as wrong:
                message, passed = str(wrong), False
            verdict = Verdict(notebook, number, passed, message)
            _record(verdict)
            print(f"Exercise {number}: {'passed' if passed else 'not yet'}." + (f" {message}" if message else ""))
            if not passed and strict():
                raise AssertionError(f"notebook {notebook}, exercise {number}: {message}")
            return verdict

        check.notebook, check.number = notebook, number  # type: ignore[attr-defined]
        return check

    return decorate


def describe(value: Any) -> str:
    """A short description of an answer for a message: its shape and dtype for a tensor or array, else its type."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"a {type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def model_device(model: Any) -> Any:
    """The device that holds ``model``'s parameters (where a check must send its inputs)."""
    return next(model.parameters()).device


def fraction(value: Any, what: str, kind: str = "a fraction", hint: str = "") -> float:
    """``value`` as a float, or :class:`NotYet` unless it is a number between 0 and 1 (an accuracy, a share)."""
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1,
            f"{what} should be {kind} between 0 and 1, got {value!r}." + (f" Hint: {hint}" if hint else ""))
    return float(value)


def require_keys(value: Any, keys: Any, what: str) -> None:
    """:class:`NotYet` unless ``value`` is a dict with exactly the keys ``keys``."""
    require(isinstance(value, dict) and set(value) == set(keys),
            f"{what} should be a dict with the keys {sorted(keys, key=str)}, got "
            f"{sorted(value, key=str) if isinstance(value, dict) else type(value).__name__}.")


def require(condition: bool, message: str) -> None:
    """Raise :class:`NotYet` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise NotYet(message)


def close(value: float, expected: float, what: str, tolerance: float = 1e-6, hint: str = "") -> None:
    """Raise :class:`NotYet` unless ``value`` is within ``tolerance`` (absolute) of ``expected``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise NotYet(f"{what} should be a number, got {type(value).__name__}.") from None
    require(abs(value - expected) <= tolerance,
            f"{what} is {value:.6g}, expected {expected:.6g} (within {tolerance:g})." + (f" Hint: {hint}" if hint else ""))
