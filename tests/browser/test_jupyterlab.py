"""JupyterLab in a real browser: notebook 00 runs top to bottom and shows its pictures and sounds.

Run it with ``.venv/bin/python -m pytest -m browser tests/browser`` (skipped without Playwright or Chromium).
The screenshot of the run notebook is saved to artifacts/jupyterlab_notebook_00.png.
"""
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/00_overview_and_setup.ipynb"
OVERRIDES = ROOT / "jupyter" / "overrides.json"
LAB_SHARE = Path(sys.prefix) / "share" / "jupyter" / "lab"
SCREENSHOT = ROOT / "artifacts" / "jupyterlab_notebook_00.png"
RUN_TIMEOUT_S = 600

# One summary per code cell of the open notebook, read from JupyterLab's own model (window.jupyterapp).
NOTEBOOK_STATE_JS = """path => {
  const panel = [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path);
  if (!panel || !panel.content.model) return null;
  const cells = [...panel.content.model.cells].filter(cell => cell.type === 'code').map(cell => {
    const outputs = cell.outputs.toJSON();
    const html = outputs.map(o => [].concat((o.data || {})['text/html'] || []).join('')).join('');
    return {
      count: cell.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
      pngs: outputs.filter(o => o.data && o.data['image/png']).length,
      audios: (html.match(/<audio/g) || []).length,
    };
  });
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {status: kernel ? kernel.status : 'no kernel', cells};
}"""


def _menu(page, menu: str, item: str) -> None:
    """Click ``menu > item`` in JupyterLab's menu bar, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _wait_for_run(page) -> dict:
    """Poll until every code cell has an execution count and the kernel is idle, or a cell failed."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        state = page.evaluate(NOTEBOOK_STATE_JS, NOTEBOOK)
        idle = state["status"] == "idle"
        if idle and (all(c["count"] is not None for c in state["cells"]) or any(c["errors"] for c in state["cells"])):
            return state
        time.sleep(1)
    pytest.fail(f"the notebook did not finish within {RUN_TIMEOUT_S} s: {state}")


def _save_full_screenshot(page) -> None:
    """Grow the window to the notebook's full height, so that one screenshot shows every cell.

    Cells outside the window only have an estimated height (content-visibility), so the window grows
    until the bottom of the last cell stops moving.
    """
    scroller = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer")
    height = 0
    for _ in range(10):
        needed = scroller.evaluate("""s => {
          const bottom = s.querySelector('.jp-Cell:last-child').getBoundingClientRect().bottom;
          const content = bottom - s.getBoundingClientRect().top + s.scrollTop;   // the notebook without its end margin
          return Math.ceil(content + window.innerHeight - s.clientHeight + 20);
        }""")
        if needed <= height:
            break
        height = min(needed, 30000)
        page.set_viewport_size({"width": 1280, "height": height})
        scroller.evaluate("s => { s.scrollTop = 0; }")
        page.wait_for_timeout(1000)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_overrides_are_valid_jupyterlab_settings():
    """jupyter/overrides.json only sets settings that exist, with allowed values."""
    for plugin, values in json.loads(OVERRIDES.read_text()).items():
        package, name = plugin.split(":")
        schema = json.loads((LAB_SHARE / "schemas" / package / f"{name}.json").read_text())
        jsonschema.validate(values, schema)


@pytest.mark.browser
def test_notebook_00_runs_in_jupyterlab(browser_page, lab_server):
    installed = LAB_SHARE / "settings" / "overrides.json"
    assert installed.is_file() and installed.read_text() == OVERRIDES.read_text(), (
        f"{installed} is not a copy of jupyter/overrides.json: run 'bash setup.sh --no-lab'")
    notebook_digest = hashlib.sha256((ROOT / NOTEBOOK).read_bytes()).hexdigest()
    page = browser_page

    page.goto(lab_server.url(f"lab/tree/{NOTEBOOK}"))
    page.wait_for_function("path => { const w = [...(window.jupyterapp?.shell.widgets('main') ?? [])]"
                           ".find(w => w.context?.path === path); return w?.sessionContext.session?.kernel"
                           "?.status === 'idle'; }", arg=NOTEBOOK, timeout=120_000)
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _menu(page, "Run", "Run All Cells")
    state = _wait_for_run(page)
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".every(img => img.complete)", timeout=30_000)
    _save_full_screenshot(page)

    cells = state["cells"]
    assert [error for c in cells for error in c["errors"]] == []
    assert [c["count"] for c in cells] == list(range(1, len(cells) + 1)), "every code cell runs once, in order"
    tracebacks = [text for text in page.locator('.jp-OutputArea-output[data-mime-type="application/'
                                                'vnd.jupyter.stderr"]').all_inner_texts() if "Traceback" in text]
    assert tracebacks == []

    audio_outputs = sum(c["audios"] for c in cells)
    assert audio_outputs > 0 and page.locator(".jp-OutputArea-output audio").count() == audio_outputs
    widths = page.locator(".jp-OutputArea-output img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert len(widths) >= sum(c["pngs"] for c in cells) > 0, "every PNG output is shown as a picture"
    assert all(width > 0 for width in widths), f"pictures that did not load: {widths}"

    assert page.get_by_text("official Jupyter news").count() == 0, "the news question is turned off"
    assert page.locator(".jp-Notification-Status-Text").inner_text() == "0", "no notification at all"
    assert hashlib.sha256((ROOT / NOTEBOOK).read_bytes()).hexdigest() == notebook_digest, "the notebook is not saved"
