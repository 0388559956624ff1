"""Transfer lab: reuse a trained network for a new task, watch it learn, compare strategies.

The page reads top to bottom like the experiment, one function per section: choose the
settings (`settings_ui`, left), see which stages will train (`preview_ui`, right), press Train
and watch the curves (`train_ui`), then compare the stored runs (`compare_ui`) and the recorded
reference runs (`reference_ui`); a source model can be trained at the bottom (`source_model_ui`).
The settings live in the URL, so a link opens the same experiment. Every computation is imported
from `tl_lessons`: what is wrong with a setup is `TransferSetup.problems`, and pressing Train runs
`transfer_setup.prepare`, then `dashboard.jobs.TrainingJob` (`fit` in a background thread).
"""

import copy
import functools
import io
import json
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app_pages.common import cifar_on_disk, data_banner, dataset, tiny
from tl_lessons import models, reference_runs, train, transfer, transfer_setup
from tl_lessons.dashboard import charts, jobs, settings, sources
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.runs import RunStore, default_path
from tl_lessons.transfer_setup import TransferSetup

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
FIELDS = list(settings.QUERY_FIELDS)  # each one is in session state as "lab_<field>"


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
    model, _ = transfer_setup.build_target_model(setup, num_classes)
    return model


@st.cache_resource(max_entries=4, show_spinner="Preparing the data and the model…")
def prepared(setup_json: str):
    """`transfer_setup.prepare` for a setup, cached: pressing Train again starts at once."""
    return transfer_setup.prepare(TransferSetup(**json.loads(setup_json)))


def smallest_class(name: str) -> int:
    """Training images in the smallest class of a dataset: the most images per class one can ask for."""
    return min(dataset(name, "train").class_counts())


def target_choices() -> list[str]:
    """The target datasets that load here; a broken one is reported and left out."""
    usable = []
    for name in [name for name in settings.TARGETS if name.startswith("synthetic") or cifar_on_disk()[name]]:
        try:
            dataset(name, "train")
            usable.append(name)
        except LessonError as error:
            st.error(str(error), icon=":material/error:")
    return usable


def model_before_strategy(setup: TransferSetup, unavailable: dict, store_path: str):
    """The (cached) model a setup starts from; a source that is unavailable here is never loaded.

    Raises ConfigError with the reason instead, so the page does not start a download by itself.
    (A scratch run of the ImageNet architecture needs no weights, so it may go ahead.)
    """
    from_scratch = setup.strategy == "scratch"
    if setup.source in unavailable and not (from_scratch and setup.source == "imagenet"):
        raise ConfigError(unavailable[setup.source])
    return target_model(
        sources.source_path(setup.source, store_path),
        from_scratch,
        dataset(setup.target, "train").num_classes,
        setup.seed,
        sources.source_version(setup.source, store_path),
    )


def problems_of(setup: TransferSetup, unavailable: dict, store_path: str) -> dict[str, str]:
    """What is wrong with `setup` here, as {field: sentence} (`TransferSetup.problems` with this model and data)."""
    try:
        stages = models.stage_names(model_before_strategy(setup, unavailable, store_path))
    except LessonError as error:
        return {"source": str(error)}
    return setup.problems(stages, smallest_class(setup.target), unavailable)


# ---------------------------------------------------------------------------------------
# Settings: session state <-> TransferSetup <-> URL
# ---------------------------------------------------------------------------------------


def read_link(defaults: TransferSetup, choices: dict, problems):
    """On a session's first run, fill the widgets from the URL (or the defaults)."""
    if "lab_ready" in st.session_state:
        return
    setup, notices = settings.setup_from_query(st.query_params.to_dict(), defaults, choices, problems)
    put_in_widgets(setup, defaults)
    st.session_state.lab_notices = notices
    st.session_state.lab_from_link = settings.setup_to_query(setup)
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


def apply_pending():
    """Changes asked for by the live view or a button take effect before the widgets are drawn."""
    pending = st.session_state.pop("lab_pending", None)
    if pending:
        for name, value in pending.items():
            st.session_state[name] = value


