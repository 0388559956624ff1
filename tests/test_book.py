"""The static book (`make book`, `tl_lessons.book`): its pieces, its faults, and the real book in Chromium.

The first half runs without a browser: maths, anchors and links of the Markdown, what each kind
of cell output becomes, and a build that fails (bad maths, a full disk, a read-only folder) leaving
the previous book as it was. The second half builds the book from this checkout's committed
chapters, as `make book` does on a fresh clone, and reads every page in headless Chromium.
"""
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from disk_faults import fill, read_only, small_disk
from tl_lessons import book
from tl_lessons.book_markdown import markdown_to_html
from tl_lessons.errors import LessonError
from tl_lessons.widgets.explorer import STATIC_NOTE

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Markdown and outputs
# ---------------------------------------------------------------------------------------------

def test_maths_becomes_mathml_and_markdown_does_not_touch_it():
    rendered = markdown_to_html("If $a_1 * b_2$ and $c_3 * d_4$ then\n\n$$\\frac{e^{z_k}}{\\sum_j e^{z_j}}$$")
    assert rendered.count("<math") == 3
    assert 'display="block"' in rendered and "<mfrac>" in rendered
    assert "<em>" not in rendered and "$" not in rendered  # the underscores and stars stayed maths


def test_dollars_in_code_stay_dollars():
    rendered = markdown_to_html("Run `echo $HOME` and `cost $5`; a fence:\n\n```\nx = '$y$'\n```")
    assert "<math" not in rendered
    assert "echo $HOME" in rendered and "x = '$y$'" in rendered


def test_headings_get_anchors_and_known_names_become_links():
    rendered = markdown_to_html("## 2. Cross-entropy\n\nSee `docs/data.md` and `04_x`, not `other`.",
                                links={"docs/data.md": "docs/data.html", "04_x": "04_x.html"})
    assert '<h2 id="2-cross-entropy">' in rendered
    assert '<a href="docs/data.html"><code>docs/data.md</code></a>' in rendered
    assert '<a href="04_x.html"><code>04_x</code></a>' in rendered
    assert "<code>other</code>" in rendered and 'href="other' not in rendered


def test_a_formula_the_converter_cannot_read_is_a_sentence():
    with pytest.raises(LessonError, match=r"cannot draw the formula \$x\^\$ \(Missing"):
        markdown_to_html("broken: $x^$")
    with pytest.raises(LessonError, match=r"cannot draw the formula \$\\sfrac 1 2\$ \(it does not know \\sfrac\)"):
        markdown_to_html("unknown: $\\sfrac 1 2$")


def test_a_progress_bar_leaves_its_last_state():
    assert book.printed_text("a 10%\rb 50%\rc 100%\nnext\n") == "c 100%\nnext\n"
    assert book.printed_text("\x1b[31mred\x1b[0m\n") == "red\n"


def test_outputs_become_text_figures_and_explorer_notes(tmp_path):
    images = book.ImageWriter(tmp_path, "ch")
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    explorer = book.render_output({"output_type": "display_data", "data": {
        book.WIDGET: {"model_id": "x"}, "text/plain": STATIC_NOTE.format(names="logits, temperature T")}}, images)
    assert "Live explorer" in explorer and "logits, temperature T" in explorer and "make lab" in explorer
    bar = book.render_output({"output_type": "display_data", "data": {
        book.WIDGET: {"model_id": "y"}, "text/plain": "runs: 100%|##| 2/2"}}, images)
    assert bar == '<pre class="output progress">runs: 100%|##| 2/2</pre>'
    figure = book.render_output({"output_type": "display_data", "data": {"image/png": png, "text/plain": "the curve"}},
                                images)
    assert 'src="images/ch-01.png"' in figure and 'alt="the curve"' in figure
    assert (tmp_path / "images" / "ch-01.png").read_bytes()[:4] == b"\x89PNG"
    printed = book.render_output({"output_type": "stream", "name": "stdout", "text": "1 < 2\n"}, images)
    assert printed == '<pre class="output stdout">1 &lt; 2\n</pre>'


# ---------------------------------------------------------------------------------------------
# Builds, failed builds and disk faults
# ---------------------------------------------------------------------------------------------

