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