def setup_in_widgets() -> TransferSetup:
    """The setup the widgets show now."""
    state = st.session_state
    values = {name: state[f"lab_{name}"] for name in FIELDS}
    if state.lab_labels == "per_class":
        values["fraction"] = None
    else:
        values["per_class"] = None
    # Tiny mode (the automated tests) validates on one held-out image per class.
    return TransferSetup(**values, **({"val_per_class": 1} if tiny() else {}))


def use_starting_lr():
    """The strategy picker's callback: a new strategy starts from the learning rate that suits it."""
    st.session_state.lab_lr = transfer.STRATEGY_TABLE[st.session_state.lab_strategy].lr


# ---------------------------------------------------------------------------------------
# 1 · Settings
# ---------------------------------------------------------------------------------------


def link_notices_ui(setup: TransferSetup):
    """What the link could not use is said until the learner changes a setting."""
    if settings.setup_to_query(setup) == st.session_state.lab_from_link:
        for notice in st.session_state.lab_notices:
            st.info(notice, icon=":material/link:")


def show_problem(problems: dict, *fields: str) -> bool:
    """Show the sentences of `fields` beside their widgets; True when there was one."""
    shown = [problems[name] for name in fields if name in problems]
    for problem in shown:
        st.error(problem, icon=":material/block:")
    return bool(shown)


def settings_ui(setup, problems, source_labels, unavailable, targets, stages, defaults):
    """The settings column: data, strategy, training, then the Reset button and the link to share."""
    st.subheader("1 · Settings")
    data_ui(setup, problems, source_labels, unavailable, targets)
    strategy_ui(setup, problems, stages)
    training_ui(setup, problems)
    st.button("Reset to the defaults", icon=":material/restart_alt:", on_click=reset_settings, args=(defaults,))
    share_ui(setup)


def data_ui(setup, problems, source_labels, unavailable, targets):
    """The source model, the target data and how many of its labels to train on."""
    with st.container(border=True):
        st.selectbox(
            "Source model",
            list(source_labels),
            format_func=lambda key: source_labels[key] + (" — unavailable" if key in unavailable else ""),
            key="lab_source",
            persist_state="session",
            help="The network whose features are reused.",
        )
        if not show_problem(problems, "source"):
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
        else:
            st.number_input(
                "Fraction of the labels", step=0.05, format="%.2f", key="lab_fraction", persist_state="session"
            )
        if not show_problem(problems, "per_class" if setup.per_class is not None else "fraction"):
            st.caption(
                f"Few labels is where transfer shines; the smallest class has {smallest_class(setup.target)} training images."
            )


def strategy_ui(setup, problems, stages):
    """The strategy and the options it takes (its row of `transfer.STRATEGY_TABLE`)."""
    takes = setup.options_taken()
    with st.container(border=True):
        st.selectbox(
            "Strategy",
            transfer.STRATEGIES,
            format_func=lambda name: transfer.STRATEGY_TABLE[name].title,
            key="lab_strategy",
            persist_state="session",
            on_change=use_starting_lr,
        )
        if not show_problem(problems, "strategy"):
            st.caption(transfer.STRATEGY_TABLE[setup.strategy].summary)
        if "k" in takes and stages:
            if show_problem(problems, "k"):
                # The slider offers this model's depths only: move the value into them.
                st.session_state.lab_k = min(max(st.session_state.lab_k, 0), len(stages) - 1)
            st.select_slider(
                "Freeze up to and including stage",
                options=list(range(len(stages))),
                key="lab_k",
                persist_state="session",
                format_func=lambda k: "nothing (k = 0)" if k == 0 else f"{stages[k - 1]} (k = {k})",
            )
            st.caption(f"Stages of this model: {' → '.join(stages)}. The head always trains.")
        if "head_lr_factor" in takes:
            a, b = st.columns(2)
            a.number_input("Head rate × lr", step=1.0, format="%.1f", key="lab_head_lr_factor", persist_state="session")
            b.number_input(
                "Rate × per earlier stage", step=0.1, format="%.2f", key="lab_stage_decay", persist_state="session"
            )
            show_problem(problems, "head_lr_factor", "stage_decay")
            st.caption("The head learns at lr × factor; each stage below it at the rate of the one above × decay.")
        if "unfreeze_every" in takes:
            st.number_input(
                "Unfreeze one more stage every … epochs", step=1, key="lab_unfreeze_every", persist_state="session"
            )
            show_problem(problems, "unfreeze_every")
        if "head_epochs" in takes:
            st.number_input(
                "Epochs with only the head training", step=1, key="lab_head_epochs", persist_state="session"
            )
            show_problem(problems, "head_epochs")
        if "bn" in takes:  # strategies that keep stages frozen for a while
            st.radio(
                "BatchNorm in frozen stages",
                transfer.BN_MODES,
                horizontal=True,
                key="lab_bn",
                persist_state="session",
                format_func={"eval": "eval: keep the source's statistics", "train": "train: re-estimate them"}.get,
            )
            st.caption("Frozen weights do not move either way; in 'train' mode their BatchNorm statistics still do.")


