"""Markdown with maths to HTML for the book (`tl_lessons.book`): the chapters' prose as a browser shows it.

Three things a plain Markdown parser does not do for us:

1. **Maths.** The chapters write LaTeX between dollars, as Jupyter does. Markdown would read its
   `_` and `*` as emphasis, so each formula is lifted out first, the rest is parsed, and the
   formula comes back as MathML (by `latex2mathml`), which Chromium, Firefox and Safari draw
   natively: no script, no web font, nothing fetched. Dollars inside `code` stay dollars.
2. **Anchors.** Every heading gets an id made from its words, so the side bar and the search
   can point into a page.
3. **Links.** The README and the chapters name chapters and docs in code (`04_cifar100_transfer`,
   `docs/data.md`); where the book has a page of that name, the name becomes a link to it.

>>> print(markdown_to_html("## Softmax\\n\\nIf $z_k$ grows, $p_k$ grows."))
<h2 id="softmax">Softmax</h2>
<p>If <math ... display="inline"><mrow><msub><mi>z</mi><mi>k</mi></msub></mrow></math> grows, ...
"""
from __future__ import annotations

import html
import re

from tl_lessons.errors import LessonError

# Code first, so that dollars inside code are never read as maths; then $$display$$, then $inline$.
MATH_OR_CODE = re.compile(r"(?P<code>```.*?```|`[^`\n]+`)|\$\$(?P<display>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$", re.S)
PLACEHOLDER = "MATHSPAN{}END"
TAG = re.compile(r"<[^>]+>")


def slug(text: str) -> str:
    """A heading's anchor: its words in lower case, joined by hyphens ("2. Softmax" -> "2-softmax")."""
    words = re.findall(r"[a-z0-9]+", html.unescape(TAG.sub("", text)).lower())
    return "-".join(words) or "section"


def plain_text(fragment: str) -> str:
    """An HTML fragment's words, without tags or entities (for the side bar and the search)."""
    return html.unescape(TAG.sub(" ", fragment)).replace("  ", " ").strip()


def mathml(latex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    try:
        drawn = convert(latex.strip(), display="block" if display else "inline")
    except Exception as error:  # the converter raises its own kinds for LaTeX it cannot read
        drawn, problem = "", type(error).__name__
    else:
        # A command it does not know, it keeps as text ("\\foo" in an <mi>): as wrong as an error.
        unknown = re.search(r">(\\[A-Za-z]+)<", drawn)
        problem = f"it does not know {unknown[1]}" if unknown else ""
    if problem:
        raise LessonError(f"The book cannot draw the formula ${latex}$ ({problem}): write it with commands "
                          "latex2mathml knows.")
    # A wide display formula scrolls in its own box instead of widening the page (a phone).
    return f'<span class="formula">{drawn}</span>' if display else drawn


def markdown_to_html(text: str, links: dict | None = None) -> str:
    """Markdown (with $maths$) as HTML: MathML formulas, ids on headings, known names linked."""
    import mistune

    formulas: list[str] = []

    def lift(match: re.Match) -> str:
        if match["code"]:
            return match["code"]
        formulas.append(mathml(match["display"] or match["inline"], display=match["display"] is not None))
        return PLACEHOLDER.format(len(formulas) - 1)

    rendered = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])(MATH_OR_CODE.sub(lift, text))
    rendered = re.sub(r"MATHSPAN(\d+)END", lambda match: formulas[int(match[1])], rendered)
    rendered = re.sub(r"<h([1-6])>(.*?)</h\1>",
                      lambda match: f'<h{match[1]} id="{slug(match[2])}">{match[2]}</h{match[1]}>', rendered, flags=re.S)
    if links:
        rendered = re.sub(r"<code>([^<]+)</code>", lambda match: linked(match, links), rendered)
    return rendered.strip()


def linked(match: re.Match, links: dict) -> str:
    name = html.unescape(match[1])
    target = links.get(name) or links.get(name.rstrip("/") + "/")
    return f'<a href="{target}">{match[0]}</a>' if target else match[0]
