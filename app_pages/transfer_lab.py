"""Transfer lab: reuse a trained network for a new task, watch it learn, compare strategies.

The page reads top to bottom like the experiment, one function per section: choose the
settings (`settings_ui`, left), see which stages will train (`preview_ui`, right), press Train
and watch the curves and the model's answers (`train_ui`), then compare the stored runs and
what they learnt (`compare_ui`) and the recorded reference runs (`reference_ui`); a source
model can be trained at the bottom (`source_model_ui`). The settings live in the URL, so a link
opens the same experiment; the learner's own runs are found by a token their browser keeps, so
a reload finds a run in progress and its Stop button again. Every computation is imported from
`tl_lessons`: what is wrong with a setup is `TransferSetup.problems`, and pressing Train runs
`transfer_setup.prepare`, then `dashboard.jobs.TrainingJob` (`fit` in a background thread,
waiting its turn in `jobs.SHARED_LINE`).
"""

import copy
import functools
import io
import json
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app_pages.common import (cifar_on_disk, class_rules, data_banner, dataset, learner_code_ui, learner_token,
                              on_this_computer_only, remember_learner, tiny)
from tl_lessons import models, plots, reference_runs, targets, train, transfer, transfer_setup
from tl_lessons.dashboard import charts, jobs, learnt, settings, sources
from tl_lessons.errors import ConfigError, LessonError, RunStoreError
from tl_lessons.runs import MEMORY, RunStore, default_path, open_store
from tl_lessons.transfer_setup import TransferSetup
from tl_lessons.vocabulary import display_name

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
# Each one is in session state as "lab_<field>"; the learning rate has one per strategy (see `lr_key`).
FIELDS = [name for name in settings.QUERY_FIELDS if name != "lr"]


# ---------------------------------------------------------------------------------------
# Cached building blocks
# ---------------------------------------------------------------------------------------


@st.cache_resource
def _opened_store(path: str) -> RunStore:
    return RunStore(path)  # a file that cannot be used raises, and an exception is never cached


@st.cache_resource
def _store_in_memory(path: str) -> RunStore:
    return open_store(MEMORY)[0]


def run_store(path: str) -> tuple[RunStore, str | None]:
    """The run store (a SQLite file): every run of every session, kept across restarts.

    A file that cannot be used gives a store in memory and the sentence why (`runs.open_store`):
    training goes on, the banner says what to do, and the next page load tries the file again
    (a folder made writable, a disk with room again: the server need not restart).
    """
    try:
        return _opened_store(path), None
    except RunStoreError:
        return _store_in_memory(path), open_store(path)[1]


@st.cache_resource(max_entries=8, show_spinner="Loading the source model…")
def target_model(source: str, from_scratch: bool, num_classes: int, seed: int, version: float):
    """The model before a strategy is applied: the source with a new head (or random weights).

    `version` (the checkpoint file's modification time) makes a re-saved source load again.
    """
    setup = TransferSetup(source=source, strategy="scratch" if from_scratch else "finetune", seed=seed)
    model, _ = transfer_setup.build_target_model(setup, num_classes)
    return model


@st.cache_resource(max_entries=4, show_spinner="Preparing the data and the model…")
def prepared(setup_json: str, version: float):
    """`transfer_setup.prepare` for a setup, cached: pressing Train again starts at once.

    `version` (the source file's modification time, `sources.source_version`) makes a source trained
    again under the same name load again, as the preview's `target_model` does.
    """
    return transfer_setup.prepare(TransferSetup(**json.loads(setup_json)))


@st.cache_resource(max_entries=8, show_spinner="Reading the validation images…")
def validation_images(setup_json: str):
    """The validation images of a stored run's setup (`transfer_setup.load_target`), to show its answers on."""
    return transfer_setup.load_target(TransferSetup(**json.loads(setup_json)))[1]


def smallest_class(name: str, classes: str = "all") -> int:
    """Training images in the smallest class of a dataset (or of a target of it): the most per class to ask for."""
    return min(dataset(name, "train", classes).class_counts())


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
        dataset(setup.target, "train", setup.classes).num_classes,
        setup.seed,
        sources.source_version(setup.source, store_path),
    )