def training_ui(setup, problems):
    """Learning rate, epochs, batch size and seed."""
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
        show_problem(problems, "lr", "epochs")
        a, b = st.columns(2)
        a.selectbox(
            "Batch size", settings.BATCH_SIZES, key="lab_batch_size", persist_state="session", help="Images per step."
        )
        b.number_input(
            "Seed",
            step=1,
            key="lab_seed",
            persist_state="session",
            help="Same seed, same run: the data order and the new head.",
        )
        show_problem(problems, "seed")
        starting_lr = transfer.STRATEGY_TABLE[setup.strategy].lr
        st.caption(
            "Learning rate: how far each step moves. Epochs: passes over the data. Seed: makes a run repeatable. "
            f"Picking a strategy sets its suggested rate ({starting_lr:g} for this one), the best one chapter 04 "
            "found for the shipped model on CIFAR-100; other sources may want another."
        )


def share_ui(setup: TransferSetup):
    """The URL follows the settings, so copying it shares this exact experiment."""
    query = settings.setup_to_query(setup)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.markdown("**Share these settings:** send this link (it is also in the address bar).")
    st.code(f"{st.context.url or ''}?{urlencode(query)}", language=None, wrap_lines=True)


# ---------------------------------------------------------------------------------------
# 2 · What will train
# ---------------------------------------------------------------------------------------


