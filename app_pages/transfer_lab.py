"""Transfer lab: reuse a trained network for a new task, watch it learn, compare strategies.

The page reads top to bottom like the experiment: choose the settings (left), see which stages
will train (right), press Train and watch the curves, then compare the stored runs and the
recorded reference runs. The settings live in the URL, so a link opens the same experiment.
"""

import copy
import dataclasses
import functools
import io
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app_pages.common import cifar_on_disk, data_banner, dataset, tiny
from tl_lessons import checkpoints, dashboard, experiments, models, train, transfer
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.experiments import TransferSetup
from tl_lessons.runs import RunStore, default_path

STRATEGY_TEXT = {
    "scratch": ("Train from scratch", "Same network, random weights: the baseline that transfer has to beat."),
    "linear_probe": ("Linear probe", "Freeze every stage and train only a new head on the source's features."),
    "freeze": ("Freeze the first k stages", "Keep the first k stages as the source learnt them; train the rest."),
    "finetune": ("Fine-tune everything", "Start from the source's weights and train every stage."),
    "discriminative": ("Discriminative learning rates", "Train every stage, the early ones with smaller rates."),
    "gradual": ("Gradual unfreezing", "Train the head, then unfreeze one more stage from the top every few epochs."),
    "head_first": ("Head first, then everything", "Train only the new head for a few epochs, then fine-tune all."),
}
TARGET_TEXT = {
    "cifar100": "CIFAR-100 (real photos, 100 classes)",
    "synthetic100": "Synthetic-100 (synthetic practice data, 100 classes)",
}
SOURCE_DATASET_TEXT = {"cifar10": "CIFAR-10 (real photos)", "synthetic10": "Synthetic-10 (synthetic practice data)"}
METRICS = {
    "validation accuracy": ("accuracy", "validation"),
    "validation loss": ("loss", "validation"),
    "training accuracy": ("accuracy", "train"),
    "training loss": ("loss", "train"),
}


# ---------------------------------------------------------------------------------------
# Cached building blocks
# ---------------------------------------------------------------------------------------


@st.cache_resource
def run_store(path: str) -> RunStore:
    """The run store (a SQLite file): every run of every session, kept across restarts."""
    return RunStore(path)


@st.cache_resource(max_entries=8, show_spinner="Loading the source model…")
def target_model(source: str, from_scratch: bool, num_classes: int, seed: int, version: float):
    """The model before a strategy is applied: the source with a new head (or random weights).

    `version` (the checkpoint file's modification time) makes a re-saved source load again.
    """
    setup = TransferSetup(source=source, strategy="scratch" if from_scratch else "finetune", seed=seed)
    model, _ = experiments.build_target_model(setup, num_classes)
    return model


@st.cache_resource(max_entries=4, show_spinner="Preparing the data and the model…")
def prepared(setup_json: str):
    """`experiments.prepare` for a setup, cached: pressing Train again starts at once."""
    return experiments.prepare(TransferSetup(**json.loads(setup_json)))


def source_version(source: str) -> float:
    """The modification time of a source's checkpoint file (0 for sources without one)."""
    if source == "shipped":
        path = checkpoints.SOURCE_CHECKPOINT
    elif source.startswith("trained:"):
        path = Path(dashboard.experiment_source(source))
    else:
        return 0.0
    return path.stat().st_mtime if path.is_file() else 0.0


# ---------------------------------------------------------------------------------------
# Choices that depend on this computer
# ---------------------------------------------------------------------------------------


def source_choices(store_path) -> tuple[dict[str, str], dict[str, str]]:
    """({source key: label}, {source key: why it cannot be used}) for the source picker."""
    labels, problems = {"shipped": "CIFAR-10 FastNet (shipped with the kit)"}, {}
    if not checkpoints.SOURCE_CHECKPOINT.is_file():
        problems["shipped"] = (
            "The shipped CIFAR-10 model is not in this copy of the kit: train a source "
            "model at the bottom of this page, or build it with `make source-model`."
        )
    for key, path in dashboard.trained_sources(store_path).items():
        labels[key] = f"{path.stem} (trained in this app)"
    labels["imagenet"] = "ResNet-18 pre-trained on ImageNet (torchvision)"
    problem = dashboard.imagenet_problem()
    if problem is not None:
        problems["imagenet"] = problem
    labels["scratch"] = "Random weights (no pre-training)"
    return labels, problems


