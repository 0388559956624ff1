"""Charts and tables of training runs, as the dashboard draws them (Altair specs, pandas frames).

A run's events (see `tl_lessons.train`) become rows of (epoch, metric, series, value): live
while it trains, from the run store afterwards, or from the recorded reference runs. The same
rows feed every chart, so a stored run and a recorded one are drawn alike.

    >>> st.vega_lite_chart(curve_rows(live_curves(job.events), "loss"), curve_spec("loss", "Loss"))
    >>> st.altair_chart(compare_chart(stored_curves(store, runs), "accuracy", "validation", "validation accuracy"))
"""
from __future__ import annotations

import copy
import functools
import math

import altair as alt
import pandas as pd

from tl_lessons.runs import RunStore, strategy_name

# Big type, so that the charts read on a projector.
CHART_FONT = {"labelFontSize": 15, "titleFontSize": 17}
# Step points drawn per curve: enough to see the noise, few enough to redraw quickly.
MAX_STEP_POINTS = 300
CURVE_COLUMNS = ["epoch", "metric", "series", "value"]


def epoch_rows(epochs: list[dict]) -> list[dict]:
    """The points of "epoch" events: train and validation, loss and accuracy (non-finite values left out).

    >>> epoch_rows([{"epoch": 1, "train_loss": 4.1, "train_acc": 0.1, "val_loss": 4.2, "val_acc": 0.08}])[0]
    {'epoch': 1, 'metric': 'loss', 'series': 'train', 'value': 4.1}
    """
    rows = []
    for e in epochs:
        for series, prefix in (("train", "train"), ("validation", "val")):
            for metric in ("loss", "acc"):
                value = e.get(f"{prefix}_{metric}")
                if value is not None and math.isfinite(value):
                    rows.append({"epoch": e["epoch"], "metric": "accuracy" if metric == "acc" else "loss",
                                 "series": series, "value": value})
    return rows


def live_curves(events: list[dict]) -> pd.DataFrame:
    """Loss and accuracy of one run so far, one row per point: epoch, metric, series, value.

    Step losses ("train (steps)") arrive every few batches, so the curve moves from the
    first second; epoch points ("train", "validation") come at the end of each epoch. The x
    axis is in epochs for both, so they line up.

    >>> live_curves(job.events).query("series == 'validation'")
    """
    start = next((e for e in events if e["kind"] == "start"), None)
    steps_per_epoch = start["total_steps"] / max(start["epochs"], 1) if start else 1
    steps = [e for e in events if e["kind"] == "step"]
    every = max(1, math.ceil(len(steps) / MAX_STEP_POINTS))
    rows = [
        {"epoch": e["step"] / steps_per_epoch, "metric": "loss", "series": "train (steps)", "value": e["loss"]}
        for e in steps[::every]
    ]
    rows += epoch_rows([e for e in events if e["kind"] == "epoch"])
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    # A diverged run's loss is inf/NaN: drop it so the chart keeps a readable scale.
    return frame[frame["value"].map(math.isfinite)].reset_index(drop=True)


def progress(events: list[dict]) -> tuple[float, str]:
    """(fraction of training done, one line saying where it is and how long is left).

    >>> progress([{"kind": "start", "total_steps": 100, "epochs": 2},
    ...           {"kind": "step", "step": 25, "epoch": 1, "elapsed": 5.0}])
    (0.25, 'epoch 1 of 2 · step 25 of 100 · about 15 s left')
    """
    start = next((e for e in events if e["kind"] == "start"), None)
    if start is None:
        return 0.0, "preparing…"
    last = events[-1]
    if last["kind"] == "features":
        # Frozen stages run once over every image before the first step (see train.fit).
        return (
            0.0,
            f"computing the frozen stages' outputs once ({last['split']}: {last['done']:,} of {last['total']:,} images)",
        )
    steps = [e for e in events if e["kind"] == "step"]
    if not steps or not start["total_steps"]:
        return 0.0, "starting…"
    step = steps[-1]
    done = min(step["step"] / start["total_steps"], 1.0)
    left = step["elapsed"] / done * (1 - done)
    return done, (
        f"epoch {step['epoch']} of {start['epochs']} · step {step['step']:,} of {start['total_steps']:,}"
        f" · about {left:.0f} s left"
    )


def run_name(run: dict) -> str:
    """How a stored run is named in legends and pickers: its id and label.

    >>> run_name({"id": 3, "label": "linear probe · lr 0.05"})
    '#3 linear probe · lr 0.05'
    """
    return f"#{run['id']} {run['label']}"


def stored_curves(store: RunStore, runs: list[dict]) -> pd.DataFrame:
    """Epoch curves of stored runs, one row per point: run, epoch, metric, series, value, recorded.

    >>> stored_curves(store, store.runs()[:2])
    """
    rows = []
    for run in runs:
        rows += _named(run_name(run), store.events(run["id"], "epoch"), recorded=False)
    return pd.DataFrame(rows, columns=["run", *CURVE_COLUMNS, "recorded"])


def reference_curves(reference: dict) -> pd.DataFrame:
    """Epoch curves of the recorded reference runs (same columns as `stored_curves`).

    >>> reference_curves(load_reference_runs())
    """
    rows = []
    for run in reference.get("runs", []):
        rows += _named(f"recorded: {run['label']}", run.get("epochs", []), recorded=True)
    return pd.DataFrame(rows, columns=["run", *CURVE_COLUMNS, "recorded"])


