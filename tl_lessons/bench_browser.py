"""The dashboard measured in a real browser: how soon after pressing Train the curves show.

`python -m tl_lessons bench --only browser` starts the dashboard (`streamlit run app.py`) with a
run store of its own, opens the transfer lab in Chromium (Debian's, driven by Playwright, as the
browser tests do), presses Train with the lab's first settings, and times what a learner sees:
the first point of the curves (the model before any training step) and the first training
point, several times, each in a fresh browser (a new learner). It also says where the time went:
from the click until the run started on the server, from there to the first training step, and
from that step until the browser drew it. Measure on an idle machine: a busy CPU slows each part.
It starts a server and a browser, so `make bench` runs it (and the doctests do not):

    with dashboard() as address:
        print(first_points(address, chromium_path(), repeats=3)["first_point_s"])
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tl_lessons.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
# Debian's Chromium in a container: no sandbox, no GPU, and no calls home that would slow it down.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
STARTUP_S = 120  # the first page load reads the datasets and the source model
# The `streamlit run` process of each running `dashboard()`, by its address (e.g. to read its memory).
SERVERS: dict[str, subprocess.Popen] = {}


def chromium_path() -> str | None:
    """The Chromium to drive: `$TL_LESSONS_CHROMIUM`, /usr/bin/chromium, or `chromium` on the PATH (None: none here)."""
    for candidate in (os.environ.get("TL_LESSONS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(app_folder=ROOT, env: dict | None = None, log_path=None):
    """`streamlit run app.py` in `app_folder` on a free port of 127.0.0.1; yields its address, stops it after.

    `env` adds to (and overrides) this process's environment, e.g. {"TL_LESSONS_RUNS": ...};
    the server's output goes to `log_path` (default: a temporary file). While it runs, its process
    is `SERVERS[address]` (its pid, e.g. for /proc/<pid>/status).

    with dashboard(env={"TL_LESSONS_APP_TINY": "1"}) as address:
        urllib.request.urlopen(address)
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = open(log_path or Path(folder) / "streamlit.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=app_folder, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        )
        address = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_S
            while True:
                try:
                    if urllib.request.urlopen(f"{address}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        raise RuntimeError(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
                    time.sleep(0.3)
            SERVERS[address] = process
            yield address
        finally:
            SERVERS.pop(address, None)
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


# The live view's two charts (loss, accuracy) join the page's other charts when the first point is drawn.
CHARTS = "[data-testid=stMainBlockContainer] [data-testid=stVegaLiteChart]"
# The progress line names a step once a training step is drawn ("epoch 1 of 8 · step 1 of 32 · ..."); a run
# so short that it ended before a redraw shows its end ("Finished ...") instead.
TRAINING_STEP = (r"/step [\d,]+ of [\d,]+|^Finished/m.test("
                 r"document.querySelector('[data-testid=stMainBlockContainer]').innerText)")


def open_lab(page, address: str):
    """Open the transfer lab and wait until its script has finished drawing (a click during a redraw may be lost)."""
    page.goto(f"{address}/")
    page.get_by_role("button", name="Train", exact=True).wait_for()
    page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", polling="raf")


def first_points(address: str, chromium: str, repeats: int = 3, store_path=None, timeout_s: float = 300) -> dict:
    """Press Train `repeats` times, each in a fresh browser, and time the first curve point and the first
    training point as the browser draws them; the slowest of each under "first_point_s" and
    "first_training_point_s", every measurement under "runs".

    With `store_path` (the server's run store) each run also says where its time went: "to_start_s"
    (click until the run was stored as started: the page's work and preparing the data and model),
    "start_to_step_s" (until its first training step, by the run's own clock: e.g. the frozen
    stages' features), and "step_to_screen_s" (until the browser drew that step: polling and redrawing).

    first_points("http://127.0.0.1:8501", "/usr/bin/chromium", repeats=1)["first_point_s"]   # seconds, e.g. 0.9
    """
    from playwright.sync_api import expect, sync_playwright

    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.set_default_timeout(timeout_s * 1000)
                try:
                    open_lab(page, address)
                    charts_before = page.locator(CHARTS).count()
                    pressed, pressed_wall = time.perf_counter(), time.time()
                    page.get_by_role("button", name="Train", exact=True).click()
                    page.wait_for_function(f"document.querySelectorAll('{CHARTS}').length >= {charts_before + 2}",
                                           polling="raf")
                    point = time.perf_counter() - pressed
                    page.wait_for_function(TRAINING_STEP, polling="raf")
                    training_point = time.perf_counter() - pressed
                    stop = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True)
                    if stop.count():
                        stop.click()
                    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled(timeout=timeout_s * 1000)
                    run = {"first_point_s": point, "first_training_point_s": training_point}
                    if store_path is not None:  # read once the run has ended: its step events are all stored then
                        run.update(where_the_time_went(store_path, pressed_wall, training_point))
                    runs.append(run)
                finally:
                    context.close()
        finally:
            browser.close()
    return {
        "first_point_s": max(run["first_point_s"] for run in runs),
        "first_training_point_s": max(run["first_training_point_s"] for run in runs),
        "runs": runs,
    }


def where_the_time_went(store_path, pressed_wall: float, training_point_s: float) -> dict:
    """Split the time until the first training point was drawn, from the newest run in the server's store."""
    store = RunStore(store_path, write=False)
    run = store.runs()[0]
    steps = store.events(run["id"], "step")
    to_start = run["created"] - pressed_wall
    start_to_step = steps[0]["elapsed"] if steps else None
    return {
        "to_start_s": to_start,
        "start_to_step_s": start_to_step,
        "step_to_screen_s": None if start_to_step is None else training_point_s - to_start - start_to_step,
    }


def measure_first_points(app_folder=ROOT, repeats: int = 3, chromium: str | None = None) -> dict:
    """The dashboard in `app_folder` (this kit by default; another copy to compare versions) measured
    by `first_points`, with a run store of its own and this computer's data folder."""
    chromium = chromium or chromium_path()
    if chromium is None:
        raise RuntimeError("No Chromium here: install it (apt-get install -y chromium) or set TL_LESSONS_CHROMIUM.")
    with tempfile.TemporaryDirectory() as folder:
        store_path = Path(folder) / "runs.sqlite"
        env = {"TL_LESSONS_RUNS": str(store_path), "PYTHONPATH": str(app_folder)}
        with dashboard(app_folder, env) as address:
            return first_points(address, chromium, repeats, store_path=store_path)