def target_choices() -> list[str]:
    """The target datasets that load here; a broken one is reported and left out."""
    usable = []
    for name in (["cifar100"] if cifar_on_disk()["cifar100"] else []) + ["synthetic100"]:
        try:
            dataset(name, "train")
            usable.append(name)
        except LessonError as error:
            st.error(str(error), icon=":material/error:")
    return usable


def smallest_class(name: str) -> int:
    """Training images in the smallest class of a dataset: the most images per class one can ask for."""
    return min(dataset(name, "train").class_counts())


def default_setup(sources: dict, unavailable: dict, targets: list[str]) -> TransferSetup:
    """The settings a first visit (or a link without parameters) starts from."""
    source = next(key for key in sources if key not in unavailable)  # "scratch" is always usable
    target = targets[0]
    strategy = "scratch" if source == "scratch" else "linear_probe"
    return TransferSetup(
        source=source,
        target=target,
        per_class=min(2 if tiny() else 10, smallest_class(target)),
        fraction=None,
        strategy=strategy,
        k=2,
        epochs=1 if tiny() else 8,
        batch_size=32 if tiny() else 128,
        lr=dashboard.suggested_lr(strategy),
    )


# ---------------------------------------------------------------------------------------
# Settings: session state <-> TransferSetup <-> URL
# ---------------------------------------------------------------------------------------

FIELDS = list(dashboard.QUERY_FIELDS)


def read_link(defaults: TransferSetup, choices: dict, problems):
    """On a session's first run, fill the widgets from the URL (or the defaults)."""
    if "lab_ready" in st.session_state:
        return
    setup, notices = dashboard.setup_from_query(st.query_params.to_dict(), defaults, choices, problems)
    put_in_widgets(setup, defaults)
    st.session_state.lab_notices = notices
    st.session_state.lab_from_link = dashboard.setup_to_query(setup)
    st.session_state.lab_ready = True


def put_in_widgets(setup: TransferSetup, defaults: TransferSetup):
    """Show `setup` in the widgets (their values live in session state under "lab_<field>")."""
    for name in FIELDS:
        st.session_state[f"lab_{name}"] = getattr(setup, name)
    st.session_state.lab_labels = "per_class" if setup.per_class is not None else "fraction"
    # The hidden one of the two label widgets keeps a sensible value for when it is picked.
    if setup.per_class is None:
        st.session_state.lab_per_class = defaults.per_class
    if setup.fraction is None:
        st.session_state.lab_fraction = 0.1


def reset_settings(defaults: TransferSetup):
    """The Reset button's callback: it runs before the widgets are drawn, so it may change them."""
    put_in_widgets(defaults, defaults)
    st.session_state.lab_notices = []


def setup_in_widgets() -> TransferSetup:
    """The setup the widgets show now."""
    state = st.session_state
    values = {name: state[f"lab_{name}"] for name in FIELDS}
    if state.lab_labels == "per_class":
        values["fraction"] = None
    else:
        values["per_class"] = None
    # Tiny mode validates on 1 % of the training images instead of the whole test split.
    return TransferSetup(**values, val=0.01 if tiny() else "test")


def use_suggested_lr():
    """The strategy picker's callback: a new strategy starts from the learning rate that suits it."""
    st.session_state.lab_lr = dashboard.suggested_lr(st.session_state.lab_strategy)


def apply_pending():
    """Changes asked for by the live view or a button take effect before the widgets are drawn."""
    pending = st.session_state.pop("lab_pending", None)
    if pending:
        for name, value in pending.items():
            st.session_state[name] = value


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def runs_csv(run_ids: list[int]) -> str:
    """The CSV export of some runs (all when none are chosen), made only when Download is clicked."""
    export = io.StringIO()
    store.export_csv(export, run_ids=run_ids or None)
    return export.getvalue()


def show_results(frame: pd.DataFrame):
    """A results table (`dashboard.results_table` or `reference_table`) with readable numbers."""
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "final val acc": st.column_config.NumberColumn("final val acc", format="percent"),
            "best val acc": st.column_config.NumberColumn("best val acc", format="percent"),
            "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
            "trainable params": st.column_config.NumberColumn("trainable params", format="localized"),
        },
    )


