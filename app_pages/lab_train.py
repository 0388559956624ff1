"""Section 3 of the transfer lab: the line of runs, the Train button, and this learner's run as it trains.

Drawn by `app_pages/transfer_lab.py`; what it says about runs comes from `tl_lessons.dashboard.lab_runs`,
and the run itself is a `dashboard.jobs.TrainingJob` (`fit` in a background thread, waiting its
turn in `jobs.SHARED_LINE`). The line and the learner's run are one fragment, `live_view`.
"""

import copy
import json

import streamlit as st

from app_pages.common import learner_code_ui, learner_token, tiny
from tl_lessons import plots, transfer_setup
from tl_lessons.dashboard import charts, jobs, lab_runs, learnt, settings
from tl_lessons.dashboard.lab import Lab
from tl_lessons.errors import LessonError, RunStoreError
from tl_lessons.runs import MEMORY, RunStore, open_store
from tl_lessons.transfer_setup import TransferSetup

# ---------------------------------------------------------------------------------------
# Cached building blocks: the run store, and a setup prepared for training
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


@st.cache_resource(max_entries=4, show_spinner="Preparing the data and the model…")
def prepared(setup_json: str, version: float):
    """`transfer_setup.prepare` for a setup, cached: pressing Train again starts at once.

    `version` (the source file's modification time, `sources.source_version`) makes a source trained
    again under the same name load again, as the preview's `target_model` does.
    """
    return transfer_setup.prepare(TransferSetup(**json.loads(setup_json)))


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


def press_train(lab: Lab):
    """The Train button's callback: prepare the setup the widgets hold now and start its run.

    A callback runs before the page is drawn again, so the page that follows the click already
    shows the run (and Train disabled). The setup is read from the widgets here, not passed in
    from the drawing before the click, which may be older than what the learner sees.
    """
    if job_running():
        return
    setup = settings.setup_in_widgets(st.session_state, tiny())
    try:
        run_setup, run_config = lab.ready_to_train(setup)
        # What Train does: the setup prepared once (cached), then fit in a background thread.
        model, strategy, train_set, val_set, config = prepared(json.dumps(run_setup.to_dict(), sort_keys=True),
                                                              lab.source_version(setup))
        start_job(
            jobs.TrainingJob(
                copy.deepcopy(model),
                train_set,
                val_set,
                config,
                copy.deepcopy(strategy),
                label=run_setup.label(),
                run_config=run_config,
                store=run_store(lab.store_path)[0],
                learner=jobs.learner_id(learner_token()),
            )
        )
    except LessonError as error:
        st.session_state.lab_train_error = str(error)


def train_ui(lab: Lab, setup: TransferSetup, blocked: bool):
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
        args=(lab,),
    )
    if blocked:
        note_col.caption("Fix the settings marked in red first.")
    elif job_running():
        note_col.caption("A run of yours is in progress: stop it or wait for it to end.")
    else:
        note_col.caption(f"The run will be saved as *{lab.run_setup(setup).label()}*.")
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
        st.caption(lab_runs.empty_line(slots))
        return
    st.markdown(lab_runs.line_heading(slots))
    st.dataframe(charts.line_table(line, slots, you), hide_index=True, width="stretch")
    shown = st.session_state.get("lab_job")
    for job, _, _ in line:  # the learner's other runs (from another tab): each can be stopped from here too
        if job.learner == you and job is not shown:
            label, stop = st.columns([4, 1], vertical_alignment="center")
            label.caption(f"Also yours: {job.label}")
            stop.button("Stop it", key=f"lab_stop_other_{id(job)}", on_click=job.stop, icon=":material/stop_circle:")


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
    if job.status == "waiting" or any(event["kind"] in lab_runs.TRAINING_POINTS for event in job.events):
        job.poll()
    else:  # just started: its first training points are a moment away, and worth drawing in this redraw
        job.poll_until(lab_runs.TRAINING_POINTS, timeout=lab_runs.FIRST_POINT_WAIT_S)
    st.markdown(f"**Run:** {job.label}" + (f" (run #{job.run_id})" if job.run_id else ""))
    notice = lab_runs.latest_store_notice(job.events)
    if notice:
        shown = st.success if notice.get("store_state") == "stored" else st.warning
        shown(notice["store_notice"], icon=":material/database:")
    if job.done:
        kind, icon, text = lab_runs.end_message(job.end)
        getattr(st, kind)(text, icon=icon)
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
            st.caption(lab_runs.mixed_up(pairs))
    if job.done and not st.session_state.get("lab_job_reported"):
        # Once, when the run ends: refresh the whole page so the comparison lists the new run.
        st.session_state.lab_job_reported = True
        st.session_state.lab_pending = lab_runs.after_the_run(job.run_id, job.label, job.end,
                                                              st.session_state.pop("lab_new_source", None))
        st.rerun()


def waiting_ui(job: jobs.TrainingJob):
    """A run waiting for its turn: how many runs are ahead, when it starts, and how to leave the line."""
    starts = next((starts for waiting, starts, _ in jobs.SHARED_LINE.waits() if waiting is job), None)
    text, stop = st.columns([5, 1], vertical_alignment="center")
    text.info(lab_runs.waiting_message(job.ahead, starts), icon=":material/hourglass_top:")
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
