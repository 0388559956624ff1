"""Charts and tables of training runs, as the dashboard draws them (Altair specs, pandas frames).

A run's events (see `tl_lessons.train`) become rows of (epoch, metric, series, value): live
while it trains, from the run store afterwards, or from the recorded reference runs. The same
rows feed every chart, so a stored run and a recorded one are drawn alike. Accuracy charts
carry a "chance" line: what guessing would score, the level a new head starts from. A page draws them:

    st.vega_lite_chart(curve_rows(live_curves(job.events), "loss"), curve_spec("loss", "Loss", epochs=8))
    st.altair_chart(compare_chart(stored_curves(store, runs), "accuracy", "validation", "validation accuracy"))
"""
from __future__ import annotations

import colorsys
import copy
import functools
import math

import altair as alt
import pandas as pd

from tl_lessons.dashboard.jobs import learner_name, shown_status
from tl_lessons.reference_file import comparison_runs
from tl_lessons import text
from tl_lessons.runs import RunStore, strategy_name

# Big type, so that the charts read on a projector.
CHART_FONT = {"labelFontSize": 15, "titleFontSize": 17}
# Step points drawn per curve: enough to see the noise, few enough to redraw quickly.
MAX_STEP_POINTS = 300
CURVE_COLUMNS = ["epoch", "metric", "series", "value"]
# Axis labels: "4.6" and "1.2%", whatever the range (never "4.599399" or "0.000000%").
AXIS_FORMAT = {"loss": ".3~g", "accuracy": ".1~%"}
# The first ten colours of the comparison: Tableau's, easy to tell apart. Further runs get colours
# of their own too (see `run_colours`), never a repeat of one already on the chart.
FIRST_COLOURS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6",
                 "#9d755d", "#bab0ac"]


def epoch_rows(epochs: list[dict]) -> list[dict]:
    """The points of "epoch" events: train and validation, loss and accuracy (non-finite values left out).

    A "starting_point" event (before any step, see `dashboard.learnt`) gives the validation
    point at epoch 0.

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

    The starting point comes first (epoch 0, before any step); step losses ("train (steps)")
    arrive every few batches, so the curve moves from the first second; epoch points ("train",
    "validation") come at the end of each epoch. The x axis is in epochs for all, so they line up.

    >>> events = [{"kind": "start", "total_steps": 4, "epochs": 2},        # a job's events so far (`job.events`)
    ...           {"kind": "step", "step": 1, "loss": 2.3},
    ...           {"kind": "epoch", "epoch": 1, "train_loss": 2.1, "train_acc": 0.2, "val_loss": 2.0, "val_acc": 0.25}]
    >>> live_curves(events).values.tolist()      # step 1 of 2 per epoch sits at epoch 0.5
    [[0.5, 'loss', 'train (steps)', 2.3], [1.0, 'loss', 'train', 2.1], [1.0, 'accuracy', 'train', 0.2],
     [1.0, 'loss', 'validation', 2.0], [1.0, 'accuracy', 'validation', 0.25]]
    """
    start = next((e for e in events if e["kind"] == "start"), None)
    steps_per_epoch = start["total_steps"] / max(start["epochs"], 1) if start else 1
    steps = [e for e in events if e["kind"] == "step"]
    every = max(1, math.ceil(len(steps) / MAX_STEP_POINTS))
    rows = [
        {"epoch": e["step"] / steps_per_epoch, "metric": "loss", "series": "train (steps)", "value": e["loss"]}
        for e in steps[::every]
    ]
    rows += epoch_rows([e for e in events if e["kind"] in ("starting_point", "epoch")])
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    # A diverged run's loss is inf/NaN: drop it so the chart keeps a readable scale.
    return frame[frame["value"].map(math.isfinite)].reset_index(drop=True)


def chance_of(events: list[dict]) -> float | None:
    """What guessing scores on this run's validation images (from its starting point; None without one)."""
    return next((e["chance"] for e in events if e["kind"] == "starting_point"), None)


