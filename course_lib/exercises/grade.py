"""Grade submitted notebooks: run each one and record every exercise check's verdict, one CSV row per exercise.

    python -m course_lib.exercises.grade SUBMISSIONS --out grades.csv            # full mode
    python -m course_lib.exercises.grade SUBMISSIONS --out grades.csv --fast     # COURSE_FAST=1: minutes, not hours

SUBMISSIONS holds one folder per student, each with that student's notebooks (``NN_name.ipynb``, any subset).
Each notebook runs top to bottom in a fresh kernel with ``COURSE_GRADE_LOG`` set, so that every check it calls
writes its verdict there; a cell that raises does not stop the run (the next cells still run). An exercise
scores 1 when its check's last verdict passed and 0 otherwise (not passed, or never called).
Columns: student, notebook, exercise, score, message.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import pkgutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_lib import exercises
from course_lib.exercises.core import REGISTRY

NOT_RUN = "the check of this exercise did not run"


@dataclass(frozen=True)
class Run:
    """One executed notebook: exercise number -> (passed, message) of its checks' last verdicts, and its errors."""

    verdicts: dict[int, tuple[bool, str]]
    errors: list[str]


@dataclass(frozen=True)
class Grade:
    student: str
    notebook: str
    exercise: int
    score: int
    message: str


def exercises_by_notebook() -> dict[str, list[int]]:
    """Every check in ``course_lib.exercises``: notebook number -> its exercise numbers, sorted."""
    notebooks = []
    for module in pkgutil.iter_modules(exercises.__path__):
        if module.name.startswith("nb"):
            importlib.import_module(f"{exercises.__name__}.{module.name}")
            notebooks.append(module.name[2:])
    return {notebook: sorted(REGISTRY.get(notebook, [])) for notebook in sorted(notebooks)}


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_notebook(path: Path, fast: bool, timeout: int) -> Run:
    """Run one submitted notebook top to bottom; return its checks' verdicts and the cells that raised."""
    notebook_number = path.name[:2]
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "verdicts.jsonl"
        # The kernel inherits this process's environment.
        with _environment(COURSE_GRADE_LOG=str(log), COURSE_STRICT_CHECKS="0", COURSE_FAST="1" if fast else "0",
                          MPLBACKEND="Agg"):
            NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    verdicts: dict[int, tuple[bool, str]] = {}
    for line in lines:
        verdict = json.loads(line)
        if verdict["notebook"] == notebook_number:
            verdicts[verdict["exercise"]] = (verdict["passed"], verdict["message"])
    errors = [f"{path.name}, cell {index}: {output.ename}: {output.evalue}"
              for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    return Run(verdicts, errors)


def grade_student(folder: Path, fast: bool, timeout: int) -> tuple[list[Grade], list[str]]:
    """One row per exercise of every notebook in ``folder`` (one student's submission), and the cells that raised."""
    exercises_by_notebook()  # imports every check module, so that REGISTRY holds their exercises
    grades, errors = [], []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        run = run_notebook(path, fast, timeout)
        errors += [f"{folder.name}/{error}" for error in run.errors]
        for number in sorted(REGISTRY.get(path.name[:2], [])):
            passed, message = run.verdicts.get(number, (False, NOT_RUN))
            grades.append(Grade(folder.name, path.name, number, int(passed), message))
    return grades, errors


def grade_all(submissions: Path, out: Path, fast: bool = False,
              timeout: int = 1800) -> tuple[list[Grade], list[str]]:
    """Grade every student folder in ``submissions`` and write the CSV ``out``; return the rows and the errors."""
    students = sorted(p for p in submissions.iterdir() if p.is_dir()) if submissions.is_dir() else []
    if not students:
        raise FileNotFoundError(f"no student folders in {submissions}: expected SUBMISSIONS/<student>/NN_name.ipynb")
    grades, errors = [], []
    for student in students:
        rows, raised = grade_student(student, fast, timeout)
        grades += rows
        errors += raised
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "notebook", "exercise", "score", "message"])
        writer.writerows([g.student, g.notebook, g.exercise, g.score, g.message] for g in grades)
    return grades, errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder with one subfolder of notebooks per student")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write")
    parser.add_argument("--fast", action="store_true", help="run the notebooks in fast mode (COURSE_FAST=1)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run")
    args = parser.parse_args(argv)
    grades, errors = grade_all(args.submissions, args.out, args.fast, args.timeout)
    for error in errors:
        print(f"raised: {error}")
    for student in sorted({g.student for g in grades}):
        mine = [g for g in grades if g.student == student]
        print(f"{student}: {sum(g.score for g in mine)} / {len(mine)}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