def _named(name: str, epochs: list[dict], recorded: bool) -> list[dict]:
    return [{"run": name, **row, "recorded": recorded} for row in epoch_rows(epochs)]


def curve_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of `live_curves` for one metric ("loss" or "accuracy"): the data of its chart.

    >>> curve_rows(live_curves(job.events), "loss")
    """
    return frame[frame["metric"] == metric]


@functools.lru_cache(maxsize=None)
def _curve_spec(metric: str, title: str) -> dict:
    series = ["train (steps)", "train", "validation"] if metric == "loss" else ["train", "validation"]
    colours = ["#9ecae9", "#1f77b4", "#e4572e"][-len(series) :]
    base = alt.Chart(pd.DataFrame(columns=CURVE_COLUMNS)).encode(
        x=alt.X("epoch:Q", title="epoch", scale=alt.Scale(domainMin=0), axis=alt.Axis(tickMinStep=1)),
        y=alt.Y(
            "value:Q",
            title=metric,
            axis=alt.Axis(format="%") if metric == "accuracy" else alt.Axis(),
            scale=alt.Scale(zero=metric == "accuracy"),
        ),
        color=alt.Color(
            "series:N",
            title=None,
            scale=alt.Scale(domain=series, range=colours),
            legend=alt.Legend(orient="bottom", columns=3, labelFontSize=14, symbolStrokeWidth=4),
        ),
        tooltip=["series:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".3f")],
    )
    steps = base.transform_filter(alt.datum.series == "train (steps)").mark_line(strokeWidth=1.5)
    epochs = base.transform_filter(alt.datum.series != "train (steps)").mark_line(
        strokeWidth=3.5, point=alt.OverlayMarkDef(size=90, filled=True)
    )
    chart = (
        (steps + epochs).properties(title=title, height=320).configure_axis(**CHART_FONT).configure_title(fontSize=20)
    )
    spec = chart.to_dict()
    # The data comes with each redraw (`st.vega_lite_chart(curve_rows(...), spec)`).
    spec.pop("data", None)
    spec.pop("datasets", None)
    return spec


def curve_spec(metric: str, title: str) -> dict:
    """The Vega-Lite chart of one metric's train and validation curves, without its data.

    The step-by-step loss is a thin line behind the epoch points. The spec is built once:
    redrawing a live chart then only costs sending its rows, which keeps the page's work
    small next to the training it watches.

    >>> st.vega_lite_chart(curve_rows(frame, "loss"), curve_spec("loss", "Loss (lower is better)"))
    """
    return copy.deepcopy(_curve_spec(metric, title))


def compare_chart(frame: pd.DataFrame, metric: str, series: str, title: str) -> alt.Chart:
    """Several runs' curves of one metric on the same axes (from `stored_curves`/`reference_curves`).

    Recorded reference runs are dashed, runs of this computer solid.

    >>> compare_chart(stored_curves(store, runs), "accuracy", "validation", "validation accuracy")
    """
    rows = frame[(frame["metric"] == metric) & (frame["series"] == series)]
    chart = (
        alt.Chart(rows)
        .mark_line(strokeWidth=3, point=alt.OverlayMarkDef(size=60, filled=True))
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(
                "value:Q",
                title=title,
                axis=alt.Axis(format="%") if metric == "accuracy" else alt.Axis(),
                scale=alt.Scale(zero=False),
            ),
            color=alt.Color(
                "run:N",
                title=None,
                scale=alt.Scale(scheme="tableau10"),
                legend=alt.Legend(orient="right", labelFontSize=14, labelLimit=420, symbolStrokeWidth=4),
            ),
            strokeDash=alt.StrokeDash(
                "recorded:N", title=None, legend=None, scale=alt.Scale(domain=[False, True], range=[[1, 0], [6, 4]])
            ),
            tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    # The legend sits right of the plot, one line per run, so many runs do not squeeze the plot.
    return chart.properties(height=max(380, 24 * rows["run"].nunique())).configure_axis(**CHART_FONT)


RESULT_COLUMNS = ["run", "strategy", "target", "status", "final val acc", "best val acc", "seconds", "trainable params"]


def results_table(runs: list[dict]) -> pd.DataFrame:
    """One row per stored run: what it reached, how long it took, how much of the model trained.

    >>> results_table(store.runs())[["run", "best val acc"]]
    """
    rows = []
    for run in runs:
        results, config = run["results"], run["config"]
        rows.append(
            {
                "run": run_name(run),
                "strategy": strategy_name(config),
                "target": config.get("target", ""),
                "status": run["status"],
                "final val acc": results.get("val_acc"),
                "best val acc": results.get("best_val_acc"),
                "seconds": results.get("elapsed"),
                "trainable params": config.get("trainable_params"),
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def reference_table(reference: dict) -> pd.DataFrame:
    """The recorded reference runs in the same columns as `results_table`.

    >>> reference_table(load_reference_runs())
    """
    rows = [
        {
            "run": f"recorded: {run['label']}",
            "strategy": run.get("strategy", ""),
            "target": run.get("config", {}).get("target", ""),
            "status": "recorded",
            "final val acc": run.get("final_val_acc"),
            "best val acc": run.get("best_val_acc"),
            "seconds": run.get("seconds"),
            "trainable params": run.get("trainable_params"),
        }
        for run in reference.get("runs", [])
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