def progress(events: list[dict]) -> tuple[float, str]:
    """(fraction of training done, one line saying where it is and how long is left).

    The time left comes from the pace of the training steps themselves, measured from the
    first step on: the frozen stages' features, computed once before it, would otherwise make
    every step look slow. Before two steps have been timed it says so instead of guessing.

    >>> progress([{"kind": "start", "total_steps": 100, "epochs": 2},
    ...           {"kind": "step", "step": 5, "epoch": 1, "elapsed": 9.0},
    ...           {"kind": "step", "step": 25, "epoch": 1, "elapsed": 13.0}])
    (0.25, 'epoch 1 of 2 · step 25 of 100 · about 15 s left')
    """
    start = next((e for e in events if e["kind"] == "start"), None)
    if start is None:
        return 0.0, "preparing the data and the model…"
    steps = [e for e in events if e["kind"] == "step"]
    done = min(steps[-1]["step"] / start["total_steps"], 1.0) if steps and start["total_steps"] else 0.0
    last = events[-1]
    if last["kind"] == "features":
        # Frozen stages run once over every image: the training images before the first step, the
        # validation images before the first validation (see train.fit).
        images = "training" if last["split"] == "train" else "validation"
        return done, f"computing the frozen stages' outputs once ({images} images: {last['done']:,} of {last['total']:,})"
    if not steps or not start["total_steps"]:
        return 0.0, "starting…"
    first, step = steps[0], steps[-1]
    where = f"epoch {step['epoch']} of {start['epochs']} · step {step['step']:,} of {start['total_steps']:,}"
    if step["step"] <= first["step"]:
        return done, f"{where} · timing the first steps…"
    pace = (step["elapsed"] - first["elapsed"]) / (step["step"] - first["step"])
    return done, f"{where} · about {text.duration(pace * (start['total_steps'] - step['step']))} left"


def line_table(line: list[tuple], slots: int, you: str | None = None) -> pd.DataFrame:
    """The line of runs as the lab shows it: place, run, whose, state, and the time each will take.

    `line` is `TrainingLine.waits()`; the first `slots` runs train, the others wait. `you`: the
    learner looking, whose runs read "you" (`jobs.learner_name`).

    >>> from types import SimpleNamespace as Job        # what the table reads of a `TrainingJob`
    >>> line = [(Job(label="#4 linear probe", learner="3fa9c2d81b07"), None, 120.0),     # SHARED_LINE.waits()
    ...         (Job(label="#5 finetune", learner="b7e2a1c3d4f5"), 125.0, 30.0)]
    >>> line_table(line, 1, you="b7e2a1c3d4f5").values.tolist()
    [[1, '#4 linear probe', 'learner 3fa9', 'training', 'about 2 min left'],
     [2, '#5 finetune', 'you', 'waiting', 'starts in about 2 min, takes about 30 s']]
    """
    rows = []
    for place, (job, starts, takes) in enumerate(line, start=1):
        training = place <= slots
        rows.append({
            "place": place,
            "run": job.label,
            "whose": learner_name(job.learner, you),
            "state": "training" if training else "waiting",
            "time": line_time(training, starts, takes),
        })
    return pd.DataFrame(rows, columns=["place", "run", "whose", "state", "time"])


def line_time(training: bool, starts: float | None, takes: float | None) -> str:
    """The time column of the line: how long is left, or when a waiting run starts and how long it takes.

    >>> line_time(False, 125.0, None)
    'starts in about 2 min'
    """
    if training:
        return "timing its first steps…" if takes is None else f"about {text.duration(takes)} left"
    if starts is None:
        return "starts when the runs ahead end"
    return f"starts in about {text.duration(starts)}" + ("" if takes is None else f", takes about {text.duration(takes)}")


def as_seen_by(run: dict, you: str | None) -> dict:
    """A stored run as a learner's page shows it, for their CSV: whose it is in words ("you", "learner
    3fa9"), not the learner's id, and the source as picked ("trained:mine"), not the server's path to it.

    >>> as_seen_by({"id": 3, "config": {"learner": "3fa9c2d81b07", "source": "/srv/runs/sources/mine.pt",
    ...                                  "source_key": "trained:mine"}}, you=None)["config"]
    {'source': 'trained:mine', 'whose': 'learner 3fa9'}
    """
    config = {key: value for key, value in run["config"].items() if key not in ("learner", "source_key")}
    if "source_key" in run["config"]:
        config["source"] = run["config"]["source_key"]
    config["whose"] = learner_name(run["config"].get("learner"), you)
    return {**run, "config": config}


