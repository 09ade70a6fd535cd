"""The student edition: solutions and outputs removed, stubs and checks kept, nothing half-written."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_lib.exercises.student_edition import (
    BEGIN,
    END,
    STUDENT_LINE,
    strip_solution,
    student_notebook,
    write_edition,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _solution_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}})
    cell.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    cell.execution_count = 7
    return cell


def test_strip_solution_keeps_stubs_and_what_follows() -> None:
    source = f"answer = None  # the sum\n{BEGIN}\nanswer = 40 + 2\nprint(answer)\n{END}\nprint('done')"
    assert strip_solution(source, "here") == f"answer = None  # the sum\n{STUDENT_LINE}\nprint('done')"


def test_strip_solution_keeps_the_indentation() -> None:
    source = f"def f():\n    {BEGIN}\n    return 1\n    {END}"
    assert strip_solution(source, "here") == f"def f():\n    {STUDENT_LINE}"


@pytest.mark.parametrize("source", ["answer = 1", f"{BEGIN}\nx = 1", f"{END}\n{BEGIN}", f"{BEGIN}\n{BEGIN}\n{END}"])
def test_strip_solution_rejects_bad_markers(source: str) -> None:
    with pytest.raises(ValueError, match="07_x.ipynb, cell 3: a solution cell needs one"):
        strip_solution(source, "07_x.ipynb, cell 3")


def test_student_notebook_removes_solutions_and_outputs() -> None:
    nb = nbformat.v4.new_notebook()
    plain = nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1\n")], execution_count=1)
    nb.cells = [plain, _solution_cell(f"answer = None\n{BEGIN}\nanswer = 40 + 2\n{END}"),
                nbformat.v4.new_code_cell("check.exercise_1(answer)", metadata={"tags": ["check"]})]
    student = student_notebook(nb, "00_x.ipynb")
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells)
    assert student.cells[1].source == f"answer = None\n{STUDENT_LINE}"
    assert student.cells[1].metadata["tags"] == ["exercise"]
    assert "source_hidden" not in student.cells[1].metadata["jupyter"]
    assert student.cells[2].source == "check.exercise_1(answer)"
    assert nb.cells[1].outputs, "the instructor's notebook must not change"


def test_write_edition_is_atomic_and_zips(tmp_path: Path) -> None:
    source = tmp_path / "notebooks"
    source.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [_solution_cell(f"answer = None\n{BEGIN}\nanswer = 42\n{END}")]
    nbformat.write(nb, source / "01_demo.ipynb")
    out = tmp_path / "student"
    written = write_edition(source, out, make_zip=True)
    assert written == [out / "01_demo.ipynb"] and (tmp_path / "student.zip").exists()
    assert "answer = 42" not in (out / "01_demo.ipynb").read_text()
    # A notebook with broken markers fails the run and leaves the previous edition as it was.
    bad = nbformat.v4.new_notebook()
    bad.cells = [_solution_cell("answer = 42")]
    nbformat.write(bad, source / "02_bad.ipynb")
    with pytest.raises(ValueError, match="02_bad.ipynb, cell 0"):
        write_edition(source, out)
    assert sorted(p.name for p in out.iterdir()) == ["01_demo.ipynb"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_edition_needs_notebooks(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no course notebooks"):
        write_edition(tmp_path, tmp_path / "out")


def test_course_edition_has_no_solution_text(tmp_path: Path) -> None:
    """Every line between the markers of every instructor solution is absent from the student edition."""
    written = write_edition(NOTEBOOKS, tmp_path / "student_edition")
    assert len(written) == len(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
    for path in written:
        instructor = nbformat.read(NOTEBOOKS / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        student_text = "\n".join(cell.source for cell in student.cells)
        assert "<details>" not in student_text, f"{path.name}: a markdown solution is left"
        assert all(not getattr(c, "outputs", []) for c in student.cells), f"{path.name}: outputs are left"
        solutions = [c for c in instructor.cells if "solution" in c.metadata.get("tags", [])]
        assert solutions, f"{path.name}: no solution cell"
        elsewhere = "\n".join(c.source for c in instructor.cells if c not in solutions)
        for cell in solutions:
            body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
            for line in body.splitlines():
                line = line.strip()  # lines that the notebook also shows outside its solutions may stay
                if len(line) > 12 and not line.startswith("#") and line not in elsewhere:
                    assert line not in student_text, f"{path.name}: solution line left: {line!r}"
