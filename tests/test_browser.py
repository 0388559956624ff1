"""The dashboard in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

Two servers for the module (`tl_lessons.bench_browser.dashboard`): an offline one in tiny mode
(synthetic data, runs of seconds) for what a learner does, and one on the real CIFAR data with
the lab's own first settings for the laptop (1280x800) and projector (1920x1080) screens. Each
has its own run store and a small source model saved where the app looks for models trained in
it. A failing test leaves a screenshot in test-artifacts/. With TL_LESSONS_SCREENSHOTS=<folder>
the screen tests also leave `after_<view>_<width>.png` there (TL_LESSONS_SCREENSHOT_TAG changes
"after"). Skipped without Chromium or playwright, failed instead when TL_LESSONS_REQUIRE_BROWSER=1
(see the `chromium_path` fixture in conftest.py).
"""

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect
except ImportError:  # the `chromium_path` fixture then skips (or fails in CI) every test here
    expect = PlaywrightTimeout = None

from tl_lessons.bench_browser import CHROMIUM_ARGS, dashboard
from tl_lessons.dashboard import jobs, sources
from tl_lessons.runs import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# Training a tiny run takes seconds; the first page load also builds the synthetic data.
SLOW_MS = 60_000
SIZES = [(1280, 800), (1920, 1080)]
LEARNER_COOKIE = "tl_lessons_learner"  # app_pages/common.py
TEACHER_TOKEN = secrets.token_urlsafe(12)  # the tiny server's teacher token, as `make app` would make one


def seeded_store(folder: Path) -> Path:
    """A run store with a run from an earlier session (nobody's), and the source model 'tiny' beside it."""
    store_path = folder / "runs" / "runs.sqlite"
    model, train_set, _, config = sources.source_training("synthetic10", per_class=2, epochs=1)
    sources.save_source(sources.sources_dir(store_path) / "tiny.pt", model, train_set, config, {})
    store = RunStore(store_path)
    earlier = store.start({"strategy": "scratch", "target": "synthetic100"}, "an earlier run")
    store.log(earlier, {"kind": "epoch", "epoch": 1, "train_loss": 4.6, "train_acc": 0.01, "val_loss": 4.6,
                        "val_acc": 0.01, "elapsed": 1.0})
    store.finish(earlier, "finished", {"val_acc": 0.01, "best_val_acc": 0.01, "elapsed": 1.0})
    return store_path


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    """The dashboard offline and tiny (a run takes seconds); its address and run store."""
    folder = tmp_path_factory.mktemp("app")
    store_path = seeded_store(folder)
    env = {"TL_LESSONS_RUNS": str(store_path), "TL_LESSONS_DATA": str(folder / "no-data"),
           "TL_LESSONS_APP_TINY": "1", "TL_LESSONS_THREADS": "2", "PYTHONPATH": str(ROOT),
           "TL_LESSONS_TEACHER_TOKEN": TEACHER_TOKEN}
    with dashboard(ROOT, env, log_path=folder / "streamlit.log") as address:
        yield SimpleNamespace(address=address, store_path=store_path)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, chromium_path, real_cifar_root):
    """The dashboard on the real CIFAR data with the lab's first settings, as a class sees it."""
    folder = tmp_path_factory.mktemp("classroom")
    store_path = folder / "runs" / "runs.sqlite"
    env = {"TL_LESSONS_RUNS": str(store_path), "TL_LESSONS_DATA": str(real_cifar_root), "TL_LESSONS_THREADS": "2",
           "PYTHONPATH": str(ROOT)}
    with dashboard(ROOT, env, log_path=folder / "streamlit.log") as address:
        yield SimpleNamespace(address=address, store_path=store_path)


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=SLOW_MS)  # assertions wait as long as the slowest step may take
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_tab(browser, width=1500, height=1000, learner_token=None, address=None):
    """A fresh browser (its own cookies: another learner, unless `learner_token` says which) and a tab in it.

    The tab records every request that leaves the dashboard's own address in `tab.outside`.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    if learner_token is not None:
        context.add_cookies([{"name": LEARNER_COOKIE, "value": learner_token, "url": address}])
    tab = context.new_page()
    tab.set_default_timeout(SLOW_MS)
    tab.outside = []
    tab.on("request", lambda request: tab.outside.append(request.url)
           if not request.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    return tab


@pytest.fixture()
def page(browser, request):
    """A fresh browser tab (its own Streamlit session and learner); a screenshot is kept when the test fails."""
    tab = new_tab(browser)
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    tab.context.close()


def snapshot(page, view: str, full_page: bool = False):
    """Leave a screenshot of this view for the record (only when TL_LESSONS_SCREENSHOTS names a folder)."""
    folder = os.environ.get("TL_LESSONS_SCREENSHOTS")
    if folder:
        tag = os.environ.get("TL_LESSONS_SCREENSHOT_TAG", "after")
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{tag}_{view}_{page.viewport_size['width']}.png"), full_page=full_page)


def wait_until_drawn(page):
    """Wait until Streamlit says the script has finished: a click that lands during a redraw can be lost."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()


