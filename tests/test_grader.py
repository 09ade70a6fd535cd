"""The grader: one score per exercise per student, from the checks that each submitted notebook runs."""
from __future__ import annotations

import csv
import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_lib.exercises.grade import NOT_RUN, exercises_by_notebook, grade_all
from course_lib.exercises.student_edition import write_edition

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: The quickest notebooks, for the full-marks run (the student edition runs them all).
QUICK = ("00", "01")

DEMO_CHECKS = textwrap.dedent('''
    from course_lib.exercises.core import exercise, require

    @exercise("98", 1)
    def exercise_1(total):
        require(total == 6, f"total is {total}, expected 6")

    @exercise("98", 2)
    def exercise_2(total):
        require(total == 7, f"total is {total}, expected 7")

    @exercise("98", 3)
    def exercise_3(total):
        require(total == 8, f"total is {total}, expected 8")
''')


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_grader_scores_each_exercise_and_survives_errors(tmp_path: Path) -> None:
    (tmp_path / "demo_checks_98.py").write_text(DEMO_CHECKS)
    sys.path.insert(0, str(tmp_path))
    try:
        import demo_checks_98  # noqa: F401  (registers notebook 98's checks in this process too)
    finally:
        sys.path.remove(str(tmp_path))
    for student, answer in (("ada", 6), ("bob", 7)):
        (tmp_path / "submissions" / student).mkdir(parents=True)
        _notebook(tmp_path / "submissions" / student / "98_demo.ipynb",
                  f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport demo_checks_98 as check",
                  "check.exercise_1(5)", "raise ValueError('a broken cell')",
                  f"check.exercise_1({answer})\ncheck.exercise_2({answer})")
    grades, errors = grade_all(tmp_path / "submissions", tmp_path / "grades.csv", fast=True, timeout=120)
    rows = _rows(tmp_path / "grades.csv")
    assert [(r["student"], r["exercise"], r["score"]) for r in rows] == [
        ("ada", "1", "1"), ("ada", "2", "0"), ("ada", "3", "0"), ("bob", "1", "0"), ("bob", "2", "1"), ("bob", "3", "0")]
    assert rows[1]["message"] == "total is 6, expected 7" and rows[2]["message"] == NOT_RUN
    assert len(grades) == 6 and len(errors) == 2 and "ValueError: a broken cell" in errors[0]


def test_grader_needs_student_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no student folders"):
        grade_all(tmp_path, tmp_path / "grades.csv")


def test_every_notebook_has_checks() -> None:
    numbers = {path.name[:2] for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert numbers <= set(exercises_by_notebook()), "a notebook has no exercise checks"


def test_instructor_notebooks_score_full_marks(tmp_path: Path) -> None:
    folder = tmp_path / "submissions" / "instructor"
    folder.mkdir(parents=True)
    for number in QUICK:
        shutil.copy(next(NOTEBOOKS.glob(f"{number}_*.ipynb")), folder)
    grades, errors = grade_all(tmp_path / "submissions", tmp_path / "grades.csv", fast=True)
    assert errors == []
    expected = exercises_by_notebook()
    assert len(grades) == sum(len(expected[n]) for n in QUICK)
    assert [g for g in grades if g.score != 1] == []


def test_student_edition_runs_top_to_bottom_and_scores_zero(tmp_path: Path) -> None:
    """Every notebook of the student edition runs without an error; every check answers "not yet"."""
    write_edition(NOTEBOOKS, tmp_path / "submissions" / "empty")
    grades, errors = grade_all(tmp_path / "submissions", tmp_path / "grades.csv", fast=True)
    assert errors == []
    assert len(grades) == sum(len(numbers) for numbers in exercises_by_notebook().values())
    assert [g for g in grades if g.score != 0] == []
    assert all("no answer yet" in g.message for g in grades)


def test_only_the_course_modules_count() -> None:
    """Checks registered elsewhere (these tests register notebooks 97 and 98) are not course exercises."""
    expected = exercises_by_notebook()
    assert sorted(expected) == sorted(path.name[:2] for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert "98" not in expected and "97" not in expected
