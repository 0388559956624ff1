"""The chapters as a static book: one web page per chapter, readable in any browser, offline.

`make book` (`python -m tl_lessons book`) writes `build/book/` from what is already committed:
the chapters with their outputs, the README as the landing page, `docs/` as further reading and
the solutions notebooks as downloads. Nothing is executed, so every number on a page is the one
the chapter measured and printed.

How a notebook becomes a page, cell by cell:

* markdown: rendered by mistune (the Markdown parser nbconvert uses); its maths ($...$ and
  $$...$$) is turned into MathML while the book is built, which browsers draw without any
  script or font from the internet;
* code: highlighted by Pygments, as it reads in the chapter;
* outputs: printed text as text, figures as PNG files beside the page, HTML tables as they are;
  an explorer's controls, which only move in a running kernel, become a line that says so and
  how to open the chapter live; the figure and text the explorer shows first follow it, as in
  the notebook.

Every page links to every other (a side bar), and a search box looks through the prose of all
of them (an index written beside the pages, read by a small script: no server needed).

    python -m tl_lessons book                 # writes build/book/, prints its size and build time
    python -m tl_lessons book --out /tmp/book
"""
from __future__ import annotations

import base64
import html
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tl_lessons.book_markdown import markdown_to_html, plain_text
from tl_lessons.chapters import as_shown
from tl_lessons.errors import LessonError
from tl_lessons.widgets.explorer import STATIC_NOTE

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "assets" / "book"
DEFAULT_OUT = ROOT / "build" / "book"

# What the notebooks' explorers say in place of their controls, and what the book says instead.
CONTROLS_NOTE = re.compile(re.escape(STATIC_NOTE).replace(r"\{names\}", "(?P<names>.+?)"), re.S)
LIVE_NOTE = ("<strong>Live explorer</strong> (controls: {names}). In the book you see the view it "
             "opens with; to move the controls, open this chapter in JupyterLab "
             "(<code>make lab</code>) and run it.")
OTHER_WIDGET_NOTE = ("<strong>Interactive control</strong>: it moves only in a running Jupyter kernel. "
                     "Open this chapter in JupyterLab (<code>make lab</code>) and run it to use it.")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WIDGET = "application/vnd.jupyter.widget-view+json"


@dataclass
class Page:
    """One page of the book: where it goes, its title, its body and the headings of its contents."""

    path: str                 # relative to the site's root, e.g. "04_cifar100_transfer.html"
    title: str
    body: str = ""
    section: str = "chapters"  # "home", "chapters" or "docs": where the side bar lists it
    headings: list = field(default_factory=list)  # (level, id, text) of its h2 and h3


def chapter_notebooks(notebooks: Path) -> list[Path]:
    """The chapters, in reading order: notebooks/01_... to the last numbered one."""
    return sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))


def solution_notebooks(notebooks: Path) -> list[Path]:
    return sorted((notebooks / "solutions").glob("*.ipynb"))


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------

def printed_text(text: str) -> str:
    """What a terminal would show for a printed stream: colour codes removed, each carriage return
    overwriting its line (`chapters.as_shown`: a progress bar leaves only its last state)."""
    return as_shown(ANSI.sub("", text))


def joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


class ImageWriter:
    """Writes a page's figures as PNG files under images/ and gives each its address."""

    def __init__(self, site: Path, stem: str):
        self.folder, self.stem, self.count = site / "images", stem, 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def png(self, encoded: str) -> str:
        self.count += 1
        name = f"{self.stem}-{self.count:02d}.png"
        (self.folder / name).write_bytes(base64.b64decode(encoded))
        return f"images/{name}"


def figure_alt(text: str) -> str:
    """A figure's text version: the explorer's caption, or a plain word for matplotlib's repr."""
    return "figure" if not text or text.startswith("<Figure") else text


def render_output(output: dict, images: ImageWriter) -> str:
    """One cell output as HTML (see the module's docstring for what each kind becomes)."""
    kind = output["output_type"]
    if kind == "stream":
        return f'<pre class="output {output["name"]}">{html.escape(printed_text(joined(output["text"])))}</pre>'
    if kind == "error":
        trace = printed_text("\n".join(output.get("traceback", [])))
        return f'<pre class="output error">{html.escape(trace)}</pre>'
    data = output.get("data", {})
    plain = joined(data.get("text/plain", ""))
    if WIDGET in data:
        note = CONTROLS_NOTE.fullmatch(plain.strip())
        if note:
            return f'<div class="explorer">{LIVE_NOTE.format(names=html.escape(note["names"]))}</div>'
        if plain.startswith(("interactive(", "VBox(", "HBox(")):
            return f'<div class="explorer">{OTHER_WIDGET_NOTE}</div>'
        # A progress bar: its last state, as text.
        return f'<pre class="output progress">{html.escape(printed_text(plain))}</pre>'
    if "image/png" in data:
        source = images.png(joined(data["image/png"]))
        return f'<img class="output" src="{source}" alt="{html.escape(figure_alt(plain))}" loading="lazy">'
    if "image/svg+xml" in data:
        return f'<div class="output svg">{joined(data["image/svg+xml"])}</div>'
    if "text/html" in data:
        return f'<div class="output html">{joined(data["text/html"])}</div>'
    if "text/markdown" in data:
        return f'<div class="output markdown">{markdown_to_html(joined(data["text/markdown"]))}</div>'
    if plain:
        return f'<pre class="output">{html.escape(printed_text(plain))}</pre>'
    return ""


