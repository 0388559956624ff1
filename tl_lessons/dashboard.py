"""What the dashboard (`app.py`) needs besides widgets: settings in the URL, checks on them,
chart tables from run events, and training in a background thread.

Nothing here imports Streamlit, so the benchmark and the tests can use it headless:

    >>> job = TrainingJob(model, train_set, val_set, config, strategy, label="linear probe").start()
    >>> while not job.done:
    ...     job.poll(); time.sleep(0.5)
    >>> job.first_point_seconds        # how long the first curve point took
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import queue
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import altair as alt
import pandas as pd
import torch
import torchvision

from tl_lessons import checkpoints, data, models, train, transfer
from tl_lessons.errors import LessonError
from tl_lessons.experiments import TransferSetup
from tl_lessons.runs import RunStore, default_path, record, strategy_name

REFERENCE_RUNS = Path(__file__).parent / "assets" / "reference_runs.json"
BATCH_SIZES = (16, 32, 64, 128, 256)
TARGETS = ("cifar100", "synthetic100")
SOURCE_DATASETS = ("cifar10", "synthetic10")
MAX_EPOCHS = 100
# The page redraws a running job once a second: often enough to watch, rare enough to leave
# the CPU to training (the benchmark checks that the app costs at most 10 % of the speed).
REFRESH_S = 1.0
# Big type, so that the charts read on a projector.
CHART_FONT = {"labelFontSize": 15, "titleFontSize": 17}
# Step points drawn per curve: enough to see the noise, few enough to redraw quickly.
MAX_STEP_POINTS = 300


# ---------------------------------------------------------------------------------------
# Settings <-> URL query parameters
# ---------------------------------------------------------------------------------------

# The settings a shared link carries, and how to read each one back from text.
QUERY_FIELDS = {
    "source": str,
    "target": str,
    "per_class": int,
    "fraction": float,
    "strategy": str,
    "k": int,
    "bn": str,
    "lr": float,
    "epochs": int,
    "batch_size": int,
    "seed": int,
    "head_lr_factor": float,
    "stage_decay": float,
    "unfreeze_every": int,
    "head_epochs": int,
}


def suggested_lr(strategy: str) -> float:
    """The learning rate a strategy starts with in the lab: the best of chapter 04's tuning.

    Those rates were tuned for the shipped CIFAR-10 model on CIFAR-100 (`analysis.TUNING_RECORD`);
    a frozen backbone takes a much larger rate than a network that trains everywhere.

    >>> suggested_lr("linear_probe"), suggested_lr("finetune")
    (1.0, 0.1)
    """
    from tl_lessons.analysis import STRATEGY_LRS  # matplotlib comes with it: load it only when asked

    return STRATEGY_LRS.get(strategy, TransferSetup().lr)


# Options that only matter for some strategies; a link leaves them out for the others.
ONLY_FOR = {
    "k": ("freeze",),
    "bn": ("linear_probe", "freeze", "gradual", "head_first"),
    "head_lr_factor": ("discriminative",),
    "stage_decay": ("discriminative",),
    "unfreeze_every": ("gradual",),
    "head_epochs": ("head_first",),
}


def setup_to_query(setup: TransferSetup) -> dict[str, str]:
    """The settings as URL query parameters: images per class OR label fraction, and only the
    options of the chosen strategy, so that a shared link stays short and readable.

    >>> setup_to_query(TransferSetup(per_class=10, strategy="freeze", k=2))
    {'source': 'shipped', 'target': 'cifar100', 'per_class': '10', 'strategy': 'freeze', 'k': '2', 'bn': 'eval', ...}
    """
    query = {}
    for name in QUERY_FIELDS:
        value = getattr(setup, name)
        if value is not None and setup.strategy in ONLY_FOR.get(name, (setup.strategy,)):
            query[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return query


def setup_from_query(
    params, defaults: TransferSetup, choices: dict[str, tuple], problems=None
) -> tuple[TransferSetup, list[str]]:
    """Read settings from a link; every unknown or invalid value falls back to its default.

    `choices` lists the allowed values of the fields picked from a list (source, target,
    strategy, bn, batch_size). `problems(setup)` returns {field: message} for values that do not
    fit this model or dataset (e.g. k too large); those fall back too. A link naming a strategy
    without a usable learning rate gets that strategy's `suggested_lr`. Returns (setup, notices).

    >>> setup, notices = setup_from_query({"lr": "abc"}, TransferSetup(), {})
    >>> notices
    ["Ignored lr=abc from the link (not a number); using the default 0.05."]
    """
    values, notices = {}, []
    if params.get("strategy") in choices.get("strategy", transfer.STRATEGIES):
        # A link that names a strategy but no usable rate gets that strategy's suggested rate.
        defaults = dataclasses.replace(defaults, lr=suggested_lr(params["strategy"]))
    for name, text in params.items():
        if name not in QUERY_FIELDS:
            notices.append(f"Ignored the unknown setting '{name}' in the link.")
            continue
        kind = QUERY_FIELDS[name]
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            notices.append(
                f"Ignored {name}={text} from the link (not {what}); using the default {_show(getattr(defaults, name))}."
            )
            continue
        if kind is float and not math.isfinite(value):
            notices.append(
                f"Ignored {name}={text} from the link (not a finite number); using the default {_show(getattr(defaults, name))}."
            )
            continue
        if name in choices and value not in choices[name]:
            notices.append(
                f"Ignored {name}={text} from the link (not available here); using the default {_show(getattr(defaults, name))}."
            )
            continue
        values[name] = value
    if "per_class" in values and "fraction" in values:
        notices.append("The link gives both images per class and a label fraction; using images per class.")
        del values["fraction"]
    if "per_class" in values:
        values.setdefault("fraction", None)
    elif "fraction" in values:
        values.setdefault("per_class", None)
    setup = dataclasses.replace(defaults, **values)
    if problems is not None:
        for name, message in problems(setup).items():
            if name in values:
                notices.append(
                    f"Ignored {name}={params[name]} from the link: {message} Using the default {_show(getattr(defaults, name))}."
                )
                setup = dataclasses.replace(setup, **{name: getattr(defaults, name)})
    return setup, notices


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------
# Checks shown beside the widgets
# ---------------------------------------------------------------------------------------


def setup_problems(
    setup: TransferSetup, stages: list[str], available_per_class: int, unavailable_sources: dict[str, str] | None = None
) -> dict[str, str]:
    """What is wrong with a setup, as {field: sentence}, so each message sits beside its widget.

    `stages` are the model's stage names (the head last); `available_per_class` is the size of
    the smallest class of the target's training set; `unavailable_sources` maps a source the
    learner cannot use to the reason. An empty dict means the setup can be trained.

    >>> setup_problems(TransferSetup(strategy="freeze", k=7), ["stem", "stage1", "head"], 500)
    {'k': 'k must be between 0 and 2: the head always trains.'}
    """
    problems = {}
    unavailable_sources = unavailable_sources or {}
    if setup.source in unavailable_sources:
        problems["source"] = unavailable_sources[setup.source]
    if setup.target not in TARGETS:
        problems["target"] = f"Choose one of {', '.join(TARGETS)} as the target."
    if setup.strategy not in transfer.STRATEGIES:
        problems["strategy"] = f"Choose one of {', '.join(transfer.STRATEGIES)}."
    elif setup.source == "scratch" and setup.strategy not in ("scratch", "finetune"):
        problems["strategy"] = (
            "Random weights have nothing worth keeping frozen: choose 'train from scratch', "
            "or pick a pre-trained source model."
        )
    if setup.strategy == "freeze" and not 0 <= setup.k <= len(stages) - 1:
        problems["k"] = f"k must be between 0 and {len(stages) - 1}: the head always trains."
    if setup.per_class is not None:
        if setup.per_class < 1:
            problems["per_class"] = "Use at least one image per class."
        elif setup.per_class > available_per_class:
            problems["per_class"] = (
                f"Only {available_per_class} images per class are available in this training set: "
                f"ask for at most {available_per_class}."
            )
    if setup.fraction is not None and not 0 < setup.fraction <= 1:
        problems["fraction"] = "The label fraction must be above 0 and at most 1 (0.1 keeps 10 % of the labels)."
    if setup.per_class is None and setup.fraction is None:
        problems["per_class"] = "Choose how many labelled images to train on."
    # Too large a rate is allowed on purpose: watching a run diverge is part of the lesson.
    if not setup.lr > 0:
        problems["lr"] = "The learning rate must be above 0: try 0.01."
    if not 1 <= setup.epochs <= MAX_EPOCHS:
        problems["epochs"] = f"Train for 1 to {MAX_EPOCHS} epochs."
    if setup.batch_size not in BATCH_SIZES:
        problems["batch_size"] = f"Choose a batch size among {', '.join(map(str, BATCH_SIZES))}."
    if setup.seed < 0:
        problems["seed"] = "The seed is a whole number from 0 up."
    if setup.strategy == "discriminative":
        if not setup.head_lr_factor > 0:
            problems["head_lr_factor"] = "The head's rate factor must be above 0 (1 = same rate as the lr)."
        if not 0 < setup.stage_decay <= 1:
            problems["stage_decay"] = "The decay must be above 0 and at most 1 (1 = same rate everywhere)."
    if setup.strategy == "gradual" and setup.unfreeze_every < 1:
        problems["unfreeze_every"] = "Unfreeze a stage every 1 or more epochs."
    if setup.strategy == "head_first" and not 1 <= setup.head_epochs < setup.epochs:
        problems["head_epochs"] = (
            f"Train the head alone for 1 to {setup.epochs - 1} epochs, so that some epochs are "
            "left for the whole network (or raise the number of epochs)."
        )
    return problems


# ---------------------------------------------------------------------------------------
# Source models
# ---------------------------------------------------------------------------------------


def sources_dir(store_path=None) -> Path:
    """Where source models trained in the dashboard are saved: beside the run store.

    >>> sources_dir("runs/runs.sqlite")
    PosixPath('runs/sources')
    """
    return Path(store_path if store_path is not None else default_path()).parent / "sources"


def trained_sources(store_path=None) -> dict[str, Path]:
    """Source models trained in the dashboard, as {"trained:<name>": checkpoint path}, newest first.

    >>> list(trained_sources())
    ['trained:synthetic10-quick']
    """
    folder = sources_dir(store_path)
    files = sorted(folder.glob("*.pt"), key=lambda path: path.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return {f"trained:{path.stem}": path for path in files}


def experiment_source(source: str, store_path=None) -> str:
    """The `TransferSetup.source` for a dashboard source key ("trained:<name>" becomes its path).

    A link names a trained source by its name, never by a path, so that a shared URL cannot
    point the app at an arbitrary file.

    >>> experiment_source("shipped")
    'shipped'
    """
    if source.startswith("trained:"):
        return str(sources_dir(store_path) / f"{source.removeprefix('trained:')}.pt")
    return source


def imagenet_problem() -> str | None:
    """Why the ImageNet ResNet-18 cannot be a source here (None when its weights are cached).

    Only the cache is looked at: the dashboard never starts a 45 MB download by itself, and a
    page must not hang on a network that drops connections.

    >>> imagenet_problem()
    'The ImageNet weights of ResNet-18 are not on this computer ...'
    """
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if cached.is_file():
        return None
    return (
        f"The ImageNet weights of ResNet-18 are not on this computer ({cached}): download them once, "
        'with the network on, by running `python -c "from tl_lessons.models import imagenet_resnet18; '
        'imagenet_resnet18()"`, then reload this page.'
    )


def source_training(dataset: str, per_class: int, epochs: int, seed: int = 0, root=None):
    """Everything needed to train a source model with the "quick" preset: (model, train, val, config).

    >>> model, train_set, val_set, config = source_training("synthetic10", per_class=100, epochs=2)
    """
    config = dataclasses.replace(train.PRESETS["quick"], epochs=epochs, seed=seed)
    full_train = data.load_dataset(dataset, "train", root=root, seed=seed)
    train_set = data.per_class_subset(full_train, per_class, seed=seed)
    test_set = data.load_dataset(dataset, "test", root=root, seed=seed)
    # A fifth of the training size per class is plenty to follow the curve and keeps epochs short.
    val_set = data.per_class_subset(test_set, min(max(per_class // 5, 2), min(test_set.class_counts())), seed=seed)
    torch.manual_seed(seed)
    model = models.build_model(config.arch, train_set.num_classes)
    return model, train_set, val_set, config


def save_source(path, model, train_set, config, end: dict) -> Path:
    """Save a source model trained in the dashboard, with its metadata, as a checkpoint.

    >>> save_source("runs/sources/mine.pt", model, train_set, config, end_event)
    """
    return checkpoints.save_checkpoint(
        path,
        model,
        arch=config.arch,
        classes=train_set.classes,
        mean=train_set.mean,
        std=train_set.std,
        dataset=train_set.name,
        source=f"trained in the dashboard on {train_set.describe()}",
        preset="quick",
        metrics={"val_acc": end.get("val_acc"), "best_val_acc": end.get("best_val_acc")},
    )


# ---------------------------------------------------------------------------------------
# Chart and table data
# ---------------------------------------------------------------------------------------


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
    for e in events:
        if e["kind"] != "epoch":
            continue
        for series, prefix in (("train", "train"), ("validation", "val")):
            for metric in ("loss", "acc"):
                value = e.get(f"{prefix}_{metric}")
                if value is not None and math.isfinite(value):
                    rows.append(
                        {
                            "epoch": float(e["epoch"]),
                            "metric": "accuracy" if metric == "acc" else "loss",
                            "series": series,
                            "value": value,
                        }
                    )
    frame = pd.DataFrame(rows, columns=["epoch", "metric", "series", "value"])
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
        rows += _epoch_rows(run_name(run), store.events(run["id"], "epoch"), recorded=False)
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "series", "value", "recorded"])


def reference_curves(reference: dict, labels=None) -> pd.DataFrame:
    """Epoch curves of recorded reference runs (same columns as `stored_curves`).

    >>> reference_curves(load_reference_runs())
    """
    rows = []
    for run in reference.get("runs", []):
        if labels is None or run["label"] in labels:
            rows += _epoch_rows(f"recorded: {run['label']}", run.get("epochs", []), recorded=True)
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "series", "value", "recorded"])


def _epoch_rows(name: str, epochs: list[dict], recorded: bool) -> list[dict]:
    rows = []
    for e in epochs:
        for series, prefix in (("train", "train"), ("validation", "val")):
            for metric in ("loss", "acc"):
                value = e.get(f"{prefix}_{metric}")
                if value is not None and math.isfinite(value):
                    rows.append(
                        {
                            "run": name,
                            "epoch": e["epoch"],
                            "metric": "accuracy" if metric == "acc" else "loss",
                            "series": series,
                            "value": value,
                            "recorded": recorded,
                        }
                    )
    return rows


CURVE_COLUMNS = ["epoch", "metric", "series", "value"]


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


def reference_provenance(reference: dict) -> str:
    """Where the recorded reference runs come from, in one sentence, from what the file says.

    >>> reference_provenance({"data": "CIFAR-100, 10 images per class", "machine": "x86_64"})
    'Data: CIFAR-100, 10 images per class. Recorded on x86_64.'
    """
    parts = [f"Data: {reference['data']}."] if reference.get("data") else []
    recorded = "Recorded"
    if reference.get("recorded"):
        recorded += f" on {reference['recorded']}"
    if reference.get("machine"):
        recorded += f" on {reference['machine']}"
    if reference.get("torch"):
        recorded += f" with torch {reference['torch']}"
    if reference.get("recorded_with"):
        recorded += f" by `{reference['recorded_with']}`"
    if recorded != "Recorded":
        parts.append(recorded + ".")
    return " ".join(parts) or "The file does not say where its runs come from."


def load_reference_runs(path=None) -> dict | None:
    """The recorded reference runs (`make reference-runs`), or None when the file is missing.

    >>> [run["label"] for run in load_reference_runs()["runs"]]
    """
    path = Path(path) if path is not None else REFERENCE_RUNS
    if not path.is_file():
        return None
    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LessonError(f"{path} is not readable JSON ({error}): rebuild it with `make reference-runs`.") from None
    if not isinstance(reference, dict) or not isinstance(reference.get("runs"), list):
        raise LessonError(f"{path} has no list of runs: rebuild it with `make reference-runs`.")
    return reference


# ---------------------------------------------------------------------------------------
# Training in the background, one run at a time
# ---------------------------------------------------------------------------------------


class TrainingLine:
    """Training runs take turns: at most `slots` train at once in this process, the rest wait.

    Two browser tabs that press Train together would otherwise split the CPU between two
    runs and both crawl; waiting in line keeps each run as fast as it would be alone.

    >>> line = TrainingLine(slots=1)
    >>> line.position(job)     # 0: training now; 2: two runs ahead of it
    """

    def __init__(self, slots: int = 1):
        self.slots = slots
        self._jobs = []
        self._changed = threading.Condition()

    def join(self, job):
        """Put a job at the end of the line."""
        with self._changed:
            self._jobs.append(job)

    def position(self, job) -> int:
        """How many runs must finish before `job` trains (0 when it trains now or left)."""
        with self._changed:
            if job not in self._jobs:
                return 0
            return max(0, self._jobs.index(job) - self.slots + 1)

    def wait_turn(self, job, stop: threading.Event) -> bool:
        """Block until `job` may train; False (and out of the line) if `stop` is set first."""
        with self._changed:
            while self._jobs.index(job) >= self.slots:
                if stop.is_set():
                    self._jobs.remove(job)
                    self._changed.notify_all()
                    return False
                # Wake up now and then to notice a Stop pressed while waiting.
                self._changed.wait(timeout=0.2)
        return True

    def leave(self, job):
        """Take a job out of the line and let the next one start."""
        with self._changed:
            if job in self._jobs:
                self._jobs.remove(job)
            self._changed.notify_all()


# One line for the whole server process: every browser session trains through it.
SHARED_LINE = TrainingLine(slots=1)


class TrainingJob:
    """One `fit()` run in a background thread, stored in the run store as it goes.

    The thread puts every event in a queue; the page calls `poll()` a couple of times a second
    to take them and redraw. `stop()` asks `fit` to end after its current batch; the run is then
    stored as "stopped" with the epochs it finished. `when_finished(model, end_event)` runs in
    the thread after a run that finished (e.g. to save a checkpoint).

    >>> job = TrainingJob(model, train_set, val_set, config, strategy, "linear probe", setup.to_dict())
    >>> job.start().wait(); job.poll()[-1]["status"]
    'finished'
    """

    def __init__(
        self,
        model,
        train_set,
        val_set,
        config,
        strategy,
        label: str,
        run_config: dict | None = None,
        store_path=None,
        line: TrainingLine | None = None,
        when_finished=None,
        threads: int | None = None,
    ):
        self.model, self.train_set, self.val_set = model, train_set, val_set
        self.config, self.strategy, self.label = config, strategy, label
        self.run_config = run_config if run_config is not None else {"label": label}
        self.store_path = store_path
        self.line = line or SHARED_LINE
        self.when_finished = when_finished
        self.threads = threads or train.cpu_threads()
        self.events: list[dict] = []  # every event taken by poll(), in order
        self.end: dict | None = None
        self.run_id: int | None = None
        self.started_at: float | None = None
        self.first_point_at: float | None = None  # when the worker produced the first step event
        self._run_id = None  # the worker's copy, for a "failed" event it makes itself
        self._inbox = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"training: {label}", daemon=True)

    def start(self) -> TrainingJob:
        """Join the line and start the thread; returns the job."""
        self.started_at = time.monotonic()
        self.line.join(self)
        self._thread.start()
        return self

    def stop(self):
        """Ask the run to stop after its current batch (or to leave the line if it waits)."""
        self._stop.set()

    def poll(self) -> list[dict]:
        """Take the events produced since the last call (also appended to `self.events`)."""
        new = []
        while True:
            try:
                new.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for event in new:
            self.run_id = event.get("run_id", self.run_id)
            if event["kind"] == "end":
                self.end = event
        self.events += new
        return new

    def wait(self, timeout: float | None = None) -> TrainingJob:
        """Block until the thread ends (or `timeout` seconds pass); returns the job."""
        self._thread.join(timeout)
        return self

    @property
    def done(self) -> bool:
        """True once `poll()` has taken the run's "end" event."""
        return self.end is not None

    @property
    def position(self) -> int:
        """Runs ahead of this one in the line (0 once it trains)."""
        return self.line.position(self)

    @property
    def status(self) -> str:
        """ "waiting", "running", or the end status ("finished", "stopped", "diverged", "failed")."""
        if self.end is not None:
            return self.end["status"]
        return "waiting" if self.position > 0 else "running"

    @property
    def first_point_seconds(self) -> float | None:
        """Seconds from `start()` to the first step event (the first point of the curve)."""
        if self.first_point_at is None or self.started_at is None:
            return None
        return self.first_point_at - self.started_at

    def _work(self):
        try:
            if not self.line.wait_turn(self, self._stop):
                self._inbox.put(
                    {
                        "kind": "end",
                        "status": "stopped",
                        "message": "Stopped before it started.",
                        "elapsed": 0.0,
                        "val_acc": None,
                        "best_val_acc": None,
                    }
                )
                return
            # The worker owns the CPU while its turn lasts; the page only polls the queue.
            torch.set_num_threads(self.threads)
            store = RunStore(self.store_path)
            stream = train.fit(
                self.model, self.train_set, self.val_set, config=self.config, strategy=self.strategy, stop=self._stop
            )
            for event in record(stream, store, self.run_config, self.label):
                self._run_id = event["run_id"]
                if event["kind"] == "step" and self.first_point_at is None:
                    self.first_point_at = time.monotonic()
                if event["kind"] == "end" and event["status"] == "finished" and self.when_finished:
                    event = self._finish(event)
                self._inbox.put(event)
        except LessonError as error:
            self._inbox.put(self._failed(str(error)))
        except Exception as error:  # a bug: keep the page alive, show it, print the traceback
            traceback.print_exc(file=sys.stderr)
            self._inbox.put(
                self._failed(
                    f"Training stopped on an unexpected error ({type(error).__name__}: "
                    f"{error}); this is a bug in tl-lessons, please report it."
                )
            )
        finally:
            self.line.leave(self)

    def _finish(self, event: dict) -> dict:
        try:
            self.when_finished(self.model, event)
        except LessonError as error:
            return {**event, "message": f"{event.get('message') or ''} {error}".strip()}
        return event

    def _failed(self, message: str) -> dict:
        return {
            "kind": "end",
            "status": "failed",
            "message": message,
            "elapsed": None,
            "val_acc": None,
            "best_val_acc": None,
            "run_id": self._run_id,
        }