def tiny_kit(folder: Path, maths: str = "$x_1$") -> Path:
    """A kit folder with one chapter, one solution, a README and one doc: enough for a book."""
    (folder / "notebooks" / "solutions").mkdir(parents=True)
    (folder / "docs").mkdir()
    chapter = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": f"# Chapter 01 — Tiny\n\n## One\n\nSoftmax {maths}."},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1, "source": "print(1)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]}]}
    (folder / "notebooks" / "01_tiny.ipynb").write_text(json.dumps(chapter))
    (folder / "notebooks" / "solutions" / "01_solutions.ipynb").write_text(json.dumps({**chapter, "cells": []}))
    (folder / "README.md").write_text("# tiny kit\n\nRead `01_tiny` and `docs/more.md`.\n")
    (folder / "docs" / "more.md").write_text("# More\n\nBack to `01_tiny`.\n")
    return folder


def test_a_build_writes_every_page_linked_and_searchable(tmp_path):
    built = book.build(tmp_path / "site", root=tiny_kit(tmp_path / "kit"))
    site = built["out"]
    assert built["pages"] == 3
    assert {path.relative_to(site).as_posix() for path in site.rglob("*.html")} == {
        "index.html", "01_tiny.html", "docs/more.html"}
    assert '<a href="01_tiny.html"><code>01_tiny</code></a>' in (site / "index.html").read_text()
    assert '<a href="../01_tiny.html"><code>01_tiny</code></a>' in (site / "docs" / "more.html").read_text()
    assert (site / "solutions" / "01_solutions.ipynb").exists()
    index = json.loads((site / "search_index.js").read_text().removeprefix("window.BOOK_INDEX = ").rstrip(";\n"))
    assert {"url": "01_tiny.html#one", "page": "Chapter 01 — Tiny", "heading": "One"}.items() <= next(
        entry for entry in index if entry["heading"] == "One").items()
    assert book.summary(built).startswith("The book: 3 pages, ")


def test_a_failed_build_leaves_the_previous_book_and_no_debris(tmp_path):
    site = book.build(tmp_path / "site", root=tiny_kit(tmp_path / "kit"))["out"]
    before = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*"))
    with pytest.raises(LessonError, match="cannot draw the formula"):
        book.build(site, root=tiny_kit(tmp_path / "broken", maths="$x^$"))
    after = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if "broken" not in path.parts)
    assert after == [name for name in before]  # the old site as it was, no half-written folder beside it
    assert "Softmax" in (site / "01_tiny.html").read_text()


def test_a_full_disk_says_what_to_do_and_leaves_nothing(tmp_path):
    kit = tiny_kit(tmp_path / "kit")
    with small_disk(tmp_path / "disk") as disk:
        fill(disk)
        with pytest.raises(LessonError, match="nothing there was changed. Free some space"):
            book.build(disk / "site", root=kit)
        assert not [path for path in disk.iterdir() if path.name != "filler"]