def run_name(run: dict) -> str:
    """How a stored run is named in legends and pickers: its id and label.

    >>> run_name({"id": 3, "label": "linear probe · lr 0.05"})
    '#3 linear probe · lr 0.05'
    """
    return f"#{run['id']} {run['label']}"


def stored_curves(store: RunStore, runs: list[dict]) -> pd.DataFrame:
    """Epoch curves of stored runs (their starting point included), one row per point:
    run, epoch, metric, series, value, recorded.

    >>> store = RunStore(":memory:")
    >>> run_id = store.start({"lr": 0.1}, "probe")
    >>> store.log(run_id, {"kind": "epoch", "epoch": 1, "train_loss": 2.1, "train_acc": 0.2,
    ...                    "val_loss": 2.0, "val_acc": 0.25})
    >>> stored_curves(store, store.runs()[:2])[["run", "series", "metric", "value"]].values.tolist()
    [['#1 probe', 'train', 'loss', 2.1], ['#1 probe', 'train', 'accuracy', 0.2],
     ['#1 probe', 'validation', 'loss', 2.0], ['#1 probe', 'validation', 'accuracy', 0.25]]
    """
    rows = []
    for run in runs:
        points = store.events(run["id"], "starting_point") + store.events(run["id"], "epoch")
        rows += _named(run_name(run), points, recorded=False)
    return pd.DataFrame(rows, columns=["run", *CURVE_COLUMNS, "recorded"])


def reference_curves(reference: dict) -> pd.DataFrame:
    """Epoch curves of the recorded strategy comparison (same columns as `stored_curves`).

    Each setting was recorded once per seed; its curve is the mean over its seeds at every epoch,
    named with how many seeds it averages (the chapters show each seed's spread).

    >>> from tl_lessons.reference_file import load_reference_runs
    >>> reference_curves(load_reference_runs())["run"].unique()[:2].tolist()
    ['recorded: scratch · lr 0.3 · 5/class (mean of 3 seeds)',
     'recorded: linear probe · bn eval · lr 0.3 · 5/class (mean of 3 seeds)']
    """
    by_setting: dict[str, list[dict]] = {}
    for run in comparison_runs(reference):
        by_setting.setdefault(run["label"], []).append(run)
    rows = []
    for label, runs in by_setting.items():
        name = f"recorded: {label}" + (f" (mean of {len(runs)} seeds)" if len(runs) > 1 else "")
        rows += _named(name, mean_epochs([run.get("epochs", []) for run in runs]), recorded=True)
    return pd.DataFrame(rows, columns=["run", *CURVE_COLUMNS, "recorded"])


def mean_epochs(runs: list[list[dict]]) -> list[dict]:
    """Epoch events averaged over runs, epoch by epoch (as far as every run got).

    >>> mean_epochs([[{"epoch": 1, "val_acc": 0.1}], [{"epoch": 1, "val_acc": 0.3}]])
    [{'epoch': 1, 'val_acc': 0.2}]
    """
    averaged = []
    for epoch_events in zip(*runs):
        row = {"epoch": epoch_events[0]["epoch"]}
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            values = [e.get(key) for e in epoch_events]
            if all(v is not None and math.isfinite(v) for v in values):
                row[key] = sum(values) / len(values)
        averaged.append(row)
    return averaged


def _named(name: str, epochs: list[dict], recorded: bool) -> list[dict]:
    return [{"run": name, **row, "recorded": recorded} for row in epoch_rows(epochs)]


