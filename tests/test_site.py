"""The course site (docs/site): its link checker, and a full build from the stored notebooks.

The build test needs Sphinx, MyST-NB and the theme, and is skipped where they are not installed.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "site"


def _load_check_site():
    spec = importlib.util.spec_from_file_location("check_site", SITE / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_site = _load_check_site()


def _write(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8")


def test_check_site_accepts_a_consistent_site(tmp_path):
    _write(tmp_path / "index.html", '<a href="pages/a.html#results">A</a><img src="_images/plot.png">'
                                    '<a href="https://arxiv.org/abs/1706.01427">paper</a>')
    _write(tmp_path / "pages/a.html", '<h2 id="results">Results</h2><a href="../index.html">home</a>'
                                      '<audio controls><source src="data:audio/wav;base64,UklGRg=="></audio>')
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images/plot.png").write_bytes(b"\x89PNG")
    problems, counts = check_site.check_site(tmp_path)
    assert problems == []
    assert counts["pages"] == 2 and counts["anchors"] == 1 and counts["audio"] == 1
    assert counts["external links (not fetched)"] == 1


def test_check_site_reports_missing_files_anchors_and_external_scripts(tmp_path):
    _write(tmp_path / "index.html", '<a href="missing.html">x</a><a href="b.html#nowhere">y</a>'
                                    '<img src="_images/gone.png">'
                                    '<script src="https://cdn.example.org/lib.js"></script>')
    _write(tmp_path / "b.html", '<h1 id="top">B</h1>')
    problems, _ = check_site.check_site(tmp_path)
    assert len(problems) == 4
    assert any("missing.html" in p for p in problems)
    assert any("'nowhere'" in p for p in problems)
    assert any("gone.png" in p for p in problems)
    assert any("another host" in p for p in problems)


def _stored_media(notebook: Path) -> tuple[int, int]:
    """Images (PNG outputs and <img> in HTML outputs) and audio players in a notebook's outputs."""
    images = audio = 0
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = "".join(data.get("text/html", ""))
            images += ("image/png" in data and "text/html" not in data) + html.count("<img")
            audio += html.count("<audio")
    return images, audio


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(["bash", str(SITE / "build.sh"), str(out)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "html"


def test_front_page_is_the_course_map(built_site):
    front = (built_site / "README.html").read_text(encoding="utf-8")
    assert "Course map" in front
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f'href="notebooks/{notebook.stem}.html"' in front
    assert 'url=README.html' in (built_site / "index.html").read_text(encoding="utf-8")


def test_every_notebook_is_a_page_with_its_plots_and_audio(built_site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 13
    for notebook in notebooks:
        page = (built_site / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        images, audio = _stored_media(notebook)
        assert page.count("<img") >= images, notebook.name
        assert page.count("<audio") == audio, notebook.name


def test_datasheets_results_and_library_guide_are_pages(built_site):
    sources = [*(ROOT / "docs" / "datasets").glob("*.md"), *(ROOT / "benchmarks" / "results").glob("*.md"),
               ROOT / "course_lib" / "README.md"]
    for source in sources:
        assert (built_site / source.relative_to(ROOT).with_suffix(".html")).is_file(), source


def test_theme_and_math_are_served_locally(built_site):
    page = (built_site / "notebooks" / "07_audio_features.html").read_text(encoding="utf-8")
    assert 'src="../_static/mathjax/tex-chtml.js"' in page
    assert (built_site / "_static" / "mathjax" / "tex-chtml.js").is_file()