# ---------------------------------------------------------------------------------------
# The live view of this session's run
# ---------------------------------------------------------------------------------------


def live_view():
    """This session's current run: progress, Stop, and the curves so far (a fragment that polls)."""
    job = st.session_state.get("lab_job")
    if job is None:
        st.info(
            "Press **Train** to start: the loss and accuracy curves appear here as the model learns.",
            icon=":material/play_circle:",
        )
        return
    job.poll()
    st.markdown(f"**Run:** {job.label}" + (f" (run #{job.run_id})" if job.run_id else ""))
    if job.status == "waiting":
        st.info(
            f"Another training is using this computer's CPU: {job.position} run(s) ahead of yours. "
            "Yours starts as soon as it is its turn.",
            icon=":material/hourglass_top:",
        )
    fraction, text = dashboard.progress(job.events)
    if not job.done:
        bar, stop = st.columns([5, 1], vertical_alignment="bottom")
        bar.progress(fraction, text=text)
        stop.button(
            "Stop",
            key="lab_stop",
            on_click=job.stop,
            icon=":material/stop_circle:",
            width="stretch",
            help="Stop after the current batch; the epochs finished so far are kept in the run store.",
        )
    else:
        show_end(job.end)
    frame = dashboard.live_curves(job.events)
    if frame.empty:
        st.caption("The first point appears after the first batches.")
    else:
        left, right = st.columns(2)
        left.vega_lite_chart(
            dashboard.curve_rows(frame, "loss"),
            dashboard.curve_spec("loss", "Loss (lower is better)"),
            width="stretch",
            alt="Training and validation loss of the current run",
        )
        right.vega_lite_chart(
            dashboard.curve_rows(frame, "accuracy"),
            dashboard.curve_spec("accuracy", "Accuracy (higher is better)"),
            width="stretch",
            alt="Training and validation accuracy of the current run",
        )
    if job.done and not st.session_state.get("lab_job_reported"):
        # Once, when the run ends: refresh the whole page so the comparison lists the new run.
        st.session_state.lab_job_reported = True
        pending = {}
        if job.run_id is not None:
            pending["lab_compare_add"] = dashboard.run_name({"id": job.run_id, "label": job.label})
        new_source = st.session_state.pop("lab_new_source", None)
        if new_source and job.status == "finished":
            pending["lab_source"] = new_source
        st.session_state.lab_pending = pending
        st.rerun()


def show_end(end: dict):
    """How the run ended, in one coloured line (a diverged run says what to change)."""
    status, message = end["status"], end.get("message") or ""
    accuracy = (
        ""
        if end.get("val_acc") is None
        else (f" Validation accuracy {end['val_acc']:.1%} (best {end['best_val_acc']:.1%}).")
    )
    seconds = "" if end.get("elapsed") is None else f" {end['elapsed']:.0f} s of training."
    if status == "finished":
        st.success(f"Finished.{accuracy}{seconds} {message}", icon=":material/check_circle:")
    elif status == "stopped":
        st.warning(f"Stopped: the run is kept with the epochs it finished.{accuracy}", icon=":material/stop_circle:")
    elif status == "diverged":
        st.error(f"Diverged: {message}", icon=":material/trending_up:")
    else:
        st.error(f"Failed: {message}", icon=":material/error:")


def run_label(setup: TransferSetup) -> str:
    """The label a run of `setup` gets (a trained source is named by its file, not its key)."""
    return dataclasses.replace(setup, source=dashboard.experiment_source(setup.source)).label()


def job_running() -> bool:
    """Whether this session has a run in progress (or waiting for its turn)."""
    job = st.session_state.get("lab_job")
    return job is not None and not job.done


def start_job(job: dashboard.TrainingJob, new_source: str | None = None):
    """Start `job` as this session's run; `new_source` becomes the source once it has finished."""
    st.session_state.lab_job = job.start()
    st.session_state.lab_job_reported = False
    if new_source:
        st.session_state.lab_new_source = new_source


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

st.title("Transfer lab")
st.markdown(
    "Reuse a network trained on one task for a new one with few labels: choose what to keep "
    "frozen, train, and compare. **Every run is saved**, and **the address bar holds the settings**, "
    "so a link opens the same experiment."
)
data_banner()