def problems_of(setup: TransferSetup, unavailable: dict, store_path: str) -> dict[str, str]:
    """What is wrong with `setup` here, as {field: sentence} (`TransferSetup.problems` with this model and data)."""
    try:
        stages = models.stage_names(model_before_strategy(setup, unavailable, store_path))
    except LessonError as error:
        return {"source": str(error)}
    return setup.problems(stages, smallest_class(setup.target, setup.classes), unavailable)


# ---------------------------------------------------------------------------------------
# Settings: session state <-> TransferSetup <-> URL
# ---------------------------------------------------------------------------------------


def read_link(defaults: TransferSetup, choices: dict, problems):
    """On a session's first run, fill the widgets from the URL (or the defaults).

    The notices are said until the learner changes a setting: as long as the widgets hold what
    the link gave them (`lab_from_link`, read back from the widgets, so it is what they show).
    """
    if "lab_ready" in st.session_state:
        return
    setup, notices = settings.setup_from_query(st.query_params.to_dict(), defaults, choices, problems)
    put_in_widgets(setup, defaults)
    st.session_state.lab_notices = notices
    st.session_state.lab_from_link = settings.setup_to_query(setup_in_widgets())
    st.session_state.lab_ready = True


def lr_key(strategy: str) -> str:
    """The learning rate's widget key: one per strategy.

    Each strategy's rate is its own widget, starting at the strategy's suggested rate. A rate
    typed for one strategy can then never be trained with another: with a single widget, a
    Train click that overtook the redraw after a strategy change (on a busy server) sent the old
    strategy's rate along with the new strategy.
    """
    return f"lab_lr_{strategy}"


def put_in_widgets(setup: TransferSetup, defaults: TransferSetup):
    """Show `setup` in the widgets (their values live in session state under "lab_<field>")."""
    for name in FIELDS:
        st.session_state[f"lab_{name}"] = getattr(setup, name)
    st.session_state[lr_key(setup.strategy)] = setup.lr
    st.session_state.lab_labels = "per_class" if setup.per_class is not None else "fraction"
    # The hidden one of the two label widgets keeps a sensible value for when it is picked.
    if setup.per_class is None:
        st.session_state.lab_per_class = defaults.per_class
    if setup.fraction is None:
        st.session_state.lab_fraction = 0.1


def reset_settings(defaults: TransferSetup):
    """The Reset button's callback: it runs before the widgets are drawn, so it may change them."""
    for strategy in transfer.STRATEGIES:  # every strategy back to its suggested rate
        st.session_state.pop(lr_key(strategy), None)
    put_in_widgets(defaults, defaults)
    st.session_state.lab_notices = []


def apply_pending():
    """Changes asked for by the live view or a button take effect before the widgets are drawn."""
    pending = st.session_state.pop("lab_pending", None)
    if pending:
        for name, value in pending.items():
            st.session_state[name] = value


def setup_in_widgets() -> TransferSetup:
    """The setup the widgets show now (a strategy whose rate widget is not drawn yet: its suggested rate)."""
    state = st.session_state
    values = {name: state[f"lab_{name}"] for name in FIELDS}
    values["lr"] = state.setdefault(lr_key(values["strategy"]), transfer.STRATEGY_TABLE[values["strategy"]].lr)
    if state.lab_labels == "per_class":
        values["fraction"] = None
    else:
        values["per_class"] = None
    # Tiny mode (the automated tests) validates on one held-out image per class.
    return TransferSetup(**values, **({"val_per_class": 1} if tiny() else {}))


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


def settings_ui(setup, problems, source_labels, unavailable, target_sets, stages, defaults):
    """The settings column: data, strategy, training, then the Reset button and the link to share."""
    st.subheader("1 · Settings")
    data_ui(setup, problems, source_labels, unavailable, target_sets)
    strategy_ui(setup, problems, stages)
    training_ui(setup, problems)
    st.button("Reset to the defaults", icon=":material/restart_alt:", on_click=reset_settings, args=(defaults,))
    share_ui(setup)