# ---------------------------------------------------------------------------------------
# What the dashboard costs (for `python -m tl_lessons bench`)
# ---------------------------------------------------------------------------------------


def watch(job: TrainingJob) -> tuple[float | None, float]:
    """Poll a running job as the page does until it ends.

    Each poll takes the new events and rebuilds what the page redraws: the live curves, the
    progress line and both charts' spec and rows (as `st.vega_lite_chart` would send them).
    Returns (seconds from start to the first drawn point, CPU seconds the polls used).

    >>> first_point_s, page_cpu_s = watch(job.start())
    """
    first_point_s, page_cpu_s = None, 0.0
    while not job.done:
        time.sleep(REFRESH_S)
        started = time.thread_time()
        job.poll()
        if first_point_s is None and any(e["kind"] == "step" for e in job.events):
            first_point_s = time.monotonic() - job.started_at
        frame = live_curves(job.events)
        progress(job.events)
        for metric in ("loss", "accuracy"):
            json.dumps({"spec": curve_spec(metric, metric), "rows": curve_rows(frame, metric).to_dict("records")})
        page_cpu_s += time.thread_time() - started
    return first_point_s, page_cpu_s


def measure_overhead(
    dataset: str | None = None, per_class: int = 500, epochs: int = 4, repeats: int = 3, seed: int = 0
) -> dict:
    """Train the same run headless and as the dashboard does, `repeats` times each, and compare.

    Headless: a `TrainingJob` (fit in a background thread, recorded into a run store) that
    nobody watches. Dashboard: the same job watched as the page does (see `watch`). Both train
    in a background thread, so the difference is the dashboard's own work. Times are the
    training's own clock (`elapsed` of the "end" event); the runs alternate and the fastest of
    each kind is compared, so that other programs slowing the computer down now and then do not
    count as overhead. `page_cpu_share` is the CPU the polling itself used, per second of
    training and per training core: the overhead measured without that noise. `first_point_s` is
    how long after `start()` the poll loop first got a step event, i.e. when the page would draw
    the first point (slowest of the repeats).
    The run is FastNet's "quick" recipe on `dataset` (CIFAR-10 when on disk, else synthetic10).

    >>> measure_overhead()["overhead"]
    0.03
    """
    if dataset is None:
        dataset = "cifar10" if data.cifar_available("cifar10") else "synthetic10"
    model, train_set, val_set, config = source_training(dataset, per_class, epochs, seed)
    torch.set_num_threads(train.cpu_threads())
    headless, app, first_points, page_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        store_path = Path(folder) / "runs.sqlite"

        def new_job(label):
            return TrainingJob(
                copy.deepcopy(model),
                train_set,
                val_set,
                config,
                None,
                label,
                store_path=store_path,
                line=TrainingLine(),
            )

        # One short run first, so that neither kind pays for warming up torch.
        warm_up = dataclasses.replace(config, epochs=1)
        for _ in train.fit(copy.deepcopy(model), train_set.take(range(min(len(train_set), 1024))), None, warm_up):
            pass
        for repeat in range(repeats):
            # Alternate which kind goes first, so that a machine getting busier favours neither.
            for kind in ("headless", "app") if repeat % 2 == 0 else ("app", "headless"):
                job = new_job(kind).start()
                if kind == "headless":
                    job.wait().poll()
                    headless.append(job.end["elapsed"])
                else:
                    first_point_s, page_cpu_s = watch(job)
                    job.wait()
                    first_points.append(first_point_s)
                    page_cpu.append(page_cpu_s / job.end["elapsed"])
                    app.append(job.end["elapsed"])
    return {
        "first_point_s": max(first_points),
        "headless_s": min(headless),
        "app_s": min(app),
        "overhead": min(app) / min(headless) - 1,
        # CPU the page's polling takes per second of training, as a share of the training's cores:
        # the overhead itself, free of the noise of other programs sharing the machine.
        "page_cpu_share": max(page_cpu) / train.cpu_threads(),
        "headless_runs_s": headless,
        "app_runs_s": app,
        "run": f"FastNet quick recipe, {len(train_set):,} {dataset} images, {epochs} epochs, best of {repeats}",
    }