store_path = str(default_path())
store = run_store(store_path)
sources, unavailable = source_choices(store_path)
targets = target_choices()
defaults = default_setup(sources, unavailable, targets)
# What a link may ask for: a source that cannot be used here falls back to the default.
choices = {
    "source": tuple(key for key in sources if key not in unavailable),
    "target": tuple(targets),
    "strategy": transfer.STRATEGIES,
    "bn": ("eval", "train"),
    "batch_size": dashboard.BATCH_SIZES,
}


def model_before_strategy(source: str, target: str, from_scratch: bool, seed: int):
    """The (cached) model a setup starts from; a source that is unavailable here is never loaded.

    Raises ConfigError with the reason instead, so the page does not start a download by itself.
    (A scratch run of the ImageNet architecture needs no weights, so it may go ahead.)
    """
    if source in unavailable and not (from_scratch and source == "imagenet"):
        raise ConfigError(unavailable[source])
    return target_model(
        dashboard.experiment_source(source),
        from_scratch,
        dataset(target, "train").num_classes,
        seed,
        source_version(source),
    )


def stages_of(source: str, target: str, from_scratch: bool, seed: int) -> list[str]:
    """The stage names of the model a setup trains (the head last)."""
    return models.stage_names(model_before_strategy(source, target, from_scratch, seed))


def problems_of(setup: TransferSetup) -> dict[str, str]:
    """What is wrong with `setup` here, as {field: sentence} (see `dashboard.setup_problems`)."""
    try:
        stages = stages_of(setup.source, setup.target, setup.strategy == "scratch", setup.seed)
    except LessonError as error:
        return {"source": str(error)}
    return dashboard.setup_problems(setup, stages, smallest_class(setup.target), unavailable)


read_link(defaults, choices, problems_of)
apply_pending()

# A source that disappeared (a deleted checkpoint) falls back to the default.
if st.session_state.lab_source not in sources:
    st.session_state.lab_source = defaults.source
setup = setup_in_widgets()
problems = problems_of(setup)
# What the link could not use is said until the learner changes a setting.
if dashboard.setup_to_query(setup) == st.session_state.lab_from_link:
    for notice in st.session_state.lab_notices:
        st.info(notice, icon=":material/link:")
try:
    stages = stages_of(setup.source, setup.target, setup.strategy == "scratch", setup.seed)
except LessonError:
    stages = []

settings, right = st.columns([2, 3], gap="large")

