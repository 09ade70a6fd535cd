"""Run the cells of a course notebook that carry a given cell tag, outside Jupyter.

Notebooks tag the code cells that define their inline versions of library pieces with
``inline``; tests execute just those cells and compare what they define with ``course_lib``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def inline_namespace(path: Path, tag: str = "inline") -> dict:
    """Execute the code cells of ``path`` tagged ``tag``, in order, in one fresh namespace."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    assert cells, f"{path.name} has no code cell tagged {tag!r}"
    namespace: dict = {"__name__": "inline_cells"}
    for cell in cells:
        exec(compile(cell.source, f"{path.name}:{tag}", "exec"), namespace)
    return namespace


def inline_fixture(notebook: str):
    """A module-scoped pytest fixture named ``inline``: the namespace of ``notebook``'s inline cells.

    In a test module: ``inline = inline_fixture("03_fusion_architectures.ipynb")``.
    """

    @pytest.fixture(scope="module")
    def inline() -> dict:
        return inline_namespace(NOTEBOOK_DIR / notebook)

    return inline
