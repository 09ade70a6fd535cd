"""Every course notebook follows the same template.

A title cell ``# NN · Title`` whose number matches the file name, then the
headings "What you will learn", "Prerequisites" and "Run time" (a table with
CPU fast, CPU full and GPU), a first code cell that seeds and picks the device,
the teaching sections, "Exercises" (the checks' import, then per exercise a hidden solution cell
tagged ``solution`` with nbgrader's solution markers and a check cell), "Summary" and "Further reading".
Stored outputs come from a clean
Restart & Run All: no errors, execution counts 1, 2, 3, ... in cell order.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.exercises.grade import exercises_by_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: Level-2 headings every notebook has, in this order.
REQUIRED_HEADINGS = (
    "What you will learn",
    "Prerequisites",
    "Run time",
    "Exercises",
    "Summary",
    "Further reading",
)
MAX_BYTES = 1_000_000
TITLE = re.compile(r"^# (\d\d) · \S")
SOLUTION = re.compile(r"<details>\s*<summary>\s*Solution\s*</summary>.*?</details>", re.S)
HARD_CODED_CUDA = re.compile(r"\.cuda\(")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _markdown_sections(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Map each level-2 heading to the markdown text that follows it up to the next one."""
    sections: dict[str, str] = {}
    current = None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^## (.+?)\s*$", line)
            if match:
                current = match.group(1)
                sections[current] = ""
            elif current is not None:
                sections[current] += line + "\n"
    return sections


def _headings_in_order(nb: nbformat.NotebookNode) -> list[str]:
    return [
        match.group(1)
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for match in re.finditer(r"^## (.+?)\s*$", cell.source, re.M)
    ]


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_matches_file_number(path: Path) -> None:
    first = _read(path).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be the markdown title"
    title = first.source.splitlines()[0]
    match = TITLE.match(title)
    assert match, f"{path.name}: title must look like '# NN · Title', got {title!r}"
    assert path.name.startswith(match.group(1) + "_"), (
        f"{path.name}: title number {match.group(1)} does not match the file name"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_required_headings_in_order(path: Path) -> None:
    headings = _headings_in_order(_read(path))
    missing = [h for h in REQUIRED_HEADINGS if h not in headings]
    assert not missing, f"{path.name}: missing headings {missing}"
    positions = [headings.index(h) for h in REQUIRED_HEADINGS]
    assert positions == sorted(positions), (
        f"{path.name}: headings must come in the order {list(REQUIRED_HEADINGS)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_run_time_table(path: Path) -> None:
    text = _markdown_sections(_read(path))["Run time"]
    for column in ("CPU fast", "CPU full", "GPU"):
        assert column in text, f"{path.name}: the Run time table needs a {column!r} entry"
    assert "|" in text, f"{path.name}: the Run time section must hold a markdown table"


def _exercise_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Code cells between the "Exercises" heading and the next level-2 heading."""
    cells, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for match in re.finditer(r"^## (.+?)\s*$", cell.source, re.M):
                inside = match.group(1) == "Exercises"
        elif inside:
            cells.append(cell)
    return cells


def _tagged(cell: nbformat.NotebookNode, tag: str) -> bool:
    return tag in cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_are_solution_and_check_pairs(path: Path) -> None:
    """The Exercises section: the checks' import, then per exercise a hidden solution cell and its check cell."""
    nb = _read(path)
    number = path.name[:2]
    assert not SOLUTION.search(_markdown_sections(nb)["Exercises"]), (
        f"{path.name}: solutions are code cells tagged 'solution', not <details> blocks")
    cells = _exercise_cells(nb)
    assert cells and cells[0].source.strip() == f"from course_lib.exercises import nb{number} as check", (
        f"{path.name}: the first code cell of Exercises must be 'from course_lib.exercises import nb{number} as check'")
    pairs = cells[1:]
    assert pairs and len(pairs) % 2 == 0, f"{path.name}: after the import, exercises come as (solution, check) cell pairs"
    for k, (solution, check) in enumerate(zip(pairs[::2], pairs[1::2]), start=1):
        where = f"{path.name}, exercise {k}"
        assert _tagged(solution, "solution") and _tagged(check, "check"), f"{where}: a 'solution' cell then a 'check' cell"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, f"{where}: hide the solution cell"
        assert solution.metadata.get("nbgrader", {}).get("grade_id") == f"exercise_{k}", f"{where}: nbgrader grade_id"
        assert check.metadata.get("nbgrader", {}).get("grade_id") == f"check_{k}", f"{where}: nbgrader grade_id"
        lines = [line.strip() for line in solution.source.splitlines()]
        assert "### BEGIN SOLUTION" in lines and "### END SOLUTION" in lines, f"{where}: solution markers"
        stubs = lines[: lines.index("### BEGIN SOLUTION")]
        assert stubs and all(re.match(r"^\w+ = None\b", line) for line in stubs if not line.startswith("#")), (
            f"{where}: the solution cell starts with stubs 'name = None  # what it holds'")
        assert re.fullmatch(rf"check\.exercise_{k}\(.*\)", check.source.strip(), re.S), (
            f"{where}: the check cell calls check.exercise_{k}(...)")
    checks = exercises_by_notebook().get(number, [])
    assert checks == list(range(1, len(pairs) // 2 + 1)), (
        f"{path.name}: {len(pairs) // 2} exercises, but course_lib/exercises/nb{number}.py checks {checks}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_further_reading_has_links(path: Path) -> None:
    text = _markdown_sections(_read(path))["Further reading"]
    assert "https://" in text, f"{path.name}: Further reading must link to its sources"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_seeds_and_picks_device(path: Path) -> None:
    cells = _code_cells(_read(path))
    assert cells, f"{path.name}: no code cells"
    source = cells[0].source
    for call in ("config.seed_everything(", "config.get_device("):
        assert call in source, f"{path.name}: the first code cell must call {call}...)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_python3_kernel(path: Path) -> None:
    kernelspec = _read(path).metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", (
        f"{path.name}: kernelspec name must be 'python3', got {kernelspec.get('name')!r}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_hard_coded_cuda(path: Path) -> None:
    for index, cell in enumerate(_code_cells(_read(path))):
        assert not HARD_CODED_CUDA.search(cell.source), (
            f"{path.name}: code cell {index} calls .cuda(); use .to(device) instead"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_errors(path: Path) -> None:
    for index, cell in enumerate(_code_cells(_read(path))):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", (
                f"{path.name}: code cell {index} stores an error: {output.get('ename')}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_execution_counts_from_clean_run(path: Path) -> None:
    cells = [cell for cell in _code_cells(_read(path)) if cell.source.strip()]
    counts = [cell.execution_count for cell in cells]
    has_outputs = any(cell.get("outputs") for cell in cells)
    if not has_outputs and all(count is None for count in counts):
        return
    expected = list(range(1, len(cells) + 1))
    assert counts == expected, (
        f"{path.name}: execution counts {counts} are not those of a clean Restart & Run All "
        f"({expected[:3]}...)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_file_size(path: Path) -> None:
    size = path.stat().st_size
    assert size < MAX_BYTES, (
        f"{path.name} is {size:,} bytes; keep figures small (dpi 80-100) to stay under {MAX_BYTES:,}"
    )