def data_ui(setup, problems, source_labels, unavailable, target_sets):
    """The source model, the target data and classes, and how many of its labels to train on."""
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
            target_sets,
            format_func=lambda name: TARGET_TEXT[name],
            key="lab_target",
            persist_state="session",
        )
        st.radio("Target classes", list(targets.TARGETS), key="lab_classes", persist_state="session",
                 captions=[target.why for target in targets.TARGETS.values()],
                 help="Whether transfer helps depends on how much the new task resembles what the source learnt.")
        if not show_problem(problems, "classes"):
            st.caption(dataset(setup.target, "train", setup.classes).source)
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
            fewest = smallest_class(setup.target, setup.classes)
            st.caption(f"Few labels is where transfer shines; the smallest class has {fewest} training images.")


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
        )
        if not show_problem(problems, "strategy"):
            st.caption(transfer.STRATEGY_TABLE[setup.strategy].summary)
        if "k" in takes and stages:
            if show_problem(problems, "k"):
                # The slider offers this model's depths only: move the value into them.
                st.session_state.lab_k = min(max(st.session_state.lab_k, 0), len(stages) - 1)
            st.select_slider(
                "Stages to freeze, counted from the input (k)",
                options=list(range(len(stages))),
                key="lab_k",
                persist_state="session",
                format_func=lambda k: f"k = {k}",
            )
            k = st.session_state.lab_k
            st.caption(
                f"Frozen: **{', '.join(stages[:k]) or 'nothing'}**; training: {', '.join(stages[k:])}. "
                "The head always trains."
            )
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
        st.session_state.setdefault(lr_key(setup.strategy), transfer.STRATEGY_TABLE[setup.strategy].lr)
        a.number_input(
            "Learning rate",
            step=0.01,
            format="%.4f",
            key=lr_key(setup.strategy),
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
            min_value=0,
            max_value=train.MAX_SEED,
            help="Same seed, same run: the data order and the new head.",
        )
        show_problem(problems, "seed")
        starting_lr = transfer.STRATEGY_TABLE[setup.strategy].lr
        st.caption(
            "Learning rate: how far each step moves. Epochs: passes over the data. Seed: makes a run repeatable. "
            f"Each strategy starts from its suggested rate ({starting_lr:g} for this one), the best one chapter 04 "
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
# 3 · Train: the line of runs, the Train button, the live view of this learner's run
# ---------------------------------------------------------------------------------------


def current_job():
    """This learner's run shown in section 3: the newest the learner started in this server process
    (`jobs.SHARED_REGISTRY`), from this tab or another, so that after a reload, or in a second tab,
    its progress and Stop come back; a tab never trusts an older run of its own."""
    newest = jobs.SHARED_REGISTRY.latest(jobs.learner_id(learner_token()))
    shown = st.session_state.get("lab_job")
    if newest is not None and newest is not shown:
        newest.poll()
        st.session_state.lab_job = newest
        st.session_state.lab_job_reported = newest.done  # an ended run is in the comparison already
    return st.session_state.get("lab_job")


def job_running() -> bool:
    """Whether this learner has a run in progress (or waiting for its turn)."""
    job = current_job()
    return job is not None and not job.done


def start_job(job: jobs.TrainingJob, new_source: str | None = None):
    """Start `job` as this learner's run; `new_source` becomes the source once it has finished.

    The line may refuse it (`jobs.TurnRefused`: the class's rules); then nothing is remembered or stored.
    """
    job.start()
    jobs.SHARED_REGISTRY.add(job)
    st.session_state.lab_job = job
    st.session_state.lab_job_reported = False
    if new_source:
        st.session_state.lab_new_source = new_source


def press_train(unavailable: dict, store_path: str):
    """The Train button's callback: prepare the setup the widgets hold now and start its run.

    A callback runs before the page is drawn again, so the page that follows the click already
    shows the run (and Train disabled). The setup is read from the widgets here, not passed in
    from the drawing before the click, which may be older than what the learner sees.
    """
    if job_running():
        return
    setup = setup_in_widgets()
    try:
        problems = problems_of(setup, unavailable, store_path)
        if problems:
            raise ConfigError(" ".join(problems.values()))
        trainable = int(settings.what_will_train(model_before_strategy(setup, unavailable, store_path), setup)
                        ["trainable"].sum())
        # What Train does: the setup prepared once (cached), then fit in a background thread.
        run_setup = settings.run_setup(setup, store_path)
        model, strategy, train_set, val_set, config = prepared(json.dumps(run_setup.to_dict(), sort_keys=True),
                                                              sources.source_version(setup.source, store_path))
        start_job(
            jobs.TrainingJob(
                copy.deepcopy(model),
                train_set,
                val_set,
                config,
                copy.deepcopy(strategy),
                label=run_setup.label(),
                run_config=settings.run_config(setup, trainable, store_path),
                store=run_store(store_path)[0],
                learner=jobs.learner_id(learner_token()),
            )
        )
    except LessonError as error:
        st.session_state.lab_train_error = str(error)


def train_ui(setup: TransferSetup, blocked: bool, unavailable: dict, store_path: str):
    """The line of runs on this server, the Train button and, below it, this learner's run as it trains."""
    heading, code = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader("3 · Train")
    learner_code_ui(code)
    train_col, note_col = st.columns([1, 3], vertical_alignment="center")
    train_col.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        key="lab_train",
        disabled=blocked or job_running(),
        width="stretch",
        on_click=press_train,
        args=(unavailable, store_path),
    )
    if blocked:
        note_col.caption("Fix the settings marked in red first.")
    elif job_running():
        note_col.caption("A run of yours is in progress: stop it or wait for it to end.")
    else:
        note_col.caption(f"The run will be saved as *{settings.run_setup(setup, store_path).label()}*.")
    if "lab_train_error" in st.session_state:
        st.error(st.session_state.pop("lab_train_error"), icon=":material/block:")
    # One fragment redraws the line and the learner's run: two fragments on their own timers, with the
    # full redraw that follows a run's end, blanked pages under load ("Bad delta path index" in the
    # browser: 5 of 6 pages in `bench --only classroom`, 0 with one fragment).
    st.session_state.lab_refresh = jobs.refresh_every(current_job())
    st.fragment(live_view, run_every=st.session_state.lab_refresh)()


