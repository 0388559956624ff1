"""The gradient-descent playground's charts: a loss surface as a heat map, and the path walked on it.

The surfaces and the walk are `tl_lessons.maths` (chapter 02's code); this module only draws them.
While Play runs, a new frame comes five times a second, so each chart is a Vega-Lite spec built
once (the heat map inside it) and each frame only swaps the path's rows: no chart library
rebuilds and checks 2,500 heat-map cells per frame.

    >>> bowl = maths.SURFACES["bowl"]
    >>> path = maths.gradient_descent(bowl.grad, (1, 1), 0.05)          # 100 steps from (1, 1)
    >>> spec = board_spec("bowl", "lr 0.05")
    >>> frame = with_path(spec, descent_frame(bowl, path))             # what a page draws: st.vega_lite_chart(frame)
    >>> len(frame["datasets"][PATH])
    101
"""
from __future__ import annotations

import copy
import functools
import math

import altair as alt
import pandas as pd
import torch

from tl_lessons import maths
from tl_lessons.dashboard.charts import CHART_FONT

# The path's rows, sent with every frame (the heat map is in the spec).
PATH = "path"


def surface_grid(surface, points: int = 50) -> pd.DataFrame:
    """A surface's loss on a `points` x `points` grid, as heat-map cells: x, x2, y, y2, log_height.

    `log_height` is log10 of the loss above the minimum (plus 0.01): the interesting part of a
    valley is its nearly flat floor, which a linear colour scale would paint in one colour.

    >>> surface_grid(maths.SURFACES["bowl"], points=4).shape
    (16, 5)
    """
    xs = torch.linspace(*surface.xlim, points + 1, dtype=torch.float64)
    ys = torch.linspace(*surface.ylim, points + 1, dtype=torch.float64)
    centre_x, centre_y = torch.meshgrid((xs[1:] + xs[:-1]) / 2, (ys[1:] + ys[:-1]) / 2, indexing="xy")
    height = (surface.loss(centre_x, centre_y) - surface.min_loss()).clamp(min=0) + 1e-2
    left, bottom = torch.meshgrid(xs[:-1], ys[:-1], indexing="xy")
    right, top = torch.meshgrid(xs[1:], ys[1:], indexing="xy")
    return pd.DataFrame(
        {
            "x": left.flatten(),
            "x2": right.flatten(),
            "y": bottom.flatten(),
            "y2": top.flatten(),
            "log_height": height.log10().flatten(),
        }
    ).round(4)


def descent_frame(surface, path: torch.Tensor) -> pd.DataFrame:
    """A gradient-descent path as rows: step, x, y, loss above the minimum (finite points only).

    >>> bowl = maths.SURFACES["bowl"]
    >>> descent_frame(bowl, maths.gradient_descent(bowl.grad, (1, 1), 0.05)).head(2).round(3).to_dict("records")
    [{'step': 0, 'x': 1.0, 'y': 1.0, 'above_minimum': 10.5}, {'step': 1, 'x': 0.95, 'y': 0.0, 'above_minimum': 0.451}]
    """
    above = (surface.loss(path[:, 0], path[:, 1]) - surface.min_loss()).clamp(min=1e-16)
    frame = pd.DataFrame(
        {"step": range(len(path)), "x": path[:, 0].tolist(), "y": path[:, 1].tolist(), "above_minimum": above.tolist()}
    )
    return frame[frame[["x", "y", "above_minimum"]].map(math.isfinite).all(axis=1)]


# A five-pointed star (Vega-Lite takes an SVG path as a point shape) for the minima.
STAR = "M0,-1L0.22,-0.31L0.95,-0.31L0.36,0.12L0.59,0.81L0,0.38L-0.59,0.81L-0.36,0.12L-0.95,-0.31L-0.22,-0.31Z"


def _spec(chart: alt.Chart) -> dict:
    """A chart as a Vega-Lite dict whose path layers read the named dataset PATH (given per frame)."""
    spec = chart.to_dict()
    path_data = next(name for name, rows in spec["datasets"].items() if rows == [])
    del spec["datasets"][path_data]
    for layer in spec.get("layer", [spec]):
        if layer.get("data", {}).get("name") == path_data:
            layer["data"] = {"name": PATH}
    return spec