def measure_stop_latency(
    dataset: str | None = None, per_class: int = 500, repeats: int = 3, seed: int = 0, stop_after: float = 1.0
) -> dict:
    """Seconds from pressing Stop (`job.stop()`) until the page can show the run as stopped.

    A long run of FastNet's "quick" recipe is started `repeats` times; each is stopped
    `stop_after` seconds into training (mid-epoch), and the time until its "end" event reaches
    the page's poll is measured (the page itself polls every REFRESH_S on top). Returns the
    slowest under "stop_s" and every measurement under "stop_runs_s"; a run that ends any other
    way than "stopped" (failed, finished too soon) raises RuntimeError.

    >>> measure_stop_latency()["stop_s"]
    0.2
    """
    if dataset is None:
        dataset = "cifar10" if data.cifar_available("cifar10") else "synthetic10"
    model, train_set, val_set, config = source_training(dataset, per_class, epochs=50, seed=seed)
    torch.set_num_threads(train.cpu_threads())
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            job = TrainingJob(
                copy.deepcopy(model), train_set, val_set, config, None, "stop latency",
                store_path=Path(folder) / "runs.sqlite", line=TrainingLine(),
            ).start()
            while not job.done and not any(event["kind"] == "step" for event in job.events):
                time.sleep(0.05)
                job.poll()
            time.sleep(stop_after)
            pressed = time.monotonic()
            job.stop()
            while not job.done:
                time.sleep(0.01)
                job.poll()
            latencies.append(time.monotonic() - pressed)
            job.wait()  # let the thread finish its bookkeeping before the next run (or exit)
            if job.status != "stopped":
                raise RuntimeError(f"the run ended as {job.status!r}, not 'stopped'")
    return {"stop_s": max(latencies), "stop_runs_s": latencies,
            "run": f"FastNet quick recipe, {len(train_set):,} {dataset} images, stopped mid-epoch"}