def queue_ui():
    """Who trains on this server now and who waits, with the time each will take (redrawn with the live view)."""
    you = jobs.learner_id(learner_token())
    try:
        line = jobs.SHARED_LINE.waits()
        slots = jobs.SHARED_LINE.slots
    except LessonError as error:  # a teacher's setting that cannot be read
        st.error(str(error), icon=":material/settings:")
        return
    if not line:
        st.caption(f"Nobody is training on this server now ({slots} run{'s' if slots > 1 else ''} can train "
                   "at once): a run starts as soon as you press Train.")
        return
    st.markdown(f"**Runs on this server** — {slots} train{'s' if slots == 1 else ''} at once, the others wait their turn:")
    st.dataframe(charts.line_table(line, slots, you), hide_index=True, width="stretch")
    shown = st.session_state.get("lab_job")
    for job, _, _ in line:  # the learner's other runs (from another tab): each can be stopped from here too
        if job.learner == you and job is not shown:
            label, stop = st.columns([4, 1], vertical_alignment="center")
            label.caption(f"Also yours: {job.label}")
            stop.button("Stop it", key=f"lab_stop_other_{id(job)}", on_click=job.stop, icon=":material/stop_circle:")


# How long a redraw waits for a run that has just started to give its first training point (its
# starting point, the model before any step, comes just before), so that the curves start with the
# redraw that follows Train instead of a later one (the rest of the page waits as long).
FIRST_POINT_WAIT_S = 1.5
TRAINING_POINTS = ("step", "epoch")


