"""Fixtures of the browser tests: a JupyterLab server started as setup.sh does, and a headless Chromium.

The tests need Playwright for Python and a Chromium on the PATH (Debian: ``apt-get install chromium``;
another path can be given in ``COURSE_CHROMIUM``); without them they are skipped.
"""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: ``url("lab/tree/x.ipynb")`` is the address of a page, token included."""

    base_url: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The path of a Chromium; skips the test when there is none."""
    path = os.environ.get("COURSE_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if path is None:
        pytest.skip(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} and $COURSE_CHROMIUM)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(server: LabServer, process: subprocess.Popen, log: Path) -> None:
    """Poll the server's status API until it answers; fail with the server's log if it does not."""
    request = urllib.request.Request(f"{server.base_url}api/status",
                                     headers={"Authorization": f"token {server.token}"})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM lets the server shut its kernels down; SIGKILL the whole group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab`` in the repository, as setup.sh starts it, in fast mode and without a browser.

    User settings, workspaces and config live in a temporary folder, so the learner's own settings
    do not change what the test sees, and autosave is off, so running the notebook never rewrites it.
    """
    home = tmp_path_factory.mktemp("jupyter_home")
    settings = home / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = {**os.environ, "COURSE_FAST": "1",
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    env.pop("MPLBACKEND", None)  # test.sh sets Agg, which would stop the kernel from drawing inline figures

    port = _free_port()
    server = LabServer(base_url=f"http://127.0.0.1:{port}/", token=secrets.token_hex(16))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={server.token}", f"--ServerApp.root_dir={ROOT}",
               f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # not .ipynb_checkpoints/ in the repo
               "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the notebook's model for the checks
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = home / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_until_ready(server, process, log)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def playwright_api():
    """Playwright's synchronous API; skips the test when Playwright is not installed."""
    return pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


@pytest.fixture()
def browser_page(playwright_api, chromium_executable: str):
    """A page of a headless Chromium driven by Playwright (1280 x 900 pixels)."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True,
                                             args=["--disable-dev-shm-usage"])
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()