def open_lab(page, address, query=""):
    page.goto(f"{address}/{query}")
    expect(page.get_by_role("heading", name="Transfer lab")).to_be_visible()
    expect(page.get_by_text("What will train")).to_be_visible()
    wait_until_drawn(page)


def main(page):
    """The page's content, without Streamlit's own toolbar."""
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
    """Cells of the results table (the last table but the reference runs') whose whole text is `text`."""
    table = main(page).get_by_test_id("stDataFrame").filter(has_text="final val acc").first
    return table.locator("[data-testid^=glide-cell]").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def run_chips(page):
    """The runs picked for the comparison chart (chips of the multiselect)."""
    return main(page).get_by_test_id("stMultiSelect").get_by_text(re.compile(r"^#\d+ "))


def compare_chart(page):
    """The comparison chart of section 4 (SVG: its marks and legend are in the page)."""
    return main(page).get_by_test_id("stVegaLiteChart").filter(has=page.locator("svg")).first


# ---------------------------------------------------------------------------------------
# What a learner does
# ---------------------------------------------------------------------------------------


def test_train_a_tiny_run_see_its_curves_and_answers_and_find_it_after_a_reload(page, server):
    open_lab(page, server.address)
    choose(page, "Strategy", "Linear probe")
    expect(page.get_by_text("Freeze every stage and train only a new head")).to_be_visible()
    train_button(page).click()
    expect(page.get_by_text(re.compile("^Finished"))).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_text("Loss (lower is better)")).to_be_visible()
    # What the model answers on the handful of validation images, each with its top 3.
    # (live, and again under "What a run learnt" for the newest run: this one)
    expect(main(page).get_by_text(re.compile(r"^(right|wrong): .+ — "))).to_have_count(16)
    # The new run is picked for the comparison and listed in the results table.
    expect(run_chips(page).filter(has_text="linear probe")).to_have_count(1)
    label = run_chips(page).filter(has_text="linear probe").inner_text().strip()
    expect(results_cells(page, label)).to_have_count(1)
    expect(train_button(page)).to_be_enabled()
    # Runs are kept across reloads, and the live view shows how the run ended.
    page.reload()
    expect(page.get_by_text("What will train")).to_be_visible()
    expect(run_chips(page)).to_have_count(1)
    expect(results_cells(page, label)).to_have_count(1)
    expect(page.get_by_text(re.compile("^Finished"))).to_be_visible()
    # Another learner's runs (an earlier session's) are in the class view.
    main(page).get_by_text("Every learner's runs (class view)").click()
    expect(results_cells(page, "#1 an earlier run")).to_have_count(1)
    assert page.outside == []  # nothing fetched from outside the dashboard: no font server, no image


def test_a_shared_link_restores_its_settings(page, server):
    open_lab(page, server.address, "?strategy=freeze&k=2&lr=0.02&epochs=3")
    expect(page.get_by_role("combobox", name="Strategy", exact=True)).to_have_value("Freeze the first k stages")
    expect(page.get_by_text("k = 2", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Frozen: stem, stage1; training: stage2"))).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Learning rate", exact=True)).to_have_value("0.0200")
    expect(page.get_by_role("spinbutton", name="Epochs", exact=True)).to_have_value("3")
    assert "k=2" in page.url and "strategy=freeze" in page.url
    assert LEARNER_COOKIE not in page.url  # the learner's token never travels in a shared link