def live_view():
    """The line, then this learner's current run: its place in line or its progress, Stop, the curves and
    the model's answers (a fragment, redrawn every `jobs.refresh_every(job)` seconds)."""
    queue_ui()
    job = current_job()
    if job is not None and not job.done and jobs.refresh_every(job) != st.session_state.get("lab_refresh"):
        # The run started training (or a run began in another tab): redraw the page once, so that this
        # view is looked at as often as its run now needs.
        st.rerun()
    if job is None:
        st.info(
            "Press **Train** to start: the loss and accuracy curves appear here as the model learns, "
            "starting from where a new head starts: chance.",
            icon=":material/play_circle:",
        )
        return
    if job.status == "waiting" or any(event["kind"] in TRAINING_POINTS for event in job.events):
        job.poll()
    else:  # just started: its first training points are a moment away, and worth drawing in this redraw
        job.poll_until(TRAINING_POINTS, timeout=FIRST_POINT_WAIT_S)
    st.markdown(f"**Run:** {job.label}" + (f" (run #{job.run_id})" if job.run_id else ""))
    notices = [event for event in job.events if "store_notice" in event]
    if notices:  # only the latest: "busy" is followed by "free again, all stored" (`recording.record`)
        latest = notices[-1]
        shown = st.success if latest.get("store_state") == "stored" else st.warning
        shown(latest["store_notice"], icon=":material/database:")
    if job.done:
        show_end(job.end)
    elif job.status == "waiting":
        waiting_ui(job)
    else:
        running_ui(job)
    frame = charts.live_curves(job.events)
    start = next((e for e in job.events if e["kind"] == "start"), None)
    if not frame.empty:
        epochs, chance = (start or {}).get("epochs"), charts.chance_of(job.events)
        left, right = st.columns(2)
        left.vega_lite_chart(
            charts.curve_rows(frame, "loss"),
            charts.curve_spec("loss", "Loss (lower is better)", epochs),
            width="stretch",
            alt="Training and validation loss of the current run",
        )
        right.vega_lite_chart(
            charts.curve_rows(frame, "accuracy"),
            charts.curve_spec("accuracy", "Accuracy (higher is better)", epochs, chance),
            width="stretch",
            alt="Training and validation accuracy of the current run",
        )
    elif not job.done and job.status != "waiting":
        st.caption("The first point, the model before any training step, appears in a moment.")
    predictions = learnt.last_predictions(job.events)
    if predictions is not None:
        st.markdown(f"**What the model answers** after epoch {predictions['epoch']}, on validation images:")
        handful_ui(predictions["handful"], job.val_set)
        pairs = learnt.confused_pairs(predictions["predicted"], job.val_set, top=3)
        if pairs:
            st.caption("Mixed up most: " + "; ".join(
                f"{pair['true class']} taken for {pair['predicted as']} ({pair['images']}×)" for pair in pairs))
    if job.done and not st.session_state.get("lab_job_reported"):
        # Once, when the run ends: refresh the whole page so the comparison lists the new run.
        st.session_state.lab_job_reported = True
        pending = {}
        if job.run_id is not None:
            pending["lab_compare_add"] = charts.run_name({"id": job.run_id, "label": job.label})
        new_source = st.session_state.pop("lab_new_source", None)
        if new_source and job.status == "finished":
            saved_as = job.end.get("saved_as")  # the name the model got (another learner's may have taken it)
            pending["lab_source"] = f"trained:{saved_as}" if saved_as else new_source
        st.session_state.lab_pending = pending
        st.rerun()


def waiting_ui(job: jobs.TrainingJob):
    """A run waiting for its turn: how many runs are ahead, when it starts, and how to leave the line."""
    starts = next((starts for waiting, starts, _ in jobs.SHARED_LINE.waits() if waiting is job), None)
    when = "as soon as a run ahead ends" if starts is None else f"in about {charts.duration(starts)}"
    text, stop = st.columns([5, 1], vertical_alignment="center")
    text.info(
        f"Waiting in line: {job.ahead} run{'s' if job.ahead > 1 else ''} must end before yours starts "
        f"({when}). The line is shown above.",
        icon=":material/hourglass_top:",
    )
    stop.button("Leave the line", key="lab_stop", on_click=job.stop, icon=":material/stop_circle:", width="stretch",
                help="Take this run out of the line: nothing is trained or stored.")


def running_ui(job: jobs.TrainingJob):
    """A run that trains: where it is, how long is left, and Stop."""
    fraction, text = charts.progress(job.events)
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


