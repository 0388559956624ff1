"""The dashboard in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

One server for the module (offline, tiny sizes, a temporary run store, a small source model
saved where the app looks for models trained in it). A failing test leaves a screenshot in
test-artifacts/. Skipped without Chromium or playwright, failed instead when
TL_LESSONS_REQUIRE_BROWSER=1 (see the `chromium_path` fixture in conftest.py).
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect
except ImportError:  # the `chromium_path` fixture then skips (or fails in CI) every test here
    expect = PlaywrightTimeout = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Training a tiny run takes seconds; the first page load also builds the synthetic data.
SLOW_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    """`streamlit run app.py` on a free port; yields its address and stops it afterwards."""
    from tl_lessons.dashboard import sources
    from tl_lessons.runs import RunStore

    folder = tmp_path_factory.mktemp("app")
    store_path = folder / "runs" / "runs.sqlite"
    model, train_set, _, config = sources.source_training("synthetic10", per_class=2, epochs=1)
    sources.save_source(sources.sources_dir(store_path) / "tiny.pt", model, train_set, config, {})
    # A run from an earlier session, so that every test finds at least one stored run.
    store = RunStore(store_path)
    earlier = store.start({"strategy": "scratch", "target": "synthetic100"}, "an earlier run")
    store.log(
        earlier,
        {
            "kind": "epoch",
            "epoch": 1,
            "train_loss": 4.6,
            "train_acc": 0.01,
            "val_loss": 4.6,
            "val_acc": 0.01,
            "elapsed": 1.0,
        },
    )
    store.finish(earlier, "finished", {"val_acc": 0.01, "best_val_acc": 0.01, "elapsed": 1.0})
    port = free_port()
    env = {
        **os.environ,
        "TL_LESSONS_RUNS": str(store_path),
        "TL_LESSONS_DATA": str(folder / "no-data"),
        "TL_LESSONS_APP_TINY": "1",
        "TL_LESSONS_THREADS": "2",
    }
    log = open(folder / "streamlit.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{address}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {(folder / 'streamlit.log').read_text()}")
                time.sleep(0.3)
        yield address
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=SLOW_MS)  # assertions wait as long as the slowest step may take
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, request):
    """A fresh browser tab (its own Streamlit session); a screenshot is kept when the test fails."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(SLOW_MS)
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def open_lab(page, address, query=""):
    page.goto(f"{address}/{query}")
    expect(page.get_by_role("heading", name="Transfer lab")).to_be_visible()
    expect(page.get_by_text("What will train")).to_be_visible()
    # The rest of the page (comparison, reference runs) is still being drawn: a click that lands
    # during a redraw can be lost, so wait until Streamlit says the script has finished.
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


def main(page):
    """The page's content, without Streamlit's own toolbar (which has a Stop button too)."""
    return page.get_by_test_id("stMainBlockContainer")


def choose(page, label, option):
    """Pick `option` in the select box labelled `label`, opening it again if a redraw closed it."""
    box = main(page).get_by_test_id("stSelectbox").filter(has_text=label)
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        box.click()
        try:
            wanted.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"the {label!r} list never offered {option!r}")


def train_button(page):
    return main(page).get_by_role("button", name="Train", exact=True)


def results_cells(page, text):
    """Cells of the results table (the second dataframe) whose whole text is `text`."""
    table = main(page).get_by_test_id("stDataFrame").nth(1)
    return table.locator("[data-testid^=glide-cell]").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def run_chips(page):
    """The runs picked for the comparison chart (chips of the multiselect)."""
    return main(page).get_by_test_id("stMultiSelect").get_by_text(re.compile(r"^#\d+ "))


def test_train_a_tiny_run_see_its_curves_and_find_it_in_the_table(page, server):
    open_lab(page, server)
    choose(page, "Strategy", "Linear probe")
    expect(page.get_by_text("Freeze every stage and train only a new head")).to_be_visible()
    train_button(page).click()
    expect(page.get_by_text(re.compile("^Finished"))).to_be_visible(timeout=SLOW_MS)
    # Loss and accuracy of the run, the comparison of stored runs and the recorded reference runs.
    expect(main(page).get_by_test_id("stVegaLiteChart")).to_have_count(4)
    expect(page.get_by_text("Loss (lower is better)")).to_be_visible()
    # The new run is picked for the comparison and listed in the results table.
    expect(run_chips(page).filter(has_text="linear probe")).to_have_count(1)
    label = run_chips(page).filter(has_text="linear probe").inner_text().strip()
    expect(results_cells(page, label)).to_have_count(1)
    expect(train_button(page)).to_be_enabled()


def test_runs_are_still_listed_after_a_reload(page, server):
    open_lab(page, server)
    expect(run_chips(page).first).to_be_visible()
    before = run_chips(page).count()
    page.reload()
    expect(page.get_by_text("What will train")).to_be_visible()
    expect(run_chips(page)).to_have_count(before)
    expect(results_cells(page, "finished").first).to_be_attached()
    expect(results_cells(page, "#1 an earlier run")).to_have_count(1)


def test_a_shared_link_restores_its_settings(page, server):
    open_lab(page, server, "?strategy=freeze&k=2&lr=0.02&epochs=3")
    expect(page.get_by_role("combobox", name="Strategy", exact=True)).to_have_value("Freeze the first k stages")
    expect(page.get_by_text("stage1 (k = 2)")).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Learning rate", exact=True)).to_have_value("0.0200")
    expect(page.get_by_role("spinbutton", name="Epochs", exact=True)).to_have_value("3")
    assert "k=2" in page.url and "strategy=freeze" in page.url


def test_two_sessions_take_turns_and_stop_keeps_the_partial_run(browser, server):
    """Two tabs train at once: the second waits its turn; Stop ends the first and keeps it."""
    first, second = browser.new_context().new_page(), browser.new_context().new_page()
    for tab in (first, second):
        tab.set_default_timeout(SLOW_MS)
    try:
        open_lab(first, server, "?strategy=finetune&epochs=80&seed=1")
        open_lab(second, server, "?strategy=linear_probe&seed=2")
        train_button(first).click()
        expect(first.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
        train_button(second).click()
        expect(second.get_by_text(re.compile(r"1 run\(s\) ahead of yours"))).to_be_visible()

        main(first).get_by_role("button", name="Stop").click()
        # The run halts after its current batch and the page shows it at its next poll. How fast is
        # measured by the benchmark (`bench --only app`, target 2 s), not here: on a busy CI machine
        # one batch and one redraw can take many seconds.
        expect(first.get_by_text(re.compile("^Stopped"))).to_be_visible()
        expect(results_cells(first, "stopped")).to_have_count(1)

        expect(second.get_by_text(re.compile("^Finished"))).to_be_visible()
        # Each tab shows its own run, never the other's.
        expect(second.get_by_text(re.compile(r"^Run: linear probe"))).to_have_count(1)
        expect(first.get_by_text(re.compile(r"^Run: finetune"))).to_have_count(1)
        expect(first.get_by_text(re.compile(r"^Run: linear probe"))).to_have_count(0)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        first.screenshot(path=str(ARTIFACTS / "two_sessions_first.png"), full_page=True)
        second.screenshot(path=str(ARTIFACTS / "two_sessions_second.png"), full_page=True)
        raise
    finally:
        first.context.close()
        second.context.close()
