"""Write the student edition of the course: every notebook without its solutions and outputs, checks kept.

    python -m course_lib.exercises.student_edition                    # -> student_edition/ (git-ignored)
    python -m course_lib.exercises.student_edition --out DIR --zip    # and DIR.zip, for a learning platform

Write it beside ``notebooks/`` (the default) so that the notebooks' links to ``../docs`` still work.

A solution cell (tagged ``solution``) keeps the stub lines above ``### BEGIN SOLUTION`` (each answer set to
``None``) and the lines below ``### END SOLUTION``; the region between the markers becomes ``# YOUR CODE HERE``,
as in nbgrader. Every output and execution count is removed. The check cells stay, so a learner runs the
notebook top to bottom and each check answers "not yet" until the answer is filled in.
The edition is written to a temporary folder first and moved into place at the end, so an interrupted
run leaves no half-written edition behind.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import nbformat

from course_lib import config

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUDENT_LINE = "# YOUR CODE HERE"


def strip_solution(source: str, where: str) -> str:
    """The student version of one solution cell's source: stubs, ``# YOUR CODE HERE``, and what follows END.

    Raises ValueError naming ``where`` when the markers are missing, repeated or out of order.
    """
    lines = source.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise ValueError(f"{where}: a solution cell needs one '{BEGIN}' line followed by one '{END}' line, "
                         f"found {len(begins)} and {len(ends)}")
    indent = lines[begins[0]][: len(lines[begins[0]]) - len(lines[begins[0]].lstrip())]
    return "\n".join([*lines[: begins[0]], indent + STUDENT_LINE, *lines[ends[0] + 1:]])


def student_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions, outputs and execution counts (``name`` is used in errors)."""
    nb = nbformat.from_dict(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        if "solution" in cell.metadata.get("tags", []):
            cell.source = strip_solution(cell.source, f"{name}, cell {index}")
            cell.metadata.get("jupyter", {}).pop("source_hidden", None)
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
    return nb


def write_edition(notebooks: Path, out: Path, make_zip: bool = False) -> list[Path]:
    """Write the student edition of every ``NN_*.ipynb`` in ``notebooks`` to ``out``; return the written paths."""
    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {notebooks}")
    out = out.resolve()
    if out == notebooks.resolve():
        raise ValueError(f"--out must not be the notebooks folder itself ({notebooks})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        staging = Path(tmp) / out.name
        staging.mkdir()
        for path in paths:
            nbformat.write(student_notebook(nbformat.read(path, as_version=4), path.name), staging / path.name)
        if make_zip:
            shutil.make_archive(str(staging), "zip", root_dir=staging.parent, base_dir=out.name)
            shutil.move(str(staging) + ".zip", out.with_suffix(".zip"))
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), out)
    return [out / path.name for path in paths]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=config.ROOT / "notebooks", help="the instructor's notebooks")
    parser.add_argument("--out", type=Path, default=config.ROOT / "student_edition", help="where to write the edition")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)
    written = write_edition(args.notebooks, args.out, args.zip)
    print(f"wrote {len(written)} notebooks to {args.out}" + (f" and {args.out.with_suffix('.zip')}" if args.zip else ""))


if __name__ == "__main__":
    main()