def handful_ui(entries: list[dict], val_set):
    """A handful of validation images, each with the model's three best guesses (✓: the true class)."""
    for column, entry in zip(st.columns(len(entries)), entries):
        right = entry["top"][0][0] == entry["label"]
        column.image(plots.data_uri(plots.enlarged(val_set.images[entry["index"]])), width="stretch",
                     caption=("right: " if right else "wrong: ") + learnt.guesses_caption(entry, val_set.classes))


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
        # A run the class's time limit stopped says so (`classroom.ClassRules.time_up_message`).
        st.warning(f"Stopped: {message or 'the run is kept with the epochs it finished.'}{accuracy}",
                   icon=":material/stop_circle:")
    elif status == "cancelled":
        st.info(f"Left the line: {message}", icon=":material/block:")
    elif status == "diverged":
        st.error(f"Diverged: {message}", icon=":material/trending_up:")
    else:
        st.error(f"Failed: {message}", icon=":material/error:")


# ---------------------------------------------------------------------------------------
# 4 · Compare runs (curves, results, what they learnt), 5 · Recorded reference runs
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


def runs_csv(store: RunStore, run_ids: list[int], you: str) -> str:
    """The CSV export of the runs the learner's view shows, as it shows them (`charts.as_seen_by`),
    made only when Download is clicked."""
    export = io.StringIO()
    store.export_csv(export, run_ids=run_ids, view=functools.partial(charts.as_seen_by, you=you))
    return export.getvalue()


# The comparison starts with this many of the newest runs (the learner's own, or the class's): each in a colour
# of its own, and every one named in the legend.
COMPARED_AT_FIRST = 20


def compare_ui(store: RunStore, store_path: str, reference: dict | None, chance: float):
    """This learner's stored runs (or the whole class's) and the recorded ones on one chart,
    the results table, the CSV export, and what the runs learnt."""
    st.divider()
    st.subheader("4 · Compare runs")
    you = jobs.learner_id(learner_token())
    runs = store.runs()
    class_view = st.toggle(
        "Every learner's runs (class view)",
        key="lab_class_view",
        help="By default you see your own runs and the recorded ones; the class view adds everyone's runs on this server.",
    )
    shown = runs if class_view else [run for run in runs if run["config"].get("learner") == you]
    if not shown:
        st.info(
            "No runs of yours stored yet: train one above. Every run is kept in the run store, "
            "also after a restart" + ("; the class view shows everyone's." if runs else "."),
            icon=":material/inventory_2:",
        )
        return
    by_name = {charts.run_name(run): run for run in shown}
    # One choice of runs per view; each starts with the newest runs it shows (the learner's own, or everyone's).
    key = "lab_compare_class" if class_view else "lab_compare"
    if key not in st.session_state:
        st.session_state[key] = list(by_name)[:COMPARED_AT_FIRST]
    added = st.session_state.pop("lab_compare_add", None)
    chosen = [name for name in st.session_state[key] if name in by_name]
    if added in by_name and added not in chosen:
        chosen.append(added)
    st.session_state[key] = chosen
    picker, metric_col = st.columns([3, 1])
    picker.multiselect("Runs to overlay (labelled by strategy and settings)", list(by_name), key=key, wrap=True)
    metric_name = metric_col.radio("Curve", list(METRICS), key="lab_metric")
    with_reference = reference is not None and metric_col.checkbox(
        "with the recorded reference runs", value=True, key="lab_with_reference"
    )
    chosen_runs = [by_name[name] for name in st.session_state[key]]
    curves = charts.stored_curves(store, chosen_runs)
    if with_reference:
        curves = pd.concat([curves, charts.reference_curves(reference)], ignore_index=True)
    metric, series = METRICS[metric_name]
    statuses = charts.run_statuses(store, shown, jobs.SHARED_REGISTRY.live_run_ids())
    if curves.empty:
        st.caption("Pick runs with at least one finished epoch to see their curves.")
    else:
        st.altair_chart(
            charts.compare_chart(curves, metric, series, metric_name, chance if metric == "accuracy" else None),
            width="stretch",
            alt=f"{metric_name} of the chosen runs, epoch by epoch",
        )
    drawn = set(curves["run"])
    missing = [f"{charts.run_name(run)} ({statuses[run['id']]})" for run in chosen_runs if charts.run_name(run) not in drawn]
    if missing:
        st.caption("Not on the chart (no epoch finished): " + "; ".join(missing) + ".")
    table = charts.results_table(shown, statuses)
    if class_view:
        table.insert(1, "whose", [jobs.learner_name(run["config"].get("learner"), you) for run in shown])
    show_results(table)
    st.download_button(
        "Download the chosen runs as CSV" if chosen_runs else "Download the runs listed as CSV",
        functools.partial(runs_csv, store, [run["id"] for run in chosen_runs or shown], you),
        file_name="tl-lessons-runs.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="One row per epoch of each run, with its settings; opens in any spreadsheet.",
    )
    looked_at = [run for run in shown if run["config"].get("validation")]
    if looked_at:
        learnt_ui(store, looked_at)
        two_runs_ui(store, looked_at)


