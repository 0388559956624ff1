"""The machinery every explorer shares: controls wired to a pure function that draws a `View`.

An explorer has two halves. The *pure* half is a plain function from control values to a
`View` (a figure, a few lines of text, and the numbers behind them); the tests and the
chapters can call it directly. The *widget* half, `Explorer`, shows the controls and the view
and redraws the view when a control changes.

A chapter cell that ends with an explorer leaves three outputs:

1. the controls (an ipywidgets box; where no kernel runs, a sentence saying so);
2. the figure as a plain PNG image;
3. the text, as plain text and as HTML.

Outputs 2 and 3 are ordinary outputs, not widget state, so the chapter reads well where
widgets are not live (GitHub, nbviewer, a printout) and a headless run (nbval) records them.
A control change replaces them in place (`display_id`), so the notebook never stores images
inside widgets.

    >>> import ipywidgets
    >>> from tl_lessons.widgets.loss import softmax_view
    >>> explorer = Explorer(softmax_view, {"logits": ipywidgets.Text("2, 1, 0.1"),
    ...                                    "temperature": ipywidgets.FloatSlider(1.0, min=0.1, max=10.0)})
    >>> explorer.view.caption       # what is shown now; `explorer` as a cell's last line shows it all
    'Softmax at temperature 1: probabilities [0.659, 0.242, 0.099]'
"""
from __future__ import annotations

import base64
import html
import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from matplotlib.figure import Figure

from tl_lessons.errors import LessonError

# Said in place of the controls where they cannot be live (a static copy of the chapter).
STATIC_NOTE = "(Controls: {names}. They work in a running Jupyter kernel; this is the view they show first.)"


@dataclass
class View:
    """What an explorer shows for one setting of its controls.

    figure: the picture (None for a text-only view); caption: one line saying what it shows,
    used as the picture's text version; text: lines printed under it (a table, a sentence);
    numbers: the values behind the picture, for tests and for the curious.

    >>> from tl_lessons.widgets.loss import softmax_view
    >>> view = softmax_view([2.0, 1.0, 0.1], temperature=1.0, true_class=0)
    >>> print(view.text.splitlines()[1])
    probabilities  : [0.659, 0.242, 0.099]
    >>> f"{view.numbers['cross_entropy']:.4f}"
    '0.4170'
    """

    figure: Figure | None
    caption: str
    text: str = ""
    numbers: dict = field(default_factory=dict)


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, at the figure's own resolution, in at most 256 colours.

    A chart has few colours, and a palette of 256 keeps even a grid of photos looking right,
    while the file shrinks about threefold: the chapters stay small with every view saved.

    >>> figure = Figure(figsize=(2, 1))
    >>> _ = figure.subplots().plot([0, 1], [1, 0])
    >>> png_bytes(figure)[:4]
    b'\\x89PNG'
    """
    from PIL import Image  # matplotlib's own dependency

    rendered = io.BytesIO()
    figure.savefig(rendered, format="png", dpi=figure.dpi, facecolor="white")
    picture = Image.open(rendered).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    compact = io.BytesIO()
    picture.save(compact, format="png")
    return compact.getvalue()


def figure_output(view: View) -> dict:
    """The MIME bundle of the view's figure: a PNG, with the caption as its text version."""
    if view.figure is None:
        return {"text/plain": view.caption}
    return {"image/png": base64.b64encode(png_bytes(view.figure)).decode("ascii"), "text/plain": view.caption}


def text_output(text: str, teacher: bool = False) -> dict:
    """The MIME bundle of the view's text: plain, and as HTML in a fixed-width font (larger for a teacher)."""
    size = "1.6em" if teacher else "1em"
    return {"text/plain": text,
            "text/html": f'<pre style="font-size: {size}; line-height: 1.3">{html.escape(text)}</pre>'}