@functools.lru_cache(maxsize=16)
def _board_spec(surface_name: str, title: str) -> dict:
    surface = maths.SURFACES[surface_name]
    empty_path = pd.DataFrame(columns=["step", "x", "y", "above_minimum"])
    x_scale = alt.Scale(domain=list(surface.xlim), nice=False)
    y_scale = alt.Scale(domain=list(surface.ylim), nice=False)
    heat = (
        alt.Chart(surface_grid(surface))
        .mark_rect()
        .encode(
            x=alt.X("x:Q", scale=x_scale, title="x", axis=alt.Axis(grid=False)),
            x2="x2",
            y=alt.Y("y:Q", scale=y_scale, title="y", axis=alt.Axis(grid=False)),
            y2="y2",
            color=alt.Color("log_height:Q", scale=alt.Scale(scheme="viridis"), legend=None),
        )
    )
    minima = pd.DataFrame({"x": [m[0] for m in surface.minima], "y": [m[1] for m in surface.minima]})
    stars = (
        alt.Chart(minima)
        .mark_point(shape=STAR, size=500, filled=True, color="gold", stroke="black", strokeWidth=1.5, opacity=1)
        .encode(x="x:Q", y="y:Q")
    )
    # clip: a path that leaves the map is cut at its edge (the page says at which step it left).
    line = (
        alt.Chart(empty_path)
        .mark_line(
            color="white", strokeWidth=2.5, clip=True, point=alt.OverlayMarkDef(color="#e4572e", size=45, filled=True)
        )
        .encode(
            x="x:Q",
            y="y:Q",
            order="step:Q",
            tooltip=["step:Q", alt.Tooltip("x:Q", format=".3f"), alt.Tooltip("y:Q", format=".3f")],
        )
    )
    start = (
        alt.Chart(empty_path)
        .transform_filter(alt.datum.step == 0)
        .mark_point(size=260, filled=True, color="white", stroke="black", opacity=1, clip=True)
        .encode(x="x:Q", y="y:Q")
    )
    chart = (heat + stars + line + start).properties(title=title, height=430)
    return _spec(chart.configure_axis(**CHART_FONT).configure_title(fontSize=18))


def board_spec(surface_name: str, title: str) -> dict:
    """The loss surface as a heat map, its minima as stars, and the path (rows given per frame by `with_path`).

    >>> spec = board_spec("bowl", "lr 0.05")
    >>> spec["title"], PATH in spec["datasets"]         # the path's rows come with each frame (`with_path`)
    ('lr 0.05', False)
    """
    return copy.deepcopy(_board_spec(surface_name, title))


@functools.lru_cache(maxsize=16)
def _loss_spec(last_step: int) -> dict:
    empty_path = pd.DataFrame(columns=["step", "x", "y", "above_minimum"])
    chart = (
        alt.Chart(empty_path)
        .mark_line(strokeWidth=3, color="#e4572e", point=alt.OverlayMarkDef(color="#e4572e", filled=True))
        .encode(
            x=alt.X("step:Q", scale=alt.Scale(domain=[0, last_step]), title="step"),
            y=alt.Y("above_minimum:Q", scale=alt.Scale(type="log"), title="loss above the minimum",
                    axis=alt.Axis(format=".1~e")),
            tooltip=["step:Q", alt.Tooltip("above_minimum:Q", format=".3g")],
        )
        .properties(title="Loss per step (log scale)", height=430)
    )
    return _spec(chart.configure_axis(**CHART_FONT).configure_title(fontSize=18))


def loss_spec(last_step: int) -> dict:
    """The loss above the minimum at each step of the path so far, on a log scale (rows per frame by `with_path`).

    >>> loss_spec(last_step=100)["mark"]["type"]        # a page draws st.vega_lite_chart(with_path(spec, walked))
    'line'
    """
    return copy.deepcopy(_loss_spec(last_step))


def with_path(spec: dict, walked: pd.DataFrame) -> dict:
    """`spec` with the path walked so far as its PATH rows: what one frame sends.

    >>> bowl = maths.SURFACES["bowl"]
    >>> path = maths.gradient_descent(bowl.grad, (1, 1), 0.05)
    >>> [row["step"] for row in with_path(loss_spec(100), descent_frame(bowl, path[:5]))["datasets"]["path"]]
    [0, 1, 2, 3, 4]
    """
    return {**spec, "datasets": {**spec.get("datasets", {}), PATH: walked.to_dict("records")}}