def answers_of(store: RunStore, run: dict):
    """(the run's last "predictions" event, its validation images) — None where either is missing here."""
    predictions = learnt.last_predictions(store.events(run["id"], "predictions"))
    setup = settings.stored_setup(run["config"])
    if predictions is None or setup is None:
        return None
    val_set = validation_images(json.dumps(setup.to_dict(), sort_keys=True))
    if learnt.describe_images(val_set) != run["config"]["validation"] or not learnt.fits(predictions, val_set):
        return None  # another data folder, or data changed since: its answers are about other images
    return predictions, val_set


def learnt_ui(store: RunStore, runs: list[dict]):
    """One stored run's answers: the handful with its top 3, the classes it mixes up, its accuracy per superclass."""
    st.markdown("#### What a run learnt")
    names = {charts.run_name(run): run for run in runs}
    run = names[st.selectbox("Run", list(names), key="lab_learnt_run",
                             help="Its answers after its last finished epoch, on validation images.")]
    answers = answers_of(store, run)
    if answers is None:
        st.caption("This run has no finished epoch, or its validation images are not on this computer.")
        return
    predictions, val_set = answers
    st.caption(f"After epoch {predictions['epoch']}, on the same {len(val_set):,} validation images as every run "
               "of this target and seed (the test images are kept for the one number a run reports at its end).")
    handful_ui(predictions["handful"], val_set)
    pairs, by_superclass = st.columns(2)
    pairs.markdown("**Mixed up most**")
    pairs.dataframe(pd.DataFrame(learnt.confused_pairs(predictions["predicted"], val_set)), hide_index=True,
                    width="stretch")
    rows = learnt.superclass_accuracy(predictions["predicted"], val_set)
    if rows:
        by_superclass.altair_chart(
            charts.superclass_chart(rows, learnt.chance(val_set.num_classes), "Accuracy per superclass"),
            width="stretch",
            alt="Validation accuracy per superclass",
        )


def two_runs_ui(store: RunStore, runs: list[dict]):
    """Two runs on the same validation images: which images one gets right and the other does not."""
    st.markdown("#### Two runs, image by image")
    by_name = {charts.run_name(run): run for run in runs}
    names = list(by_name)
    if len(names) < 2:
        st.caption("Train a second run on the same target to see which images each one gets right.")
        return
    a, b = st.columns(2)
    first = a.selectbox("Run A", names, index=0, key="lab_run_a")
    second = b.selectbox("Run B", names, index=1, key="lab_run_b")
    answers_a, answers_b = answers_of(store, by_name[first]), answers_of(store, by_name[second])
    if answers_a is None or answers_b is None or by_name[first]["config"]["validation"] != by_name[second]["config"]["validation"]:
        st.caption("These two runs were not validated on the same images here (another target, seed or data folder): "
                   "pick two runs of the same target and seed.")
        return
    val_set = answers_a[1]
    split = learnt.right_and_wrong(answers_a[0]["predicted"], answers_b[0]["predicted"], val_set)
    st.markdown(
        f"Of {len(val_set):,} validation images, **A alone** gets {len(split['only a']):,} right, "
        f"**B alone** {len(split['only b']):,}; both {len(split['both']):,}, neither {len(split['neither']):,}."
    )
    for kind, title in (("only a", "Right in A, wrong in B"), ("only b", "Right in B, wrong in A")):
        shown = split[kind][: learnt.HANDFUL]
        if shown:
            st.caption(f"{title} (the first {len(shown)}):")
            for column, index in zip(st.columns(learnt.HANDFUL), shown):
                column.image(plots.enlarged(val_set.images[index]), width="stretch",
                             caption=display_name(val_set.classes[int(val_set.labels[index])]))


