"""Sections 4 and 5 of the transfer lab: the stored runs compared, what they learnt, and the recorded reference runs.

Drawn by `app_pages/transfer_lab.py`; which runs are compared and what is said about them comes
from `tl_lessons.dashboard.lab_runs`, the charts and tables from `dashboard.charts`, and what a
run learnt from `dashboard.learnt`.
"""

import functools
import json

import pandas as pd
import streamlit as st

from app_pages.common import learner_token
from app_pages.lab_train import handful_ui
from tl_lessons import plots, reference_file, transfer_setup
from tl_lessons.dashboard import charts, jobs, lab_runs, learnt
from tl_lessons.runs import RunStore
from tl_lessons.transfer_setup import TransferSetup
from tl_lessons.vocabulary import display_name


@st.cache_resource(max_entries=8, show_spinner="Reading the validation images…")
def validation_images(setup_json: str):
    """The validation images of a stored run's setup (`transfer_setup.load_target`), to show its answers on."""
    return transfer_setup.load_target(TransferSetup(**json.loads(setup_json)))[1]


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


def compare_ui(store: RunStore, reference: dict | None, chance: float):
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
    shown = lab_runs.runs_shown(runs, you, class_view)
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
    st.session_state[key] = lab_runs.runs_compared(st.session_state.get(key), list(by_name),
                                                   st.session_state.pop("lab_compare_add", None))
    picker, metric_col = st.columns([3, 1])
    picker.multiselect("Runs to overlay (labelled by strategy and settings)", list(by_name), key=key, wrap=True)
    metric_name = metric_col.radio("Curve", list(lab_runs.METRICS), key="lab_metric")
    with_reference = reference is not None and metric_col.checkbox(
        "with the recorded reference runs", value=True, key="lab_with_reference"
    )
    chosen_runs = [by_name[name] for name in st.session_state[key]]
    curves = charts.stored_curves(store, chosen_runs)
    if with_reference:
        curves = pd.concat([curves, charts.reference_curves(reference)], ignore_index=True)
    metric, series = lab_runs.METRICS[metric_name]
    statuses = charts.run_statuses(store, shown, jobs.SHARED_REGISTRY.live_run_ids())
    if curves.empty:
        st.caption("Pick runs with at least one finished epoch to see their curves.")
    else:
        st.altair_chart(
            charts.compare_chart(curves, metric, series, metric_name, chance if metric == "accuracy" else None),
            width="stretch",
            alt=f"{metric_name} of the chosen runs, epoch by epoch",
        )
    missing = lab_runs.not_on_chart(chosen_runs, set(curves["run"]), statuses)
    if missing:
        st.caption("Not on the chart (no epoch finished): " + "; ".join(missing) + ".")
    table = charts.results_table(shown, statuses)
    if class_view:
        table.insert(1, "whose", [jobs.learner_name(run["config"].get("learner"), you) for run in shown])
    show_results(table)
    st.download_button(
        "Download the chosen runs as CSV" if chosen_runs else "Download the runs listed as CSV",
        functools.partial(lab_runs.runs_csv, store, [run["id"] for run in chosen_runs or shown], you),
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
    return lab_runs.stored_answers(
        store, run, lambda setup: validation_images(json.dumps(setup.to_dict(), sort_keys=True)))


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
    st.markdown(lab_runs.right_in_one(len(val_set), split))
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
            f"(`{reference_file.REFERENCE_RUNS.name}` is missing): they are recorded with `make reference-runs`.",
            icon=":material/history:",
        )
        return
    st.markdown(
        "Curves of the main strategies, **recorded** ahead of time so you can compare without waiting "
        f"(dashed in the comparison above). {reference_file.reference_provenance(reference)}"
    )
    st.altair_chart(
        charts.compare_chart(charts.reference_curves(reference), "accuracy", "validation", "validation accuracy", chance),
        width="stretch",
        alt="Validation accuracy of the recorded reference runs",
    )
    show_results(charts.reference_table(reference))