class Explorer:
    """Controls wired to a pure function: every change of a control redraws the view in place.

    draw: the pure function, called as draw(**{name: control.value}) and returning a View.
    controls: {name: ipywidgets control}, shown top to bottom in this order.
    adjust: optional, called as adjust(name, explorer) right after the control `name` changed and
        before the redraw, to update controls that depend on it (e.g. the classes of a new dataset).
    teacher: a larger, higher-contrast text (the figures are drawn in the teacher's view by `draw`).
    extra: further widgets shown under the controls (e.g. buttons), not passed to `draw`.

    Errors a learner can cause (a `LessonError`, e.g. logits that are not numbers) are shown in
    place of the text; the last figure and every control value stay as they were.

    >>> import ipywidgets
    >>> from tl_lessons.widgets.loss import softmax_view
    >>> explorer = Explorer(softmax_view, {"logits": ipywidgets.Text("2, 1, 0.1"),
    ...                                    "temperature": ipywidgets.FloatSlider(1.0, min=0.1, max=10.0)})
    >>> explorer.controls["temperature"].value = 4.0    # redraws: explorer.view is the new View
    >>> explorer.view.caption
    'Softmax at temperature 4: probabilities [0.417, 0.324, 0.259]'
    >>> explorer.controls["logits"].value = "2, one"    # a mistake is said in place of the text
    >>> explorer.message
    "Type the logits as numbers separated by commas, e.g. 2.0, 1.0, 0.1; '2, one' is not."
    """

    def __init__(self, draw: Callable[..., View], controls: dict, adjust: Callable | None = None,
                 teacher: bool = False, extra: tuple = ()):
        import ipywidgets  # only notebooks need ipywidgets; importing tl_lessons must not

        self.draw, self.controls, self.adjust, self.teacher = draw, controls, adjust, teacher
        self.box = ipywidgets.VBox([*controls.values(), *extra])
        self.message = ""  # the learner-facing error of the last redraw, "" when it worked
        self._held = False
        self._drawing = threading.RLock()
        self._handles = None  # (figure, text) display handles once the explorer is shown
        self.view = draw(**self.values())
        for name, control in controls.items():
            control.observe(lambda change, name=name: self._changed(name), names="value")

    def values(self) -> dict:
        """The controls' current values, by name: what `draw` is called with."""
        return {name: control.value for name, control in self.controls.items()}

    @contextmanager
    def holding(self):
        """Change several controls inside the block and redraw once, after it.

        >>> from tl_lessons.widgets.loss import softmax_explorer
        >>> explorer = softmax_explorer()
        >>> with explorer.holding():                              # one redraw, after both
        ...     explorer.controls["logits"].value = "3, 1, 0"
        ...     explorer.controls["temperature"].value = 2.0
        >>> explorer.view.caption
        'Softmax at temperature 2: probabilities [0.629, 0.231, 0.140]'
        """
        was_held, self._held = self._held, True
        try:
            yield
        finally:
            self._held = was_held
        if not was_held:
            self.redraw()

    def _changed(self, name: str) -> None:
        if self._held:
            return
        with self.holding():
            if self.adjust is not None:
                try:
                    self.adjust(name, self)
                except LessonError:
                    pass  # e.g. data that cannot be loaded: the redraw meets it too, and shows its message

    def redraw(self) -> None:
        """Draw the view for the current values, and replace the shown outputs with it.

        A background thread (a run trained now) may redraw too: one redraw at a time, because
        the figure styles are matplotlib's global settings while a figure is drawn.
        """
        with self._drawing:
            try:
                self.view, self.message = self.draw(**self.values()), ""
            except LessonError as error:
                self.message = str(error)
            self._publish()

    def say(self, message: str) -> None:
        """Show `message` in place of the text until the next redraw (e.g. "computing ...")."""
        if self._handles is not None and self._handles[1] is not None:
            self._handles[1].update(text_output(message, self.teacher), raw=True)

    def outputs(self) -> list[dict]:
        """The MIME bundles shown under the controls: the figure, then the text (or the error)."""
        return [figure_output(self.view), text_output(self.message or self.view.text, self.teacher)]

    def controls_output(self) -> dict:
        """The controls' MIME bundle, with a sentence instead of the widget's repr for static copies."""
        bundle = dict(self.box._repr_mimebundle_())
        names = ", ".join(control.description or name for name, control in self.controls.items())
        bundle["text/plain"] = STATIC_NOTE.format(names=names)
        return bundle

    def _publish(self) -> None:
        if self._handles is None:
            return
        for handle, bundle in zip(self._handles, self.outputs()):
            if handle is not None:  # None: displayed outside IPython, where nothing can be updated
                handle.update(bundle, raw=True)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.controls_output(), raw=True)
        self._handles = [display(bundle, raw=True, display_id=True) for bundle in self.outputs()]