def reference_ui(reference: dict | None, problem: str | None, chance: float):
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
        charts.compare_chart(charts.reference_curves(reference), "accuracy", "validation", "validation accuracy", chance),
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
            "It is saved in the dashboard's folder of source models and appears in the source list above."
        )
        source_sets = [name for name in sources.SOURCE_DATASETS if name.startswith("synthetic") or cifar_on_disk()[name]]
        a, b, c, d = st.columns(4)
        source_set = a.selectbox("Data", source_sets, format_func=SOURCE_DATASET_TEXT.get, key="src_data")
        available = smallest_class(source_set)
        per_class = b.number_input(
            "Images per class", value=min(5 if tiny() else 500, available - 1), step=50, key="src_per_class"
        )
        epochs = c.number_input(
            "Training epochs", value=1 if tiny() else train.PRESETS["quick"].epochs, step=1, key="src_epochs"
        )
        name = d.text_input("Name", value=sources.default_source_name(source_set, jobs.learner_id(learner_token())),
                            key="src_name")
        exists = sources.SOURCE_NAME.fullmatch(name) is not None and \
            (sources.sources_dir(store_path) / f"{name}.pt").is_file()
        replace = exists and st.checkbox(f"Yes, replace the saved source model {name}", key="src_replace")
        problems = sources.source_problems(per_class, epochs, name, available, exists=exists, replace=replace)
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
                # Saved without replacing unless the learner said yes: a model another learner saved under
                # this name while this one trained is kept, and this one gets the next free name.
                save = lambda trained, end: sources.saved_source_event(
                    sources.save_source(path, trained, train_set, config, end, replace=replace), name)
                start_job(
                    jobs.TrainingJob(
                        model,
                        train_set,
                        val_set,
                        config,
                        None,
                        label=f"source model {name} · quick · {per_class}/class",
                        run_config=sources.source_run_config(source_set, per_class, epochs, model),
                        store=run_store(store_path)[0],
                        when_finished=save,
                        learner=jobs.learner_id(learner_token()),
                        look_closer=False,
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

class_rules()  # the class's limits hold when the dashboard is opened to a class
store_path = str(default_path())
store, store_notice = run_store(store_path)
if store_notice:
    # On a class's server the sentence names the server's folders: it is for the teacher, not the class.
    why = store_notice if on_this_computer_only() else (
        "The run store on the server cannot be used: tell your teacher (the teacher page says why). "
        "Your runs still train.")
    st.warning(f"**Runs are kept in memory only, until the dashboard stops.** {why}", icon=":material/database:")
source_labels, unavailable = sources.source_choices(store_path)
target_sets = target_choices()
usable_sources = [key for key in source_labels if key not in unavailable]  # "scratch" is always usable
defaults = settings.first_setup(usable_sources[0], target_sets[0], smallest_class(target_sets[0]), tiny())
read_link(defaults, settings.link_choices(usable_sources, target_sets),
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
    settings_ui(setup, problems, source_labels, unavailable, target_sets, stages, defaults)
with right:
    trainable = preview_ui(setup, unavailable, store_path)
    train_ui(setup, bool(problems) or trainable is None, unavailable, store_path)

try:
    reference, reference_problem = reference_runs.load_reference_runs(), None
except LessonError as error:
    reference, reference_problem = None, str(error)
compare_ui(store, store_path, reference, learnt.chance(dataset(setup.target, "train", setup.classes).num_classes))
# The recorded reference runs learnt every class of their target, whichever classes are picked above.
reference_ui(reference, reference_problem, learnt.chance(dataset(setup.target, "train").num_classes))
source_model_ui(store_path, expanded="shipped" in unavailable)
remember_learner()