def merged_streams(outputs: list[dict]) -> list[dict]:
    """Consecutive prints to the same stream as one block, as a notebook shows them."""
    merged: list[dict] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (previous and output["output_type"] == "stream" and previous["output_type"] == "stream"
                and previous["name"] == output["name"]):
            merged[-1] = {**previous, "text": joined(previous["text"]) + joined(output["text"])}
        else:
            merged.append(output)
    return merged


def render_code(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return f'<pre class="code"><code>{highlight(source, PythonLexer(), HtmlFormatter(nowrap=True))}</code></pre>'


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------

def notebook_page(notebook: Path, site: Path, links: dict) -> tuple[Page, list[dict]]:
    """A chapter's page, and its sections for the search index."""
    import nbformat

    book = nbformat.read(notebook, as_version=4)
    images = ImageWriter(site, notebook.stem)
    parts, prose, title = [], [], notebook.stem
    for cell in book.cells:
        if cell.cell_type == "markdown":
            if title == notebook.stem:
                first = re.search(r"^#\s+(.+)$", cell.source, re.M)
                title = first.group(1).strip() if first else title
            parts.append(f'<div class="markdown">{markdown_to_html(cell.source, links)}</div>')
            prose.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            outputs = "".join(render_output(output, images) for output in merged_streams(cell.outputs))
            parts.append(f'<div class="cell">{render_code(cell.source)}'
                         f'{f"<div class=outputs>{outputs}</div>" if outputs else ""}</div>')
    page = Page(path=f"{notebook.stem}.html", title=title, body="\n".join(parts))
    return page, prose


def markdown_page(source: Path, path: str, links: dict, section: str) -> Page:
    text = source.read_text(encoding="utf-8")
    first = re.search(r"^#\s+(.+)$", text, re.M)
    return Page(path=path, title=first.group(1).strip() if first else source.stem,
                body=f'<div class="markdown">{markdown_to_html(text, links)}</div>', section=section)


HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)</h\1>', re.S)


def with_headings(page: Page) -> Page:
    page.headings = [(int(level), anchor, plain_text(text)) for level, anchor, text in HEADING.findall(page.body)]
    return page


def search_sections(page: Page) -> list[dict]:
    """The page cut at its h2/h3 headings: what the search box looks through."""
    sections, cuts = [], [(0, "", page.title)] + [(m.start(), m.group(2), plain_text(m.group(3)))
                                                  for m in HEADING.finditer(page.body)]
    for (start, anchor, heading), (end, *_rest) in zip(cuts, cuts[1:] + [(len(page.body), "", "")]):
        text = plain_text(re.sub(r'<div class="outputs">.*?</div>', " ", page.body[start:end], flags=re.S))
        sections.append({"url": page.path + (f"#{anchor}" if anchor else ""), "page": page.title,
                         "heading": heading, "text": " ".join(text.split())[:4000]})
    return sections


def side_bar(pages: list[Page], current: Page, root: str) -> str:
    def entry(page):
        here = ' aria-current="page"' if page is current else ""
        item = f'<li><a href="{root}{page.path}"{here}>{html.escape(page.title)}</a>'
        if page is current and page.headings:
            item += "<ul>" + "".join(
                f'<li class="h{level}"><a href="#{anchor}">{html.escape(text)}</a></li>'
                for level, anchor, text in page.headings) + "</ul>"
        return item + "</li>"

    groups = [("chapters", "Chapters"), ("docs", "Read more")]
    home = next(page for page in pages if page.section == "home")
    out = [f'<p class="home-link">{entry(home)[4:-5]}</p>']
    for section, name in groups:
        out.append(f"<h2>{name}</h2><ul>" + "".join(entry(p) for p in pages if p.section == section) + "</ul>")
    return "\n".join(out)


