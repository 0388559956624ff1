"""Teacher: the class's runs in one place, and the teacher in charge of them.

Opened with the token `make app` prints in the teacher's terminal (never shown on a learner's
page). The teacher sees every run of the server, stops or removes any of them, pauses new runs,
and sets the class's rules: how many runs train at once, and each run's limits of size and time
(`tl_lessons.dashboard.classroom`). The rules hold for the server process: a restart brings back
the defaults.
"""

import pandas as pd
import streamlit as st

from app_pages.common import class_rules
from tl_lessons.dashboard import charts, classroom, jobs
from tl_lessons.errors import LessonError
from tl_lessons.runs import default_path, open_store

# The teacher's view of the line is looked at again this often (a few people at most open this page).
REFRESH_S = 2.0


def signed_in() -> bool:
    """Whether this browser session has shown the teacher's token (by the form, or once in the URL)."""
    given = st.query_params.get("token")
    if given is not None:
        # Read once, then out of the address bar: a projector must not show it.
        del st.query_params["token"]
        if classroom.is_teacher(given):
            st.session_state.teacher = True
    return bool(st.session_state.get("teacher"))


def sign_in_ui():
    """The token form; a wrong token says so, and nothing else of the page is drawn."""
    with st.form("teacher_sign_in"):
        token = st.text_input("Teacher token", type="password", key="teacher_token",
                              help="`make app` printed it in the terminal where the dashboard started.")
        if st.form_submit_button("Open the teacher page", key="teacher_open"):
            if classroom.is_teacher(token):
                st.session_state.teacher = True
                st.rerun()
            st.error("That is not the teacher token of this server: copy it again from the terminal where "
                     "`make app` started the dashboard.", icon=":material/key_off:")


def rules_ui():
    """The class's rules, changed together with one button."""
    rules, line = class_rules(), jobs.SHARED_LINE
    if not rules.limited:
        st.info("This dashboard listens to this computer only, so runs have no size or time limit here; the "
                "limits below hold once it is opened to a class (`make app ADDRESS=...`).", icon=":material/info:")
    with st.form("teacher_rules"):
        left, middle, right = st.columns(3)
        slots = left.number_input("Runs that train at once", key="teacher_slots", min_value=1, max_value=64, value=line.slots,
                                  help="More than the cores can hold makes every run slower, not the class faster.")
        minutes = middle.number_input("Training time per run (minutes)", key="teacher_minutes", min_value=0.1, max_value=24 * 60.0,
                                      value=float(rules.max_minutes), step=0.5,
                                      help="A run that reaches it stops, keeping its curve.")
        size = right.number_input("Size per run (epochs × images)", key="teacher_size", min_value=1, value=int(rules.max_image_epochs),
                                  step=1000, help="A bigger run is refused when the learner presses Train.")
        paused = st.toggle("Pause new runs", key="teacher_paused", value=rules.paused,
                           help="Runs in the line go on; nobody can add one until you switch this off.")
        if st.form_submit_button("Apply to the class", key="teacher_apply"):
            try:
                line.set_slots(int(slots))
                rules.change(max_minutes=float(minutes), max_image_epochs=int(size), paused=paused)
            except (LessonError, ValueError) as error:
                st.error(str(error), icon=":material/block:")
            else:
                st.success("The class's rules are changed; runs already training keep theirs until they end.",
                           icon=":material/check_circle:")


def runs_ui():
    """Every run of the server, with a button to stop (or take out of the line) each that has not ended."""
    every = jobs.SHARED_REGISTRY.every()
    for job in every:
        job.poll()
    if classroom.SHARED_RULES.paused:
        st.warning("New runs are paused: learners who press Train are told to wait.", icon=":material/pause_circle:")
    line = jobs.SHARED_LINE.waits()
    if line:
        st.markdown(f"**The line** — {jobs.SHARED_LINE.slots} train{'s' if jobs.SHARED_LINE.slots == 1 else ''} "
                    "at once:")
        st.dataframe(charts.line_table(line, jobs.SHARED_LINE.slots), hide_index=True, width="stretch")
    else:
        st.caption("Nobody is training or waiting now.")
    if not every:
        st.caption("No runs since the dashboard started.")
        return
    st.markdown("**Every run since the dashboard started** (learners by the start of their id):")
    st.dataframe(pd.DataFrame(classroom.every_run(every)), hide_index=True, width="stretch")
    for job in every:
        if job.status in ("running", "waiting"):
            text, button = st.columns([4, 1], vertical_alignment="center")
            text.caption(f"{job.status.capitalize()}: {job.label} — learner {(job.learner or '?')[:4]}")
            button.button("Stop" if job.status == "running" else "Take out of the line", key=f"teacher_stop_{id(job)}",
                          on_click=jobs.SHARED_LINE.remove, args=(job,), icon=":material/stop_circle:")


st.title("Teacher")
if classroom.teacher_token() is None:
    st.info(
        "Nobody is the teacher on this server: it was started without a teacher token. Start it with "
        "`make app` (it prints a token in its terminal), or set `TL_LESSONS_TEACHER_TOKEN` and restart it.",
        icon=":material/school:",
    )
elif not signed_in():
    sign_in_ui()
else:
    _, store_problem = open_store(default_path())
    if store_problem:  # learners' pages only say "tell your teacher"; the teacher gets the reason
        st.error(f"**The class's runs are kept in memory only.** {store_problem}", icon=":material/database:")
    st.subheader("The class's rules")
    rules_ui()
    st.subheader("Runs")
    st.fragment(runs_ui, run_every=REFRESH_S)()
    if st.button("Sign out of the teacher page", key="teacher_sign_out", icon=":material/logout:"):
        st.session_state.teacher = False
        st.rerun()