with settings:
    st.subheader("1 · Settings")
    with st.container(border=True):
        st.selectbox(
            "Source model",
            list(sources),
            format_func=lambda key: sources[key] + (" — unavailable" if key in unavailable else ""),
            key="lab_source",
            persist_state="session",
            help="The network whose features are reused.",
        )
        if "source" in problems:
            st.error(problems["source"], icon=":material/block:")
        else:
            st.caption("The network whose learnt features are reused for the new task.")

        st.selectbox(
            "Target data",
            targets,
            format_func=lambda name: TARGET_TEXT[name],
            key="lab_target",
            persist_state="session",
        )
        st.caption(dataset(setup.target, "train").source)
        st.radio(
            "How many labels",
            ["per_class", "fraction"],
            horizontal=True,
            key="lab_labels",
            persist_state="session",
            format_func={"per_class": "images per class", "fraction": "fraction of the labels"}.get,
        )
        if setup.per_class is not None:
            st.number_input("Labelled images per class", step=1, key="lab_per_class", persist_state="session")
            label_field = "per_class"
        else:
            st.number_input(
                "Fraction of the labels", step=0.05, format="%.2f", key="lab_fraction", persist_state="session"
            )
            label_field = "fraction"
        if label_field in problems:
            st.error(problems[label_field], icon=":material/block:")
        else:
            st.caption(
                f"Few labels is where transfer shines; the smallest class has {smallest_class(setup.target)} training images."
            )

    with st.container(border=True):
        st.selectbox(
            "Strategy",
            transfer.STRATEGIES,
            format_func=lambda name: STRATEGY_TEXT[name][0],
            key="lab_strategy",
            persist_state="session",
            on_change=use_suggested_lr,
        )
        if "strategy" in problems:
            st.error(problems["strategy"], icon=":material/block:")
        else:
            st.caption(STRATEGY_TEXT[setup.strategy][1])
        if setup.strategy == "freeze" and stages:
            if not 0 <= st.session_state.lab_k <= len(stages) - 1:
                st.error(problems.get("k", ""), icon=":material/block:")
                st.session_state.lab_k = min(max(st.session_state.lab_k, 0), len(stages) - 1)
            st.select_slider(
                "Freeze up to and including stage",
                options=list(range(len(stages))),
                key="lab_k",
                persist_state="session",
                format_func=lambda k: "nothing (k = 0)" if k == 0 else f"{stages[k - 1]} (k = {k})",
            )
            st.caption(f"Stages of this model: {' → '.join(stages)}. The head always trains.")
        if setup.strategy == "discriminative":
            a, b = st.columns(2)
            a.number_input("Head rate × lr", step=1.0, format="%.1f", key="lab_head_lr_factor", persist_state="session")
            b.number_input(
                "Rate × per earlier stage", step=0.1, format="%.2f", key="lab_stage_decay", persist_state="session"
            )
            for name in ("head_lr_factor", "stage_decay"):
                if name in problems:
                    st.error(problems[name], icon=":material/block:")
            st.caption("The head learns at lr × factor; each stage below it at the rate of the one above × decay.")
        if setup.strategy == "gradual":
            st.number_input(
                "Unfreeze one more stage every … epochs", step=1, key="lab_unfreeze_every", persist_state="session"
            )
            if "unfreeze_every" in problems:
                st.error(problems["unfreeze_every"], icon=":material/block:")
        if setup.strategy == "head_first":
            st.number_input(
                "Epochs with only the head training", step=1, key="lab_head_epochs", persist_state="session"
            )
            if "head_epochs" in problems:
                st.error(problems["head_epochs"], icon=":material/block:")
        if setup.strategy in dashboard.ONLY_FOR["bn"]:  # strategies that keep stages frozen for a while
            st.radio(
                "BatchNorm in frozen stages",
                ["eval", "train"],
                horizontal=True,
                key="lab_bn",
                persist_state="session",
                format_func={"eval": "eval: keep the source's statistics", "train": "train: re-estimate them"}.get,
            )
            st.caption("Frozen weights do not move either way; in 'train' mode their BatchNorm statistics still do.")

    with st.container(border=True):
        a, b = st.columns(2)
        a.number_input(
            "Learning rate",
            step=0.01,
            format="%.4f",
            key="lab_lr",
            persist_state="session",
            help="The peak step size of the one-cycle schedule.",
        )
        b.number_input(
            "Epochs", step=1, key="lab_epochs", persist_state="session", help="Passes over the training images."
        )
        for name in ("lr", "epochs"):
            if name in problems:
                st.error(problems[name], icon=":material/block:")
        a, b = st.columns(2)
        a.selectbox(
            "Batch size", dashboard.BATCH_SIZES, key="lab_batch_size", persist_state="session", help="Images per step."
        )
        b.number_input(
            "Seed",
            step=1,
            key="lab_seed",
            persist_state="session",
            help="Same seed, same run: the data order and the new head.",
        )
        if "seed" in problems:
            st.error(problems["seed"], icon=":material/block:")
        suggested = dashboard.suggested_lr(setup.strategy)
        st.caption(
            "Learning rate: how far each step moves. Epochs: passes over the data. Seed: makes a run repeatable. "
            f"Picking a strategy sets its suggested rate ({suggested:g} for this one), the best one chapter 04 "
            "found for the shipped model on CIFAR-100; other sources may want another."
        )

    st.button("Reset to the defaults", icon=":material/restart_alt:", on_click=reset_settings, args=(defaults,))

# The URL follows the settings, so copying it shares this exact experiment.
query = dashboard.setup_to_query(setup)
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)
with settings:
    st.markdown("**Share these settings:** send this link (it is also in the address bar).")
    st.code(f"{st.context.url or ''}?{urlencode(query)}", language=None, wrap_lines=True)