def pager(pages: list[Page], current: Page, root: str) -> str:
    order = [page for page in pages if page.section in ("home", "chapters")]
    if current not in order:
        return ""
    at = order.index(current)
    links = []
    if at > 0:
        links.append(f'<a rel="prev" href="{root}{order[at - 1].path}">← {html.escape(order[at - 1].title)}</a>')
    if at + 1 < len(order):
        links.append(f'<a rel="next" href="{root}{order[at + 1].path}">{html.escape(order[at + 1].title)} →</a>')
    return f'<nav class="pager">{"".join(links)}</nav>'


def page_html(pages: list[Page], page: Page) -> str:
    root = "../" * page.path.count("/")
    return (ASSETS / "page.html").read_text(encoding="utf-8").format(
        title=html.escape(page.title), root=root, side=side_bar(pages, page, root),
        body=page.body.replace('src="images/', f'src="{root}images/'), pager=pager(pages, page, root))


# ---------------------------------------------------------------------------------------------
# The site
# ---------------------------------------------------------------------------------------------

def solutions_section(solutions: list[Path]) -> str:
    rows = "".join(f'<li><a href="solutions/{path.name}" download>{path.name}</a></li>' for path in solutions)
    return ('<div class="markdown"><h2 id="solutions">Solutions</h2><p>Reference answers to the chapters\' '
            "exercises, as notebooks: download one and open it in JupyterLab. Try the exercise first: "
            f"the chapter's checks say what to fix.</p><ul>{rows}</ul></div>")


def cannot_write(out: Path, error: OSError) -> LessonError:
    return LessonError(f"Cannot write the book to {out} ({error.strerror}); nothing there was changed. Free some "
                       "space, or choose a folder you can write to with --out.")


def build(out: Path = DEFAULT_OUT, root: Path = ROOT) -> dict:
    """Write the book into `out` (replacing an earlier build there) and say what was written.

    The pages are written to a fresh folder beside `out` first and moved into place at the end:
    a failed build leaves the previous book, or nothing, never half a site.
    """
    started = time.perf_counter()
    notebooks, out = root / "notebooks", Path(out).resolve()
    chapters, solutions = chapter_notebooks(notebooks), solution_notebooks(notebooks)
    if not chapters:
        raise LessonError(f"There are no chapters in {notebooks} to make a book of: run this from the kit's folder.")
    docs = sorted((root / "docs").glob("*.md"))
    # Names a page may mention in code (`04_cifar100_transfer`, `docs/data.md`) that become links.
    links = {path.stem: f"{path.stem}.html" for path in chapters}
    links.update({f"notebooks/{path.name}": f"{path.stem}.html" for path in chapters})
    links.update({f"docs/{path.name}": f"docs/{path.stem}.html" for path in docs})
    links["notebooks/solutions/"] = "index.html#solutions"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        site = Path(tempfile.mkdtemp(prefix=".book-", dir=out.parent))
    except OSError as error:
        raise cannot_write(out, error) from None
    try:
        home = markdown_page(root / "README.md", "index.html", links, "home")
        home.body += solutions_section(solutions)
        pages, index = [home], []
        for notebook in chapters:
            page, _prose = notebook_page(notebook, site, links)
            pages.append(page)
        for doc in docs:
            doc_links = {name: "../" + target for name, target in links.items()}
            pages.append(markdown_page(doc, f"docs/{doc.stem}.html", doc_links, "docs"))
        for page in pages:
            with_headings(page)
            index.extend(search_sections(page))
        (site / "docs").mkdir()
        (site / "solutions").mkdir()
        for page in pages:
            (site / page.path).write_text(page_html(pages, page), encoding="utf-8")
        for path in solutions:
            shutil.copy2(path, site / "solutions" / path.name)
        for asset in ("book.css", "search.js"):
            shutil.copy2(ASSETS / asset, site / asset)
        # A script, not JSON: a page opened from disk (file://) may not fetch() a file beside it.
        (site / "search_index.js").write_text("window.BOOK_INDEX = " + json.dumps(index, ensure_ascii=False) + ";\n",
                                              encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        site.rename(out)
    except OSError as error:
        shutil.rmtree(site, ignore_errors=True)
        raise cannot_write(out, error) from None
    except BaseException:
        shutil.rmtree(site, ignore_errors=True)
        raise
    files = [path for path in out.rglob("*") if path.is_file()]
    return {"out": out, "pages": len(pages), "files": len(files), "bytes": sum(path.stat().st_size for path in files),
            "largest_page": max((path.stat().st_size, path.name) for path in out.glob("*.html")),
            "seconds": time.perf_counter() - started}


def summary(built: dict) -> str:
    size, name = built["largest_page"]
    return (f"The book: {built['pages']} pages, {built['files']} files, {built['bytes'] / 1e6:.1f} MB "
            f"(largest page {name}, {size / 1e6:.2f} MB), built in {built['seconds']:.1f} s.\n"
            f"Open {built['out'] / 'index.html'} in a browser.")
