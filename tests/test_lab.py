"""`make lab` as a reader uses it: JupyterLab on the chapters, in headless Chromium (tests/chromium.py).

The test runs the Makefile's own `lab` recipe (the environment is not rebuilt: its stamp is taken as up to date),
on a free port of 127.0.0.1 with a known token, in the quick profile and with this run's SHAP_BOOK_DATA. The
server shows a temporary copy of one chapter's pair, so that nothing the test runs or saves reaches
chapters/; Jupyter's runtime, configuration, data, settings and workspace directories are temporary too, so
the reader's own settings neither help nor hinder. In the browser, the chapter's MyST source is double-clicked
in the file browser and must open as a notebook (not in the text editor), with the environment's kernel; its
cells are run with Shift+Enter down to the Settings cell, whose output must be what the reader would see;
saving must write the outputs into the paired .ipynb and leave the .md the same chapter.

Skipped without a browser, like tests/test_browser.py (a failure when SHAP_BOOK_REQUIRE_BROWSER=1). Every wait
is bounded, and the server (with its kernel) is stopped whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import psutil
import pytest

from tests.chromium import CHROMIUM, FLAGS, require_chromium

require_chromium()

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "shapley_values"  # its cells up to Settings are cheap and write nothing
SETTINGS_OUTPUT = "profile=quick: background=8 images, nsamples=2000"
START_TIMEOUT = 180  # s: `helpers check` imports TensorFlow first, on a busy 2-core machine
RUN_TIMEOUT = 180_000  # ms: the kernel starts and imports helpers (and TensorFlow) in the first cells
UI_TIMEOUT = 60_000  # ms: any other wait in the browser
# make's own variables, which a `make test` run passes down to this process: the test's make must not inherit
# them (another VENV or REQUIREMENTS, a jobserver).
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """The `make lab` process, its server's address and token, and the folder the server shows."""

    def __init__(self, home: Path):
        self.home = home
        self.root = home / "chapters"
        self.root.mkdir()
        for suffix in (".md", ".ipynb"):
            shutil.copy(ROOT / "chapters" / f"{CHAPTER}{suffix}", self.root)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "make-lab.log"
        args = ["--no-browser", f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:  # containers and CI machines that run everything as root
            args.append("--allow-root")
        env = {name: value for name, value in os.environ.items() if name not in MAKE_VARIABLES}
        env.update(SHAP_BOOK_PROFILE="quick", JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
        venv = Path(sys.prefix)
        command = ["make", "--no-print-directory", f"--assume-old={venv / '.installed'}", "lab", f"VENV={venv}",
                   f"PYTHON={sys.executable}", f"LAB_ARGS={shlex.join(args)}"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def request(self, path: str, method: str = "GET"):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"make lab stopped (exit {self.process.returncode}):\n{self.tail()}"
            try:
                self.request("/api/status")
                return
            except OSError:
                time.sleep(1)
        raise AssertionError(f"JupyterLab did not answer within {START_TIMEOUT} s:\n{self.tail()}")

    def kernels(self) -> list[psutil.Process]:
        """The kernel processes the server started (its descendants running ipykernel)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [p for p in children if "ipykernel_launcher" in " ".join(p.cmdline())]

    def stop(self) -> None:
        """Shut the server down through its API (it stops its kernels), then make sure of it by signals."""
        kernels = self.kernels()
        if self.process.poll() is None:
            try:
                self.request("/api/shutdown", method="POST")
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=15)
        _, alive = psutil.wait_procs(kernels, timeout=15)
        for kernel in alive:
            kernel.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def settings_cell_index(path: Path) -> int:
    """The index of the chapter's Settings cell: the first code cell after the "## Settings" heading."""
    cells = jupytext.read(path).cells
    heading = next(i for i, cell in enumerate(cells) if cell.source.startswith("## Settings"))
    return next(i for i in range(heading, len(cells)) if cells[i].cell_type == "code")


def test_a_chapter_opens_as_a_notebook_and_runs_in_the_books_environment(lab, browser):
    from playwright.sync_api import expect

    original = {suffix: (ROOT / "chapters" / f"{CHAPTER}{suffix}").read_bytes() for suffix in (".md", ".ipynb")}
    settings = settings_cell_index(lab.root / f"{CHAPTER}.md")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(f"{lab.url}/lab?token={lab.token}")

    # A double click in the file browser opens the file with its default viewer.
    page.locator(".jp-DirListing-item").filter(has=page.get_by_text(f"{CHAPTER}.md", exact=True)).dblclick()
    opened = page.locator("#jp-main-dock-panel .jp-NotebookPanel, #jp-main-dock-panel .jp-FileEditor").first
    opened.wait_for()
    assert "jp-FileEditor" not in opened.get_attribute("class"), f"{CHAPTER}.md opened in the text editor"
    assert page.locator(".lm-TabBar-tab.jp-mod-current").first.inner_text().strip() == f"{CHAPTER}.md"
    notebook = page.locator("#jp-main-dock-panel .jp-NotebookPanel:visible")
    notebook.locator(".jp-Cell h1", has_text="What SHAP values are").wait_for()
    cells = notebook.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(jupytext.read(lab.root / f"{CHAPTER}.md").cells), timeout=UI_TIMEOUT)

    # Run the cells one by one, from the title down to the Settings cell, as a reader would.
    cells.nth(0).locator(".jp-InputPrompt").click()
    for _ in range(settings + 1):
        page.keyboard.press("Shift+Enter")
    # The Settings cell has run when its prompt shows an execution count (not "[ ]:" or the busy "[*]:"). The
    # count itself is not checked: a cell sent while a slow machine is still starting the kernel may be
    # counted first or second.
    try:
        expect(cells.nth(settings).locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[\d+\]:$"),
                                                                           timeout=RUN_TIMEOUT)
    except AssertionError as err:
        raise AssertionError(f"the Settings cell did not run: {err}\nthe notebook's outputs: "
                             f"{notebook.locator('.jp-OutputArea').all_inner_texts()}") from err
    output = cells.nth(settings).locator(".jp-OutputArea")
    expect(output).to_contain_text(SETTINGS_OUTPUT, timeout=10_000)
    expect(output).to_contain_text("Quick profile (SHAP_BOOK_PROFILE=quick)", timeout=10_000)
    assert notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    # The kernel is the environment's Python, and it sees the book's settings.
    kernels = lab.kernels()
    assert len(kernels) == 1, [k.cmdline() for k in kernels]
    assert Path(kernels[0].cmdline()[0]).parent == Path(sys.prefix) / "bin", kernels[0].cmdline()
    environ = kernels[0].environ()
    assert environ.get("SHAP_BOOK_PROFILE") == "quick"
    assert environ.get("SHAP_BOOK_DATA") == os.environ.get("SHAP_BOOK_DATA")

    # Saving writes both files of the pair: the outputs go to the .ipynb, the .md stays the same chapter.
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").wait_for(state="detached")
    saved = nbformat.read(lab.root / f"{CHAPTER}.ipynb", as_version=4)
    texts = [out.get("text", "") for out in saved.cells[settings].outputs if out.output_type == "stream"]
    assert any(SETTINGS_OUTPUT in text for text in texts), saved.cells[settings].outputs
    sources = [cell.source for cell in jupytext.read(ROOT / "chapters" / f"{CHAPTER}.md").cells]
    assert [cell.source for cell in jupytext.read(lab.root / f"{CHAPTER}.md").cells] == sources
    assert [cell.source for cell in saved.cells] == sources
    page.close()

    # The cells run wrote no model (nbval's runs share chapters/artifacts), and chapters/ is as it was.
    assert not (lab.root / "artifacts").exists()
    for suffix, content in original.items():
        assert (ROOT / "chapters" / f"{CHAPTER}{suffix}").read_bytes() == content