def test_a_read_only_folder_says_what_to_do(tmp_path):
    kit, target = tiny_kit(tmp_path / "kit"), tmp_path / "shelf"
    target.mkdir()
    with read_only(target):
        with pytest.raises(LessonError, match="choose a folder you can write to with --out"):
            book.build(target / "site", root=kit)
    assert list(target.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The real book in a real browser
# ---------------------------------------------------------------------------------------------

# Links a page may hold to outside the book: citations of datasets and papers, nothing else.
CITATION_HOSTS = {"www.cs.toronto.edu", "arxiv.org", "doi.org", "proceedings.neurips.cc", "papers.nips.cc"}
SIZES = {"laptop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    """The book of this checkout's chapters, built as `make book` builds it (the command, in a new process)."""
    out = tmp_path_factory.mktemp("book") / "site"
    done = subprocess.run([sys.executable, "-m", "tl_lessons", "book", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # The build time and the site's size, in the test log (CI's too).
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print("\n" + done.stdout.splitlines()[0])
    return out


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    from tl_lessons.bench_browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def pages_of(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def open_page(browser, path: Path, size=SIZES["laptop"]):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def load_images(page) -> None:
    """Load every figure now: the book's figures load lazily, when scrolled to."""
    page.evaluate("Promise.allSettled([...document.images].map(i => { i.loading = 'eager'; return i.decode(); }))")


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_loads_clean_with_its_images(site, browser):
    for path in pages_of(site):
        page, problems = open_page(browser, path)
        load_images(page)
        broken = page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        assert problems == [] and broken == [], f"{path.name}: {problems} {broken}"
        page.close()


def anchors_of(path: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', path.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_every_link_resolves_and_only_citations_leave_the_book(site):
    outside = []
    for path in pages_of(site):
        for link in re.findall(r'(?:href|src)="([^"]+)"', path.read_text(encoding="utf-8")):
            parts = urlsplit(link)
            if parts.scheme in ("http", "https"):
                if parts.hostname not in CITATION_HOSTS:
                    outside.append(f"{path.name}: {link}")
                continue
            assert not parts.scheme, f"{path.name}: {link}"
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.is_file() and target.is_relative_to(site), f"{path.name}: {link} points nowhere"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in anchors_of(target), f"{path.name}: no #{parts.fragment} in {target.name}"
    assert outside == []


@pytest.mark.slow
@pytest.mark.browser
def test_maths_is_drawn_not_left_as_latex(site, browser):
    page, _ = open_page(browser, site / "02_loss_and_gradient_descent.html")
    drawn = page.evaluate("[...document.querySelectorAll('main math')].filter(m => m.getBoundingClientRect().width > 0).length")
    source = json.loads((ROOT / "notebooks" / "02_loss_and_gradient_descent.ipynb").read_text())
    formulas = sum(len(re.findall(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.sub(r"`[^`\n]+`", "", "".join(cell["source"])), re.S))
                   for cell in source["cells"] if cell["cell_type"] == "markdown")
    assert formulas > 50 and drawn == formulas
    # No dollar sign left in the prose of any page (code and outputs may print one).
    for path in pages_of(site):
        page, _ = open_page(browser, path)
        raw = page.evaluate("""[...document.querySelectorAll('main .markdown p, main .markdown li')]
                               .map(e => { const c = e.cloneNode(true); c.querySelectorAll('code, math').forEach(x => x.remove());
                                           return c.textContent; }).filter(t => t.includes('$'))""")
        assert raw == [], f"{path.name}: {raw[:2]}"
        page.close()


def explorer_cells(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    note = re.compile(re.escape(STATIC_NOTE).replace(r"\{names\}", ".+"), re.S)
    return sum(1 for cell in cells for output in cell.get("outputs", [])
               if note.fullmatch("".join(output.get("data", {}).get("text/plain", "")).strip()))


@pytest.mark.slow
@pytest.mark.browser
def test_each_explorer_says_it_is_live_elsewhere_and_shows_its_first_view(site, browser):
    seen = 0
    for notebook in book.chapter_notebooks(ROOT / "notebooks"):
        page, _ = open_page(browser, site / f"{notebook.stem}.html")
        load_images(page)
        views = page.evaluate("""[...document.querySelectorAll('.explorer')].filter(e => e.textContent.includes('Live explorer'))
                                 .map(e => [e.nextElementSibling?.tagName, e.nextElementSibling?.naturalWidth || 0])""")
        assert len(views) == explorer_cells(notebook), notebook.name
        assert all(tag == "IMG" and width > 0 for tag, width in views), (notebook.name, views)
        seen += len(views)
        page.close()
    assert seen >= 8


@pytest.mark.slow
@pytest.mark.browser
def test_search_finds_a_chapter_term_and_goes_there(site, browser):
    page, problems = open_page(browser, site / "index.html")
    page.fill("#search", "catastrophic forgetting")
    first = page.locator("#results a").first
    first.wait_for()
    assert "04_cifar100_transfer.html" in first.get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"04_cifar100_transfer\.html"))
    page.fill("#search", "zzzz qqqq")
    assert "Nothing in the book matches" in page.locator("#results").inner_text()
    assert problems == []


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("view", SIZES)
def test_pages_fit_the_screen(site, browser, view, tmp_path):
    """No page scrolls sideways (wide tables and code scroll inside their own box); with
    TL_LESSONS_SCREENSHOTS=<folder> the landing page and chapter 04 leave `book_<page>_<width>.png` there."""
    import os

    shots = os.environ.get("TL_LESSONS_SCREENSHOTS")
    for path in pages_of(site):
        page, _ = open_page(browser, path, SIZES[view])
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path.name} is {overflow} px too wide at {SIZES[view]}"
        if shots and path.name in ("index.html", "04_cifar100_transfer.html"):
            page.screenshot(path=str(Path(shots) / f"book_{path.stem}_{SIZES[view][0]}.png"))
        page.close()