def curve_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of `live_curves` for one metric ("loss" or "accuracy"): the data of its chart.

    >>> events = [{"kind": "start", "total_steps": 4, "epochs": 2},
    ...           {"kind": "epoch", "epoch": 1, "train_loss": 2.1, "train_acc": 0.2, "val_loss": 2.0, "val_acc": 0.25}]
    >>> curve_rows(live_curves(events), "accuracy")["series"].tolist()
    ['train', 'validation']
    """
    return frame[frame["metric"] == metric]


@functools.lru_cache(maxsize=64)
def _curve_spec(metric: str, title: str, epochs: int | None, chance: float | None) -> dict:
    series = ["train (steps)", "train", "validation"] if metric == "loss" else ["train", "validation"]
    colours = ["#9ecae9", "#1f77b4", "#e4572e"][-len(series) :]
    # The whole run's epochs from the start, so the learner sees how far it has come.
    x_scale = alt.Scale(domain=[0, epochs], nice=False) if epochs else alt.Scale(domainMin=0)
    base = alt.Chart(pd.DataFrame(columns=CURVE_COLUMNS)).encode(
        x=alt.X("epoch:Q", title="epoch", scale=x_scale, axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y(
            "value:Q",
            title=metric,
            axis=alt.Axis(format=AXIS_FORMAT[metric]),
            scale=alt.Scale(zero=metric == "accuracy"),
        ),
        color=alt.Color(
            "series:N",
            title=None,
            scale=alt.Scale(domain=series, range=colours),
            # labelLimit 0: the whole name ("validation"), however narrow the chart.
            legend=alt.Legend(orient="bottom", labelFontSize=14, labelLimit=0, symbolStrokeWidth=4),
        ),
        tooltip=["series:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".3f")],
    )
    steps = base.transform_filter(alt.datum.series == "train (steps)").mark_line(strokeWidth=1.5)
    epochs_layer = base.transform_filter(alt.datum.series != "train (steps)").mark_line(
        strokeWidth=3.5, point=alt.OverlayMarkDef(size=90, filled=True)
    )
    chart = (
        (steps + epochs_layer).properties(title=title, height=320).configure_axis(**CHART_FONT).configure_title(fontSize=20)
    )
    spec = chart.to_dict()
    # The data comes with each redraw (`st.vega_lite_chart(curve_rows(...), spec)`).
    spec.pop("data", None)
    spec.pop("datasets", None)
    if metric == "accuracy" and chance:
        spec["layer"] += chance_layers(chance)
    return spec


def chance_layers(chance: float) -> list[dict]:
    """A dashed line at the chance level with its label, as Vega-Lite layers carrying their own one row.

    >>> chance_layers(0.01)[1]["mark"]["text"]
    'chance = 1%'
    """
    data = {"values": [{"chance": chance}]}
    y = {"field": "chance", "type": "quantitative"}
    return [
        {"data": data, "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#555", "strokeWidth": 2},
         "encoding": {"y": y}},
        {"data": data, "mark": {"type": "text", "text": f"chance = {chance:.0%}", "align": "left", "dx": 4,
                                "dy": -9, "fontSize": 14, "color": "#555"},
         "encoding": {"y": y, "x": {"datum": 0, "type": "quantitative"}}},
    ]


def curve_spec(metric: str, title: str, epochs: int | None = None, chance: float | None = None) -> dict:
    """The Vega-Lite chart of one metric's train and validation curves, without its data.

    The step-by-step loss is a thin line behind the epoch points; the x axis spans the run's
    `epochs`; an accuracy chart draws the `chance` line. The spec is built once: redrawing a
    live chart then only costs sending its rows, which keeps the page's work small next to the
    training it watches.

    >>> spec = curve_spec("loss", "Loss (lower is better)", epochs=8)
    >>> spec["title"], "data" in spec                   # a page sends the rows with it:
    ('Loss (lower is better)', False)

    st.vega_lite_chart(curve_rows(frame, "loss"), curve_spec("loss", "Loss (lower is better)", epochs=8))
    """
    return copy.deepcopy(_curve_spec(metric, title, epochs, chance))


def run_colours(names: list[str]) -> dict[str, str]:
    """A colour for each run on a chart, all different however many runs there are.

    Tableau's ten first, then hues spread by the golden angle (each new one as far as possible
    from those before), alternately darker and lighter.

    >>> run_colours(["#1 probe", "#2 freeze"])
    {'#1 probe': '#4c78a8', '#2 freeze': '#f58518'}
    """
    colours, seen = [], set(FIRST_COLOURS)
    step = 0
    while len(colours) < len(names):
        if len(colours) < len(FIRST_COLOURS):
            colours.append(FIRST_COLOURS[len(colours)])
            continue
        step += 1
        hue = (step * 0.381966) % 1.0  # the golden angle, as a fraction of the colour wheel
        red, green, blue = colorsys.hls_to_rgb(hue, 0.38 if step % 2 else 0.62, 0.65)
        colour = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
        if colour not in seen:
            seen.add(colour)
            colours.append(colour)
    return dict(zip(names, colours))


def compare_chart(frame: pd.DataFrame, metric: str, series: str, title: str, chance: float | None = None) -> alt.Chart:
    """Several runs' curves of one metric on the same axes (from `stored_curves`/`reference_curves`).

    Recorded reference runs are dashed, runs of this computer solid; every run has a colour of
    its own, and the legend below the chart lists every one of them in full. Accuracy charts
    draw the `chance` line.

    >>> store = RunStore(":memory:")
    >>> run_id = store.start({"lr": 0.1}, "probe")
    >>> store.log(run_id, {"kind": "epoch", "epoch": 1, "train_loss": 2.1, "train_acc": 0.2,
    ...                    "val_loss": 2.0, "val_acc": 0.25})
    >>> chart = compare_chart(stored_curves(store, store.runs()), "accuracy", "validation", "validation accuracy",
    ...                       chance=0.01)
    >>> type(chart).__name__, len(chart.layer)            # the runs' lines, the chance line and its label
    ('LayerChart', 3)
    """
    rows = frame[(frame["metric"] == metric) & (frame["series"] == series)]
    names = list(dict.fromkeys(rows["run"]))
    colours = run_colours(names)
    lines = (
        alt.Chart(rows)
        .mark_line(strokeWidth=3, point=alt.OverlayMarkDef(size=60, filled=True))
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=title, axis=alt.Axis(format=AXIS_FORMAT[metric]), scale=alt.Scale(zero=False)),
            color=alt.Color(
                "run:N",
                title=None,
                scale=alt.Scale(domain=names, range=[colours[name] for name in names]),
                # symbolLimit 0: every run in the legend (Vega would cut a long list short).
                legend=alt.Legend(orient="bottom", columns=2, labelFontSize=14, labelLimit=0, symbolLimit=0,
                                  symbolStrokeWidth=4),
            ),
            strokeDash=alt.StrokeDash(
                "recorded:N", title=None, legend=None, scale=alt.Scale(domain=[False, True], range=[[1, 0], [6, 4]])
            ),
            tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    chart = lines
    if metric == "accuracy" and chance:
        level = alt.Chart(pd.DataFrame({"chance": [chance]}))
        chart = (
            lines
            + level.mark_rule(strokeDash=[6, 4], color="#555", strokeWidth=2).encode(y="chance:Q")
            + level.mark_text(text=f"chance = {chance:.0%}", align="left", dx=4, dy=-9, fontSize=14, color="#555")
            .encode(y="chance:Q", x=alt.datum(0))
        )
    return chart.properties(height=400).configure_axis(**CHART_FONT)


def superclass_chart(rows: list[dict], chance: float, title: str) -> alt.Chart:
    """Accuracy per superclass (from `learnt.superclass_accuracy`) as bars, best first, with the chance line.

    >>> rows = [{"superclass": "trees", "accuracy": 0.3, "images": 25},      # `learnt.superclass_accuracy`'s
    ...         {"superclass": "flowers", "accuracy": 0.1, "images": 25}]
    >>> superclass_chart(rows, 0.01, "after epoch 8").title
    'after epoch 8'
    """
    frame = pd.DataFrame(rows)
    bars = (
        alt.Chart(frame)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("accuracy:Q", title="validation accuracy", axis=alt.Axis(format=AXIS_FORMAT["accuracy"])),
            y=alt.Y("superclass:N", sort="-x", title=None, axis=alt.Axis(labelLimit=0)),
            tooltip=["superclass:N", alt.Tooltip("accuracy:Q", format=".1%"), "images:Q"],
        )
    )
    line = alt.Chart(pd.DataFrame({"chance": [chance]})).mark_rule(strokeDash=[6, 4], color="#555", strokeWidth=2)
    return (bars + line.encode(x="chance:Q")).properties(title=title, height=22 * len(frame)).configure_axis(**CHART_FONT)


RESULT_COLUMNS = ["run", "strategy", "target", "status", "final val acc", "best val acc", "seconds", "trainable params"]


def run_statuses(store: RunStore, runs: list[dict], live_run_ids: set[int]) -> dict[int, str]:
    """Each stored run's status as the results table says it: "interrupted" for a run whose
    training was lost (`jobs.shown_status`), and where a run ended before its first epoch,
    at which step ("diverged at step 12"), since its curve has no epoch to show.

    >>> store = RunStore(":memory:")
    >>> run_id = store.start({"lr": 30.0}, "too fast")
    >>> store.log_many(run_id, [{"kind": "step", "step": 1, "loss": 2.3}, {"kind": "step", "step": 12, "loss": 80.0}])
    >>> store.finish(run_id, "diverged", {})
    >>> run_statuses(store, store.runs(), live_run_ids=set())[run_id]   # jobs.SHARED_REGISTRY.live_run_ids()
    'diverged at step 12'
    """
    statuses = {}
    for run in runs:
        status = shown_status(run, live_run_ids)
        if status in ("diverged", "stopped", "failed", "interrupted") and not run["results"].get("epochs"):
            steps = store.events(run["id"], "step")
            status += f" at step {steps[-1]['step']}" if steps else " before its first step"
        statuses[run["id"]] = status
    return statuses


def results_table(runs: list[dict], statuses: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per stored run: what it reached, how long it took, how much of the model trained.

    `statuses` (from `run_statuses`) replaces the stored status where given.

    >>> store = RunStore(":memory:")
    >>> run_id = store.start({"lr": 0.1, "strategy": "linear_probe", "target": "cifar100"}, "probe")
    >>> store.finish(run_id, "finished", {"val_acc": 0.25, "best_val_acc": 0.3, "elapsed": 3.2})
    >>> results_table(store.runs()).to_dict("records")
    [{'run': '#1 probe', 'strategy': 'linear_probe', 'target': 'cifar100', 'status': 'finished', 'final val acc': 0.25,
      'best val acc': 0.3, 'seconds': 3.2, 'trainable params': None}]
    """
    rows = []
    for run in runs:
        results, config = run["results"], run["config"]
        rows.append(
            {
                "run": run_name(run),
                "strategy": strategy_name(config),
                "target": config.get("target", ""),
                "status": (statuses or {}).get(run["id"], run["status"]),
                "final val acc": results.get("val_acc"),
                "best val acc": results.get("best_val_acc"),
                "seconds": results.get("elapsed"),
                "trainable params": config.get("trainable_params"),
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def reference_table(reference: dict) -> pd.DataFrame:
    """The recorded strategy comparison in the same columns as `results_table`: one row per setting,
    its numbers the mean over the seeds it was recorded with (named as in `reference_curves`).

    >>> from tl_lessons.reference_file import load_reference_runs
    >>> table = reference_table(load_reference_runs())
    >>> table["run"][0], f"{table['best val acc'][0]:.1%}"
    ('recorded: scratch · lr 0.3 · 5/class (mean of 3 seeds)', '8.3%')
    """
    by_setting: dict[str, list[dict]] = {}
    for run in comparison_runs(reference):
        by_setting.setdefault(run["label"], []).append(run)

    def mean(runs, key):
        values = [run.get(key) for run in runs]
        return None if any(v is None for v in values) else sum(values) / len(values)

    rows = [
        {
            "run": f"recorded: {label}" + (f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""),
            "strategy": runs[0].get("strategy", ""),
            "target": runs[0].get("config", {}).get("target", ""),
            "status": "recorded",
            "final val acc": mean(runs, "final_val_acc"),
            "best val acc": mean(runs, "best_val_acc"),
            "seconds": mean(runs, "seconds"),
            "trainable params": runs[0].get("trainable_params"),
        }
        for label, runs in by_setting.items()
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
