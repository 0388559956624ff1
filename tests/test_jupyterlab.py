"""Chapter 04 in a real JupyterLab, in a real browser: its explorer of recorded runs is live.

The headless tests (test_widgets.py) check that a control's callback changes the view; this one
checks what only a browser shows: that JupyterLab renders the kit's controls (ipywidgets through
jupyterlab-widgets) and that moving one replaces the figure on the page. JupyterLab serves a copy
of chapter 04 on a free port of 127.0.0.1 (no token, offline); Playwright drives Debian's
Chromium through the notebook's own interface: run the chapter's first two cells (its settings
and imports, in test mode), add a cell under them that opens the explorer on the recorded runs
(the chapter's own sweeps, recorded with `make reference-runs`: training them again would take
minutes), and move the explorer's "freeze k" control. A failing test leaves a screenshot in
test-artifacts/.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium_path` fixture then skips (or fails in CI) every test here
    expect = None

from tl_lessons.bench_browser import CHROMIUM_ARGS, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "04_cifar100_transfer.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
SLOW_MS = 120_000  # a kernel's first imports (torch, matplotlib) on a busy 2-core machine
SERVER_LOGS = []   # JupyterLab's log (its kernel's messages too), copied beside a failing test's screenshot


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, chromium_path):
    """JupyterLab serving a copy of chapter 04 (test mode, no CIFAR: the synthetic sets), its address."""
    folder = tmp_path_factory.mktemp("jupyterlab")
    # The chapter without its committed outputs, so that an execution count on the page can only come
    # from this kernel.
    chapter = json.loads((ROOT / "notebooks" / CHAPTER).read_text())
    for cell in chapter["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (folder / CHAPTER).write_text(json.dumps(chapter))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TL_LESSONS_FAST": "1", "TL_LESSONS_DATA": str(folder / "no-data"),
           "TL_LESSONS_THREADS": "1", "JUPYTER_CONFIG_DIR": str(folder / "config"),
           "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces")}
    log = open(folder / "jupyterlab.log", "w")
    SERVER_LOGS.append(folder / "jupyterlab.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={folder}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=None", "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
         "--allow-root"],  # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{address}/api/status", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("JupyterLab did not start:\n" + (folder / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture()
def page(chromium_path, request):
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=SLOW_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        tab = chromium.new_context(viewport={"width": 1500, "height": 1000}).new_page()
        tab.set_default_timeout(SLOW_MS)
        failed_before = request.session.testsfailed
        try:
            yield tab
        finally:
            if request.session.testsfailed > failed_before:
                ARTIFACTS.mkdir(exist_ok=True)
                tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
                for log in SERVER_LOGS:
                    shutil.copy(log, ARTIFACTS / f"{request.node.name}.jupyterlab.log")
            chromium.close()


def cells(page):
    return page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")


def test_moving_a_control_of_chapter_04s_explorer_redraws_its_figure(page, jupyterlab):
    page.goto(f"{jupyterlab}/lab/tree/{CHAPTER}")
    expect(cells(page).first).to_be_visible()
    # Run the chapter's settings cell as a learner would: click, then Shift+Enter. A cell run before the
    # page has connected to its new kernel is dropped (its prompt stays "[ ]", as it did once in a
    # fresh-clone CI run); the learner then runs it again, and so does the test. The settings cell only
    # sets constants, so running it twice changes nothing.
    settings_prompt = cells(page).nth(1).locator(".jp-InputPrompt")
    for _ in range(6):
        cells(page).nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:  # its prompt shows an execution count once the kernel has run it ("[*]" while it waits)
            expect(settings_prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=20_000)
            break
        except AssertionError:
            continue
    expect(settings_prompt).to_have_text(re.compile(r"\[\d+\]"))
    # The kernel answers: now the imports.
    cells(page).nth(2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(cells(page).nth(2).locator(".jp-OutputArea-output")).to_contain_text("test mode: True")

    # A new cell under the imports (command mode, "a": insert above the selected markdown cell).
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.keyboard.type("explorer = widgets.recorded_runs_explorer(); explorer")
    page.keyboard.press("Shift+Enter")

    explorer_cell = cells(page).nth(3)
    freeze_k = explorer_cell.locator(".widget-dropdown").filter(has_text="freeze k").locator("select")
    expect(freeze_k).to_be_visible()
    figure = explorer_cell.locator(".jp-OutputArea-output img").first
    expect(figure).to_be_visible()
    before = figure.get_attribute("src")
    assert before.startswith("data:image/png")
    text = explorer_cell.locator(".jp-OutputArea-output pre").last
    text_before = text.inner_text()

    chosen = freeze_k.input_value()
    other = next(option for option in freeze_k.locator("option").all_inner_texts() if option != chosen)
    freeze_k.select_option(label=other)

    # The figure and its numbers are replaced in place: the curve of freeze k = `other` now.
    expect(figure).not_to_have_attribute("src", before)
    expect(text).not_to_have_text(text_before)
    expect(text).to_contain_text(f"k={other}")