def test_reloading_mid_run_finds_the_run_and_its_stop_button(page, server):
    open_lab(page, server.address, "?strategy=finetune&epochs=80&seed=3")
    train_button(page).click()
    expect(page.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
    page.reload()  # or the tab closed and opened again: the browser's cookie names the learner
    expect(page.get_by_text(re.compile(r"^Run: finetune"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
    expect(train_button(page)).to_be_disabled()
    line = main(page).get_by_test_id("stDataFrame").filter(has_text="whose").first
    expect(line.locator("[data-testid^=glide-cell]").filter(has_text=re.compile("^you$"))).to_have_count(1)
    main(page).get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_text(re.compile("^Stopped"))).to_be_visible()
    expect(results_cells(page, "stopped")).to_have_count(1)
    expect(train_button(page)).to_be_enabled()


@contextmanager
def two_tabs(browser, name: str):
    """Two fresh browsers (two people) for one test; each leaves a screenshot when the test fails, and closes."""
    tabs = new_tab(browser), new_tab(browser)
    try:
        yield tabs
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        for which, tab in zip(("first", "second"), tabs):
            tab.screenshot(path=str(ARTIFACTS / f"{name}_{which}.png"), full_page=True)
        raise
    finally:
        for tab in tabs:
            tab.context.close()


def one_training_one_waiting(first, second, server, seeds):
    """Two learners press Train: the first one's long run starts, the second one's waits behind it."""
    open_lab(first, server.address, f"?strategy=finetune&epochs=80&seed={seeds[0]}")
    open_lab(second, server.address, f"?strategy=linear_probe&seed={seeds[1]}")
    train_button(first).click()
    expect(first.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
    train_button(second).click()


def test_two_sessions_take_turns_and_stop_keeps_the_partial_run(browser, server):
    """Two tabs train at once: the second waits its turn (and sees who is ahead); Stop ends the first and keeps it."""
    with two_tabs(browser, "two_sessions") as (first, second):
        one_training_one_waiting(first, second, server, seeds=(1, 2))
        expect(second.get_by_text(re.compile(r"1 run must end before yours starts"))).to_be_visible()
        line = main(second).get_by_test_id("stDataFrame").filter(has_text="whose").first
        expect(line.locator("[data-testid^=glide-cell]").filter(has_text=re.compile(r"^learner \w{4}$"))).to_have_count(1)
        expect(second.get_by_role("progressbar")).to_have_count(0)  # no "preparing…" bar for a run in line

        main(first).get_by_role("button", name="Stop", exact=True).click()
        # The run halts after its current batch and the page shows it at its next poll. How fast is
        # measured by the benchmark (`bench --only app`), not here.
        expect(first.get_by_text(re.compile("^Stopped"))).to_be_visible()
        expect(results_cells(first, "stopped")).to_have_count(1)

        expect(second.get_by_text(re.compile("^Finished"))).to_be_visible()
        # Each tab shows its own run, never the other's.
        expect(second.get_by_text(re.compile(r"^Run: linear probe"))).to_have_count(1)
        expect(first.get_by_text(re.compile(r"^Run: finetune"))).to_have_count(1)
        expect(first.get_by_text(re.compile(r"^Run: linear probe"))).to_have_count(0)


def test_the_teacher_stops_a_learners_run_and_pauses_the_class(browser, server):
    """A learner trains; the teacher, signed in with the token in another browser, stops that run, then
    pauses the class: the learner's next Train is refused with a sentence. The token never reaches the learner."""
    with two_tabs(browser, "teacher") as (learner, teacher):
        try:
            open_lab(learner, server.address, "?strategy=finetune&epochs=80&seed=5")
            train_button(learner).click()
            expect(learner.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()

            teacher.goto(f"{server.address}/teacher")
            teacher.get_by_label("Teacher token", exact=True).fill("not-the-token")
            teacher.get_by_role("button", name="Open the teacher page").click()
            expect(teacher.get_by_text("That is not the teacher token")).to_be_visible()
            teacher.get_by_label("Teacher token", exact=True).fill(TEACHER_TOKEN)
            teacher.get_by_role("button", name="Open the teacher page").click()
            expect(teacher.get_by_text(re.compile(r"^Running: finetune"))).to_be_visible()
            main(teacher).get_by_role("button", name="Stop", exact=True).click()
            expect(learner.get_by_text(re.compile("^Stopped"))).to_be_visible()

            main(teacher).get_by_text("Pause new runs").click()
            main(teacher).get_by_role("button", name="Apply to the class").click()
            expect(teacher.get_by_text("New runs are paused")).to_be_visible()
            train_button(learner).click()
            expect(learner.get_by_text(re.compile("The teacher has paused new runs"))).to_be_visible()
            assert TEACHER_TOKEN not in learner.content()
        finally:
            jobs_line_unpaused(teacher)


def jobs_line_unpaused(teacher):
    """Leave the class as the other tests expect it: new runs allowed."""
    if teacher.get_by_text("New runs are paused").count():
        main(teacher).get_by_text("Pause new runs").click()
        main(teacher).get_by_role("button", name="Apply to the class").click()
        expect(teacher.get_by_text("New runs are paused")).to_have_count(0)


def in_code_popover(page, wanted):
    """`wanted`, inside the learner-code popover, opened (again, if a redraw closed it) until it shows."""
    for _ in range(4):
        if not wanted.is_visible():
            main(page).get_by_role("button", name="Learner code").click()
        try:
            wanted.wait_for(timeout=10_000)
            return wanted
        except PlaywrightTimeout:
            continue
    raise AssertionError("the learner-code popover never showed what was wanted")


def test_a_learner_code_brings_the_run_back_in_another_browser(browser, server):
    """The code shown on one browser's page, typed in another browser, finds the run and its Stop button there;
    "this is not me" then starts afresh, without that run."""
    with two_tabs(browser, "code") as (first, second):
        open_lab(first, server.address, "?strategy=finetune&epochs=80&seed=6")
        train_button(first).click()
        expect(first.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
        shown = in_code_popover(first, first.get_by_text("Your code:"))
        code = re.search(r"Your code: (\w{4}-\w{4}-\w{2})", shown.inner_text()).group(1)

        open_lab(second, server.address)
        in_code_popover(second, second.get_by_label("Use a code you were given before")).fill(code.lower())
        second.get_by_role("button", name="Use this code").click()
        expect(second.get_by_text(re.compile(r"epoch \d+ of 80"))).to_be_visible()
        expect(main(second).get_by_role("button", name="Stop", exact=True)).to_be_visible()

        in_code_popover(second, second.get_by_role("button", name="This is not me: start as a new learner")).click()
        expect(second.get_by_text(re.compile(r"epoch \d+ of 80"))).to_have_count(0)
        expect(main(second).get_by_role("button", name="Stop", exact=True)).to_have_count(0)
        main(first).get_by_role("button", name="Stop", exact=True).click()
        expect(first.get_by_text(re.compile("^Stopped"))).to_be_visible()


def test_leaving_the_line_says_nothing_was_trained(browser, server):
    first, second = new_tab(browser), new_tab(browser)
    try:
        one_training_one_waiting(first, second, server, seeds=(4, 5))
        main(second).get_by_role("button", name="Leave the line").click()
        expect(second.get_by_text(re.compile("^Left the line: .*nothing was trained or stored"))).to_be_visible()
        expect(second.get_by_text("kept with the epochs it finished")).to_have_count(0)
        expect(second.get_by_role("progressbar")).to_have_count(0)
        main(first).get_by_role("button", name="Stop", exact=True).click()
        expect(first.get_by_text(re.compile("^Stopped"))).to_be_visible()
    finally:
        first.context.close()
        second.context.close()


def test_adjusted_and_hostile_link_values_get_notices_and_fetch_nothing(page, server):
    hostile = "[click](http://example.invalid/x) ![pixel](http://example.invalid/p.png)"
    open_lab(page, server.address, "?fraction=5&seed=123456789012345678901234567890"
             f"&lr={hostile.replace(' ', '%20')}&{'![i](http://example.invalid/i.png)'}=1")
    notices = main(page).get_by_test_id("stAlertContentInfo")
    expect(notices.filter(has_text="Ignored fraction=5 from the link")).to_have_count(1)
    expect(notices.filter(has_text="Ignored seed=123456789012345678901234567890 from the link")).to_have_count(1)
    expect(notices.filter(has_text="Ignored lr=[click](http://example.invalid/x)")).to_have_count(1)
    # The values are in the widgets as the notices say: the default label choice and seed 0.
    expect(page.get_by_role("spinbutton", name="Seed", exact=True)).to_have_value("0")
    expect(page.get_by_role("spinbutton", name="Labelled images per class", exact=True)).to_be_visible()
    # Nothing clickable, no image, no request to the link's addresses: the values are shown as code.
    expect(main(page).locator("a[href*='example.invalid']")).to_have_count(0)
    expect(main(page).locator("img[src*='example.invalid']")).to_have_count(0)
    expect(notices.locator("code").filter(has_text="example.invalid")).to_have_count(2)
    assert not [url for url in page.outside if "example.invalid" in url]
    assert page.outside == []


def test_twenty_runs_get_twenty_colours_and_every_run_is_in_the_legend(browser, server):
    token = secrets.token_urlsafe(18)
    learner = jobs.learner_id(token)
    store = RunStore(server.store_path)
    names = []
    for i in range(20):
        run_id = store.start({"strategy": "freeze", "target": "synthetic100", "learner": learner}, f"colour test {i}")
        for epoch in (1, 2):
            store.log(run_id, {"kind": "epoch", "epoch": epoch, "train_loss": 4.0, "train_acc": 0.02,
                               "val_loss": 4.1, "val_acc": 0.01 * epoch + 0.001 * i, "elapsed": epoch})
        store.finish(run_id, "finished", {"val_acc": 0.02, "best_val_acc": 0.02, "elapsed": 2.0, "epochs": 2})
        names.append(f"#{run_id} colour test {i}")
    page = new_tab(browser, learner_token=token, address=server.address)
    try:
        open_lab(page, server.address)
        expect(run_chips(page)).to_have_count(20)
        chart = compare_chart(page)
        lines = chart.locator("svg .mark-line path")
        expect(lines).to_have_count(20 + 7)  # and the seven recorded reference runs
        colours = {lines.nth(i).get_attribute("stroke") for i in range(lines.count())}
        assert len(colours) == 27
        labels = chart.locator("svg .role-legend-label text")
        expect(labels).to_have_count(27)
        assert set(names) <= {labels.nth(i).text_content() for i in range(labels.count())}
        expect(chart.locator("svg text").filter(has_text="chance = 1%")).to_have_count(1)
        # Every chip is shown whole: the chips wrap instead of running out of the box.
        picker = main(page).get_by_test_id("stMultiSelect").first.bounding_box()
        for chip in run_chips(page).all():
            box = chip.bounding_box()
            assert box["x"] + box["width"] <= picker["x"] + picker["width"] + 1
    finally:
        page.context.close()


# ---------------------------------------------------------------------------------------
# A class's screens: laptop and projector, real data
# ---------------------------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.parametrize("width, height", SIZES)
def test_the_lab_at_laptop_and_projector_size(browser, classroom, width, height):
    page = new_tab(browser, width, height)
    try:
        open_lab(page, classroom.address)
        snapshot(page, "lab")
        train_button(page).click()
        expect(page.get_by_text(re.compile(r"epoch \d+ of \d+ · step"))).to_be_visible()
        live = main(page).get_by_test_id("stVegaLiteChart").filter(has=page.locator("svg"))
        # The live legend names its series in full, and the accuracy chart draws the chance line.
        expect(live.locator("svg .role-legend-label text").filter(has_text=re.compile("^validation$"))).not_to_have_count(0)
        expect(live.locator("svg text").filter(has_text="chance = 1%")).not_to_have_count(0)
        main(page).get_by_text("3 · Train").scroll_into_view_if_needed()
        snapshot(page, "live")
        expect(page.get_by_text(re.compile("^Finished"))).to_be_visible(timeout=300_000)
        main(page).get_by_text("4 · Compare runs").scroll_into_view_if_needed()
        snapshot(page, "compare")
        main(page).get_by_text("What a run learnt").scroll_into_view_if_needed()
        snapshot(page, "learnt")
        open_lab(page, classroom.address, "?fraction=5&seed=123456789012345678901234567890"
                 "&lr=%5Bclick%5D(http://example.invalid/x)")
        snapshot(page, "link_notices")
        assert page.outside == []
    finally:
        page.context.close()


@pytest.mark.real_data
@pytest.mark.parametrize("width, height", SIZES)
def test_gradient_descent_and_data_explorer_at_laptop_and_projector_size(browser, classroom, width, height):
    page = new_tab(browser, width, height)
    try:
        page.goto(f"{classroom.address}/gradient_descent")
        expect(page.get_by_role("heading", name="Gradient descent")).to_be_visible()
        wait_until_drawn(page)
        for name in ("Step", "Play", "Whole path"):  # in view without scrolling, even on a laptop
            box = main(page).get_by_role("button", name=name, exact=True).bounding_box()
            assert box["y"] + box["height"] <= height, name
        main(page).get_by_role("button", name="Whole path", exact=True).click()
        expect(main(page).get_by_test_id("stMetric").first).to_contain_text("100 of 100")
        snapshot(page, "descent")

        page.goto(f"{classroom.address}/data_explorer")
        expect(page.get_by_role("heading", name="Data explorer")).to_be_visible()
        choose(page, "Dataset", "CIFAR-100")
        main(page).get_by_text("all 20 superclasses").click()
        captions = main(page).get_by_test_id("stImageCaption")
        expect(captions).to_have_count(100)
        texts = captions.all_inner_texts()
        assert not any("_" in text for text in texts) and "aquarium fish" in texts  # display names only
        font_px = float(captions.first.evaluate("element => getComputedStyle(element).fontSize").rstrip("px"))
        assert font_px >= 12  # readable at laptop width (the figure's names were about 6 px)
        expect(main(page).get_by_text("vehicles 1", exact=True)).to_be_visible()
        expect(main(page).get_by_text(re.compile("cifar100:|vehicles_1"))).to_have_count(0)
        snapshot(page, "explorer")
    finally:
        page.context.close()