# ---------------------------------------------------------------------------------------
# The gradient-descent playground (surfaces and paths from tl_lessons.maths)
# ---------------------------------------------------------------------------------------


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
    )


def descent_frame(surface, path: torch.Tensor) -> pd.DataFrame:
    """A gradient-descent path as rows: step, x, y, loss above the minimum (finite points only).

    >>> descent_frame(maths.SURFACES["bowl"], maths.gradient_descent(maths.SURFACES["bowl"].grad, (1, 1), 0.05))
    """
    above = (surface.loss(path[:, 0], path[:, 1]) - surface.min_loss()).clamp(min=1e-16)
    frame = pd.DataFrame(
        {"step": range(len(path)), "x": path[:, 0].tolist(), "y": path[:, 1].tolist(), "above_minimum": above.tolist()}
    )
    return frame[frame[["x", "y", "above_minimum"]].map(math.isfinite).all(axis=1)]


# A five-pointed star (Vega-Lite takes an SVG path as a point shape) for the minima.
STAR = "M0,-1L0.22,-0.31L0.95,-0.31L0.36,0.12L0.59,0.81L0,0.38L-0.59,0.81L-0.36,0.12L-0.95,-0.31L-0.22,-0.31Z"


def descent_chart(grid: pd.DataFrame, surface, walked: pd.DataFrame, title: str) -> alt.Chart:
    """The loss surface as a heat map, its minima as stars, and the path walked so far.

    >>> descent_chart(surface_grid(bowl), bowl, descent_frame(bowl, path), "lr 0.05")
    """
    x_scale = alt.Scale(domain=list(surface.xlim), nice=False)
    y_scale = alt.Scale(domain=list(surface.ylim), nice=False)
    heat = (
        alt.Chart(grid)
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
    line = (
        alt.Chart(walked)
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
        alt.Chart(walked.head(1))
        .mark_point(size=260, filled=True, color="white", stroke="black", opacity=1, clip=True)
        .encode(x="x:Q", y="y:Q")
    )
    return (
        (heat + stars + line + start)
        .properties(title=title, height=430)
        .configure_axis(**CHART_FONT)
        .configure_title(fontSize=18)
    )


def descent_loss_chart(walked: pd.DataFrame, last_step: int) -> alt.Chart:
    """The loss above the minimum at each step of the path so far, on a log scale.

    >>> descent_loss_chart(descent_frame(bowl, path), last_step=100)
    """
    return (
        alt.Chart(walked)
        .mark_line(strokeWidth=3, color="#e4572e", point=alt.OverlayMarkDef(color="#e4572e", filled=True))
        .encode(
            x=alt.X("step:Q", scale=alt.Scale(domain=[0, last_step]), title="step"),
            y=alt.Y("above_minimum:Q", scale=alt.Scale(type="log"), title="loss above the minimum"),
            tooltip=["step:Q", alt.Tooltip("above_minimum:Q", format=".3g")],
        )
        .properties(title="Loss per step (log scale)", height=430)
        .configure_axis(**CHART_FONT)
        .configure_title(fontSize=18)
    )
