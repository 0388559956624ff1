"""Chapter 02's gradient-descent explorer: sliders for the learning rate, momentum, start point and steps.

Each change re-runs `tl_lessons.maths.explore_descent`, which draws the path on the chosen surface
and returns its numbers (the chapter also calls it directly, to print them): the maths stays in
`tl_lessons.maths`, and this module only wires ipywidgets controls to it.

    >>> display(descent_explorer())   # in a notebook; the chapter calls it as maths.descent_explorer()
"""
from __future__ import annotations

from tl_lessons import maths


def descent_explorer():
    """An ipywidgets explorer over `maths.explore_descent`: learning rate, momentum, start point, surface and steps.

    >>> display(descent_explorer())  # doctest: +SKIP
    """
    import ipywidgets as widgets  # only notebooks need ipywidgets; importing tl_lessons must not

    slow = {"continuous_update": False}  # redraw when a slider is released, not on every pixel
    x0 = widgets.FloatSlider(value=maths.SURFACES["bowl"].start[0], min=-4.0, max=4.0, step=0.1, description="start x", **slow)
    y0 = widgets.FloatSlider(value=maths.SURFACES["bowl"].start[1], min=-2.0, max=2.5, step=0.01, description="start y", **slow)
    surface = widgets.Dropdown(options=list(maths.SURFACES), value="bowl", description="surface")

    def use_surface_start(change):
        # Each surface has its own scale: jump to a start point that is on its map.
        x0.value, y0.value = maths.SURFACES[change["new"]].start

    surface.observe(use_surface_start, names="value")
    return widgets.interactive(
        maths.explore_descent,
        lr=widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.01, description="learning rate", **slow),
        momentum=widgets.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01, description="momentum", **slow),
        x0=x0,
        y0=y0,
        surface=surface,
        steps=widgets.IntSlider(value=100, min=10, max=1000, step=10, description="steps", **slow),
        show=widgets.fixed(True),
    )