with right:
    st.subheader("2 · What will train")
    try:
        model = copy.deepcopy(
            model_before_strategy(setup.source, setup.target, setup.strategy == "scratch", setup.seed)
        )
        strategy = transfer.apply_strategy(
            model,
            setup.strategy,
            k=min(setup.k, max(len(stages) - 1, 0)),
            bn=setup.bn,
            head_lr_factor=setup.head_lr_factor,
            stage_decay=setup.stage_decay,
            unfreeze_every=setup.unfreeze_every,
            head_epochs=setup.head_epochs,
        )
        rows = pd.DataFrame(transfer.describe(model, strategy))
        if setup.strategy in ("gradual", "head_first"):
            st.caption("At the start of training: this strategy unfreezes stages as the epochs go by.")
        trainable, total = int(rows["trainable"].sum()), int(rows["total"].sum())
        st.markdown(f"**{trainable:,}** of {total:,} parameters will train (**{trainable / max(total, 1):.1%}**).")
        rows["share"] = rows["trainable"] / rows["total"].clip(lower=1)
        st.dataframe(
            rows[["stage", "state", "trainable", "total", "share"]],
            hide_index=True,
            width="stretch",
            column_config={
                "stage": "stage",
                "state": "state",
                "trainable": st.column_config.NumberColumn("trainable parameters", format="localized"),
                "total": st.column_config.NumberColumn("all parameters", format="localized"),
                "share": st.column_config.ProgressColumn("share trainable", format="percent", min_value=0, max_value=1),
            },
        )
    except LessonError as error:
        trainable = None
        st.error(str(error), icon=":material/block:")

    st.subheader("3 · Train")
    blocked = bool(problems) or trainable is None
    train_col, note_col = st.columns([1, 3], vertical_alignment="center")
    pressed = train_col.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        key="lab_train",
        disabled=blocked or job_running(),
        width="stretch",
    )
    if blocked:
        note_col.caption("Fix the settings marked in red first.")
    elif job_running():
        note_col.caption("A run of yours is in progress: stop it or wait for it to end.")
    else:
        note_col.caption(f"The run will be saved as *{run_label(setup)}*.")
    if pressed and not job_running():
        try:
            run_setup = dataclasses.replace(setup, source=dashboard.experiment_source(setup.source))
            model, strategy, train_set, val_set, config = prepared(json.dumps(run_setup.to_dict(), sort_keys=True))
            run_config = {**run_setup.to_dict(), "source_key": setup.source, "trainable_params": trainable}
            start_job(
                dashboard.TrainingJob(
                    copy.deepcopy(model),
                    train_set,
                    val_set,
                    config,
                    copy.deepcopy(strategy),
                    label=run_setup.label(),
                    run_config=run_config,
                    store_path=store_path,
                )
            )
            st.rerun()  # redraw the page with Train disabled while the run lasts
        except LessonError as error:
            st.error(str(error), icon=":material/block:")
    st.fragment(live_view, run_every=dashboard.REFRESH_S if job_running() else None)()


# ---------------------------------------------------------------------------------------
# Compare
# ---------------------------------------------------------------------------------------

st.divider()
st.subheader("4 · Compare runs")
try:
    reference = dashboard.load_reference_runs()
    reference_problem = None
except LessonError as error:
    reference, reference_problem = None, str(error)
runs = store.runs()
by_name = {dashboard.run_name(run): run for run in runs}
if not runs:
    st.info(
        "No runs stored yet: train one above. Every run is kept in the run store "
        f"(`{store_path}`), also after a restart.",
        icon=":material/inventory_2:",
    )
else:
    if "lab_compare" not in st.session_state:
        st.session_state.lab_compare = list(by_name)[:4]
    added = st.session_state.pop("lab_compare_add", None)
    chosen = [name for name in st.session_state.lab_compare if name in by_name]
    if added in by_name and added not in chosen:
        chosen.append(added)
    st.session_state.lab_compare = chosen
    picker, metric_col = st.columns([3, 1])
    picker.multiselect("Runs to overlay (labelled by strategy and settings)", list(by_name), key="lab_compare")
    metric_name = metric_col.radio("Curve", list(METRICS), key="lab_metric")
    with_reference = reference is not None and metric_col.checkbox(
        "with the recorded reference runs", value=True, key="lab_with_reference"
    )
    chosen_runs = [by_name[name] for name in st.session_state.lab_compare]
    curves = dashboard.stored_curves(store, chosen_runs)
    if with_reference:
        curves = pd.concat([curves, dashboard.reference_curves(reference)], ignore_index=True)
    metric, series = METRICS[metric_name]
    if curves.empty:
        st.caption("Pick runs with at least one finished epoch to see their curves.")
    else:
        st.altair_chart(
            dashboard.compare_chart(curves, metric, series, metric_name),
            width="stretch",
            alt=f"{metric_name} of the chosen runs, epoch by epoch",
        )
    show_results(dashboard.results_table(runs))
    st.download_button(
        "Download the chosen runs as CSV",
        functools.partial(runs_csv, [run["id"] for run in chosen_runs]),
        file_name="tl-lessons-runs.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="One row per epoch of each run, with its settings; opens in any spreadsheet.",
    )