def preview_ui(setup: TransferSetup, unavailable: dict, store_path: str) -> int | None:
    """Each stage of the model with the strategy applied; returns the trainable parameters (None: it cannot run)."""
    st.subheader("2 · What will train")
    try:
        rows = settings.what_will_train(model_before_strategy(setup, unavailable, store_path), setup)
    except LessonError as error:
        st.error(str(error), icon=":material/block:")
        return None
    if transfer.STRATEGY_TABLE[setup.strategy].scheduled:
        st.caption("At the start of training: this strategy unfreezes stages as the epochs go by.")
    trainable, total = int(rows["trainable"].sum()), int(rows["total"].sum())
    st.markdown(f"**{trainable:,}** of {total:,} parameters will train (**{trainable / max(total, 1):.1%}**).")
    st.dataframe(
        rows,
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
    return trainable


# ---------------------------------------------------------------------------------------
# 3 · Train, and the live view of this session's run
# ---------------------------------------------------------------------------------------


def job_running() -> bool:
    """Whether this session has a run in progress (or waiting for its turn)."""
    job = st.session_state.get("lab_job")
    return job is not None and not job.done


def start_job(job: jobs.TrainingJob, new_source: str | None = None):
    """Start `job` as this session's run; `new_source` becomes the source once it has finished."""
    st.session_state.lab_job = job.start()
    st.session_state.lab_job_reported = False
    if new_source:
        st.session_state.lab_new_source = new_source


def train_ui(setup: TransferSetup, blocked: bool, trainable: int | None, store_path: str):
    """The Train button and, below it, this session's run as it trains."""
    st.subheader("3 · Train")
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
        note_col.caption(f"The run will be saved as *{settings.run_setup(setup, store_path).label()}*.")
    if pressed and not job_running():
        try:
            # What Train does: the setup prepared once (cached), then fit in a background thread.
            run_setup = settings.run_setup(setup, store_path)
            model, strategy, train_set, val_set, config = prepared(json.dumps(run_setup.to_dict(), sort_keys=True))
            start_job(
                jobs.TrainingJob(
                    copy.deepcopy(model),
                    train_set,
                    val_set,
                    config,
                    copy.deepcopy(strategy),
                    label=run_setup.label(),
                    run_config=settings.run_config(setup, trainable, store_path),
                    store_path=store_path,
                )
            )
            st.rerun()  # redraw the page with Train disabled while the run lasts
        except LessonError as error:
            st.error(str(error), icon=":material/block:")
    st.fragment(live_view, run_every=jobs.REFRESH_S if job_running() else None)()


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
    fraction, text = charts.progress(job.events)
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
    frame = charts.live_curves(job.events)
    if frame.empty:
        st.caption("The first point appears after the first batches.")
    else:
        left, right = st.columns(2)
        left.vega_lite_chart(
            charts.curve_rows(frame, "loss"),
            charts.curve_spec("loss", "Loss (lower is better)"),
            width="stretch",
            alt="Training and validation loss of the current run",
        )
        right.vega_lite_chart(
            charts.curve_rows(frame, "accuracy"),
            charts.curve_spec("accuracy", "Accuracy (higher is better)"),
            width="stretch",
            alt="Training and validation accuracy of the current run",
        )
    if job.done and not st.session_state.get("lab_job_reported"):
        # Once, when the run ends: refresh the whole page so the comparison lists the new run.
        st.session_state.lab_job_reported = True
        pending = {}
        if job.run_id is not None:
            pending["lab_compare_add"] = charts.run_name({"id": job.run_id, "label": job.label})
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


# ---------------------------------------------------------------------------------------
# 4 · Compare runs, 5 · Recorded reference runs
# ---------------------------------------------------------------------------------------


def show_results(frame: pd.DataFrame):
    """A results table (`charts.results_table` or `reference_table`) with readable numbers."""
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


def runs_csv(store: RunStore, run_ids: list[int]) -> str:
    """The CSV export of some runs (all when none are chosen), made only when Download is clicked."""
    export = io.StringIO()
    store.export_csv(export, run_ids=run_ids or None)
    return export.getvalue()


def compare_ui(store: RunStore, store_path: str, reference: dict | None):
    """Stored runs (and the recorded ones) on one chart, the results table, and the CSV export."""
    st.divider()
    st.subheader("4 · Compare runs")
    runs = store.runs()
    by_name = {charts.run_name(run): run for run in runs}
    if not runs:
        st.info(
            "No runs stored yet: train one above. Every run is kept in the run store "
            f"(`{store_path}`), also after a restart.",
            icon=":material/inventory_2:",
        )
        return
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
    curves = charts.stored_curves(store, chosen_runs)
    if with_reference:
        curves = pd.concat([curves, charts.reference_curves(reference)], ignore_index=True)
    metric, series = METRICS[metric_name]
    if curves.empty:
        st.caption("Pick runs with at least one finished epoch to see their curves.")
    else:
        st.altair_chart(
            charts.compare_chart(curves, metric, series, metric_name),
            width="stretch",
            alt=f"{metric_name} of the chosen runs, epoch by epoch",
        )
    show_results(charts.results_table(runs))
    st.download_button(
        "Download the chosen runs as CSV",
        functools.partial(runs_csv, store, [run["id"] for run in chosen_runs]),
        file_name="tl-lessons-runs.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="One row per epoch of each run, with its settings; opens in any spreadsheet.",
    )


def reference_ui(reference: dict | None, problem: str | None):
    """The recorded reference runs: where they come from, their curves and their results."""
    st.divider()
    st.subheader("5 · Recorded reference runs")
    if reference is None:
        st.info(
            problem
            or "No recorded reference runs in this copy of the kit "
            f"(`{reference_runs.REFERENCE_RUNS.name}` is missing): they are recorded with `make reference-runs`.",
            icon=":material/history:",
        )
        return
    st.markdown(
        "Curves of the main strategies, **recorded** ahead of time so you can compare without waiting "
        f"(dashed in the comparison above). {reference_runs.reference_provenance(reference)}"
    )
    st.altair_chart(
        charts.compare_chart(charts.reference_curves(reference), "accuracy", "validation", "validation accuracy"),
        width="stretch",
        alt="Validation accuracy of the recorded reference runs",
    )
    show_results(charts.reference_table(reference))


# ---------------------------------------------------------------------------------------
# Train a source model
# ---------------------------------------------------------------------------------------


def source_model_ui(store_path: str, expanded: bool):
    """A FastNet trained with the kit's quick recipe, saved where the source picker finds it."""
    st.divider()
    with st.expander("Train a source model in this app", expanded=expanded, icon=":material/model_training:"):
        st.markdown(
            "No shipped model, or curious how one is made? Train a FastNet with the kit's **quick** recipe. "
            f"It is saved under `{sources.sources_dir(store_path)}` and appears in the source list above."
        )
        source_sets = [name for name in sources.SOURCE_DATASETS if name.startswith("synthetic") or cifar_on_disk()[name]]
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
        problems = sources.source_problems(per_class, epochs, name, available)
        show_problem(problems, *problems)
        st.caption("About a minute per epoch for 500 images per class on a laptop CPU; progress shows in section 3 above.")
        if st.button(
            "Train the source model",
            key="src_train",
            icon=":material/play_arrow:",
            disabled=bool(problems) or job_running(),
        ):
            try:
                model, train_set, val_set, config = sources.source_training(source_set, per_class, epochs)
                path = sources.sources_dir(store_path) / f"{name}.pt"
                save = lambda trained, end: sources.save_source(path, trained, train_set, config, end)
                start_job(
                    jobs.TrainingJob(
                        model,
                        train_set,
                        val_set,
                        config,
                        None,
                        label=f"source model {name} · quick · {per_class}/class",
                        run_config=sources.source_run_config(source_set, per_class, epochs, model),
                        store_path=store_path,
                        when_finished=save,
                    ),
                    new_source=f"trained:{name}",
                )
                st.rerun()
            except LessonError as error:
                st.error(str(error), icon=":material/block:")


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
source_labels, unavailable = sources.source_choices(store_path)
targets = target_choices()
usable_sources = [key for key in source_labels if key not in unavailable]  # "scratch" is always usable
defaults = settings.first_setup(usable_sources[0], targets[0], smallest_class(targets[0]), tiny())
read_link(defaults, settings.link_choices(usable_sources, targets),
          lambda linked: problems_of(linked, unavailable, store_path))
apply_pending()
# A source that disappeared (a deleted checkpoint) falls back to the default.
if st.session_state.lab_source not in source_labels:
    st.session_state.lab_source = defaults.source

setup = setup_in_widgets()
problems = problems_of(setup, unavailable, store_path)
link_notices_ui(setup)
try:
    stages = models.stage_names(model_before_strategy(setup, unavailable, store_path))
except LessonError:
    stages = []

left, right = st.columns([2, 3], gap="large")
with left:
    settings_ui(setup, problems, source_labels, unavailable, targets, stages, defaults)
with right:
    trainable = preview_ui(setup, unavailable, store_path)
    train_ui(setup, bool(problems) or trainable is None, trainable, store_path)

try:
    reference, reference_problem = reference_runs.load_reference_runs(), None
except LessonError as error:
    reference, reference_problem = None, str(error)
compare_ui(run_store(store_path), store_path, reference)
reference_ui(reference, reference_problem)
source_model_ui(store_path, expanded="shipped" in unavailable)
