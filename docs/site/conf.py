"""Sphinx configuration of the course site, built from the stored notebooks without running them.

The source folder is the repository root, so every relative link between the README, the
notebooks, the datasheets and the results tables resolves as it does on GitHub.
Build with ``bash docs/site/build.sh``.
"""

import json
import re
from pathlib import Path

project = "Multimodal Fusion Deep Learning with PyTorch"
author = "the course authors"
copyright = "the course authors, MIT license"

extensions = [
    "myst_nb",                    # notebooks and MyST Markdown (includes myst_parser)
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",     # serves MathJax from _static, no CDN
]

root_doc = "README"               # the course map is the front page
include_patterns = [
    "README.md",
    "notebooks/*.ipynb",
    "course_lib/README.md",
    "docs/datasets/*.md",
    "docs/site/*.md",
    "benchmarks/results/*.md",
]
exclude_patterns = [
    ".venv", ".git", "data", "artifacts", "docs/site/_build", "docs/site/navigation.md", "**/.ipynb_checkpoints",
]

# The stored outputs are the content: nothing is executed.
nb_execution_mode = "off"
nb_merge_streams = True
# No stored output is a live widget: never load the widget manager from a CDN for saved widget state.
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3          # [text](#a-heading) and [text](page.md#a-heading) links

nitpicky = True                   # every reference must resolve

html_theme = "sphinx_book_theme"
html_title = project
html_extra_path = ["extra"]       # index.html, which forwards to the front page
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navbar_persistent": [],      # the sidebar has the search field; no second one in a header bar
}
html_copy_source = False
html_show_sourcelink = False

# Directory links that GitHub shows as folder listings point to a page on the site.
FOLDER_PAGES = {"docs/datasets/": "docs/site/datasets.md"}
# The site's navigation, appended to the front page (README.md itself stays as it is).
NAVIGATION = Path(__file__).with_name("navigation.md").read_text()


def _map_folder_links(text: str) -> str:
    """Rewrite ``](../docs/datasets/)`` style links to the page that lists that folder."""
    for folder, page in FOLDER_PAGES.items():
        text = re.sub(r"\]\(((?:\.\./)*)" + re.escape(folder) + r"\)", r"](\g<1>" + page + ")", text)
    return text


def _fold_hidden_cells(notebook_json: str) -> str:
    """Fold on the site what JupyterLab shows folded: a cell whose source (or outputs) the
    notebook stores as hidden gets MyST-NB's ``hide-input`` (or ``hide-output``) tag."""
    notebook = json.loads(notebook_json)
    for cell in notebook["cells"]:
        hidden = cell.get("metadata", {}).get("jupyter", {})
        tags = cell["metadata"].setdefault("tags", []) if hidden else []
        for key, tag in (("source_hidden", "hide-input"), ("outputs_hidden", "hide-output")):
            if hidden.get(key) and tag not in tags:
                tags.append(tag)
    return json.dumps(notebook)


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if app.env.doc2path(docname).suffix == ".ipynb":
        source[0] = _fold_hidden_cells(source[0])
    source[0] = _map_folder_links(source[0])
    if docname == root_doc:
        source[0] += "\n\n" + NAVIGATION


def setup(app):
    app.connect("source-read", _on_source_read)
