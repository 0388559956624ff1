"""Chapter 02's gradient-descent explorer: sliders for the learning rate, momentum, start point and steps.

Each change re-runs the descent behind `tl_lessons.maths.explore_descent` (`maths.descent_run`; the
chapter also calls `explore_descent` directly, to print its numbers) and draws the path with `maths.plot_descent`: the maths
stays in `tl_lessons.maths`, and this module only wires controls to it. Like every explorer
(`tl_lessons.widgets.explorer`), its first view is an ordinary figure and text in the notebook, so
a static copy of the chapter (the book, GitHub) shows it too.

>>> view = descent_view(lr=0.09, momentum=0.0, x0=-4.0, y0=1.5, surface="bowl", steps=100)
>>> view.numbers["verdict"], view.caption
('converged', 'Gradient descent on the elongated bowl: lr 0.09, momentum 0.00, 100 steps: converged')
"""
from __future__ import annotations

from tl_lessons import maths
from tl_lessons.widgets.explorer import Explorer, View


def descent_view(lr: float, momentum: float, x0: float, y0: float, surface: str, steps: int) -> View:
    """The path from (x0, y0) on `surface`, drawn, with `explore_descent`'s numbers under it."""
    import matplotlib.pyplot as plt

    chosen, path, summary = maths.descent_run(lr=lr, momentum=momentum, x0=x0, y0=y0, surface=surface, steps=steps)
    label = f"lr {lr:.3g}, momentum {momentum:.2f}, {steps} steps: {summary['verdict']}"
    figure = maths.plot_descent(chosen, {label: path})
    plt.close(figure)  # the explorer shows it as a PNG; the notebook must not show it a second time
    text = (f"after {summary['steps']} steps: loss {summary['final_loss']:.3g}, "
            f"distance to the nearest minimum {summary['distance_to_minimum']:.3g}: {summary['verdict']}")
    return View(figure, caption=f"Gradient descent on the {chosen.name}: {label}", text=text, numbers=summary)


def descent_explorer(teacher: bool = False) -> Explorer:
    """An explorer over `maths.explore_descent`: learning rate, momentum, start point, surface and steps.

    >>> explorer = descent_explorer()       # the chapter's cell: display(maths.descent_explorer())
    >>> explorer.controls["surface"].value = "saddle"   # the start point moves to the saddle's own
    >>> (explorer.controls["x0"].value, explorer.controls["y0"].value) == maths.SURFACES["saddle"].start
    True
    """
    import ipywidgets as widgets  # only notebooks need ipywidgets; importing tl_lessons must not

    slow = {"continuous_update": False}  # redraw when a slider is released, not on every pixel
    start = maths.SURFACES["bowl"].start
    controls = {
        "lr": widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.01, description="learning rate",
                                     style={"description_width": "initial"}, **slow),
        "momentum": widgets.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01, description="momentum", **slow),
        "x0": widgets.FloatSlider(value=start[0], min=-4.0, max=4.0, step=0.1, description="start x", **slow),
        "y0": widgets.FloatSlider(value=start[1], min=-2.0, max=2.5, step=0.01, description="start y", **slow),
        "surface": widgets.Dropdown(options=list(maths.SURFACES), value="bowl", description="surface"),
        "steps": widgets.IntSlider(value=100, min=10, max=1000, step=10, description="steps", **slow),
    }

    def start_on_the_surface(name, explorer):
        # Each surface has its own scale: jump to a start point that is on its map (one redraw).
        if name == "surface":
            explorer.controls["x0"].value, explorer.controls["y0"].value = maths.SURFACES[explorer.controls["surface"].value].start

    return Explorer(descent_view, controls, adjust=start_on_the_surface, teacher=teacher)