# ---------------------------------------------------------------------------------------
# Reference runs
# ---------------------------------------------------------------------------------------

st.divider()
st.subheader("5 · Recorded reference runs")
if reference is None:
    st.info(
        reference_problem
        or "No recorded reference runs in this copy of the kit "
        f"(`{dashboard.REFERENCE_RUNS.name}` is missing): they are recorded with `make reference-runs`.",
        icon=":material/history:",
    )
else:
    st.markdown(
        "Curves of the main strategies, **recorded** ahead of time so you can compare without waiting "
        f"(dashed in the comparison above). {dashboard.reference_provenance(reference)}"
    )
    st.altair_chart(
        dashboard.compare_chart(dashboard.reference_curves(reference), "accuracy", "validation", "validation accuracy"),
        width="stretch",
        alt="Validation accuracy of the recorded reference runs",
    )
    show_results(dashboard.reference_table(reference))

# ---------------------------------------------------------------------------------------
# Train a source model
# ---------------------------------------------------------------------------------------

st.divider()
with st.expander(
    "Train a source model in this app", expanded="shipped" in unavailable, icon=":material/model_training:"
):
    st.markdown(
        "No shipped model, or curious how one is made? Train a FastNet with the kit's **quick** recipe. "
        f"It is saved under `{dashboard.sources_dir(store_path)}` and appears in the source list above."
    )
    source_sets = [name for name in dashboard.SOURCE_DATASETS if name.startswith("synthetic") or cifar_on_disk()[name]]
    a, b, c, d = st.columns(4)
    source_set = a.selectbox("Data", source_sets, format_func=SOURCE_DATASET_TEXT.get, key="src_data")
    available = smallest_class(source_set)
    per_class = b.number_input(
        "Images per class", value=min(5 if tiny() else 500, available), step=50, key="src_per_class"
    )
    epochs = c.number_input(
        "Training epochs", value=1 if tiny() else train.PRESETS["quick"].epochs, step=1, key="src_epochs"
    )
    name = d.text_input("Name", value=f"{source_set}-quick", key="src_name")
    source_problems = []
    if not 1 <= per_class <= available:
        source_problems.append(f"Images per class: between 1 and {available} for this data.")
    if not 1 <= epochs <= dashboard.MAX_EPOCHS:
        source_problems.append(f"Epochs: between 1 and {dashboard.MAX_EPOCHS}.")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
        source_problems.append("Name: letters, digits, - and _ only (up to 40), e.g. cifar10-quick.")
    for problem in source_problems:
        st.error(problem, icon=":material/block:")
    st.caption("About a minute per epoch for 500 images per class on a laptop CPU; progress shows in section 3 above.")
    if st.button(
        "Train the source model",
        key="src_train",
        icon=":material/play_arrow:",
        disabled=bool(source_problems) or job_running(),
    ):
        try:
            model, train_set, val_set, config = dashboard.source_training(source_set, int(per_class), int(epochs))
            path = dashboard.sources_dir(store_path) / f"{name}.pt"
            save = lambda trained, end: dashboard.save_source(path, trained, train_set, config, end)
            start_job(
                dashboard.TrainingJob(
                    model,
                    train_set,
                    val_set,
                    config,
                    None,
                    label=f"source model {name} · quick · {per_class}/class",
                    run_config={
                        "kind": "source",
                        "target": source_set,
                        "per_class": int(per_class),
                        "epochs": int(epochs),
                        "strategy": "scratch",
                        "trainable_params": sum(p.numel() for p in model.parameters()),
                    },
                    store_path=store_path,
                    when_finished=save,
                ),
                new_source=f"trained:{name}",
            )
            st.rerun()
        except LessonError as error:
            st.error(str(error), icon=":material/block:")
