"""The dashboard's helpers without Streamlit: links, checks, chart tables, background training."""

import dataclasses
import json
import time

import pytest
import torch

from tl_lessons import dashboard, models, train
from tl_lessons.checkpoints import load_checkpoint
from tl_lessons.errors import LessonError
from tl_lessons.experiments import TransferSetup
from tl_lessons.runs import RunStore
from tl_lessons.synthetic import make_synthetic

STAGES = ["stem", "stage1", "stage2", "stage3", "head"]
CHOICES = {
    "source": ("shipped", "scratch"),
    "target": dashboard.TARGETS,
    "strategy": ("linear_probe", "freeze", "scratch"),
    "bn": ("eval", "train"),
    "batch_size": dashboard.BATCH_SIZES,
}


def problems(setup):
    return dashboard.setup_problems(setup, STAGES, available_per_class=5)


# ---------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------


def test_a_setup_survives_the_round_trip_through_a_link():
    setup = TransferSetup(
        source="shipped",
        target="synthetic100",
        per_class=3,
        fraction=None,
        strategy="freeze",
        k=2,
        bn="train",
        lr=0.02,
        epochs=4,
        batch_size=64,
        seed=7,
    )
    query = dashboard.setup_to_query(setup)
    assert query["strategy"] == "freeze" and query["k"] == "2" and query["lr"] == "0.02"
    assert "fraction" not in query and "head_epochs" not in query  # only the freeze options
    back, notices = dashboard.setup_from_query(query, TransferSetup(per_class=5), CHOICES, problems)
    assert back == setup
    assert notices == []


def test_a_link_with_a_label_fraction_clears_images_per_class():
    back, notices = dashboard.setup_from_query({"fraction": "0.25"}, TransferSetup(per_class=5), CHOICES, problems)
    assert (back.per_class, back.fraction) == (None, 0.25)
    assert notices == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"lr": "abc"}, "lr"),
        ({"lr": "-1"}, "lr"),
        ({"lr": "nan"}, "lr"),
        ({"epochs": "2.5"}, "epochs"),
        ({"strategy": "bogus"}, "strategy"),
        ({"source": "/etc/passwd"}, "source"),
        ({"strategy": "freeze", "k": "9"}, "k"),
        ({"per_class": "50"}, "per_class"),
        ({"batch_size": "3"}, "batch_size"),
    ],
)
def test_an_invalid_value_in_a_link_falls_back_to_its_default_with_a_notice(params, field):
    defaults = TransferSetup(per_class=5, k=1)
    setup, notices = dashboard.setup_from_query(params, defaults, CHOICES, problems)
    assert getattr(setup, field) == getattr(defaults, field)
    assert len(notices) == 1 and f"{field}=" in notices[0] and "default" in notices[0]
    assert problems(setup) == {}


def test_unknown_settings_in_a_link_are_named_and_ignored():
    setup, notices = dashboard.setup_from_query(
        {"colour": "red", "lr": "0.1"}, TransferSetup(per_class=5), CHOICES, problems
    )
    assert setup.lr == 0.1
    assert notices == ["Ignored the unknown setting 'colour' in the link."]


# ---------------------------------------------------------------------------------------
# Checks beside the widgets
# ---------------------------------------------------------------------------------------


def test_a_sensible_setup_has_no_problems():
    assert problems(TransferSetup(per_class=5, strategy="freeze", k=4)) == {}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"strategy": "freeze", "k": 5}, "k", "between 0 and 4"),
        ({"strategy": "freeze", "k": -1}, "k", "between 0 and 4"),
        ({"source": "scratch", "strategy": "linear_probe"}, "strategy", "from scratch"),
        ({"per_class": 6}, "per_class", "at most 5"),
        ({"per_class": 0}, "per_class", "at least one"),
        ({"per_class": None, "fraction": 1.5}, "fraction", "at most 1"),
        ({"lr": 0.0}, "lr", "above 0"),
        ({"epochs": 0}, "epochs", "1 to"),
        ({"strategy": "head_first", "head_epochs": 8, "epochs": 8}, "head_epochs", "1 to 7"),
        ({"strategy": "discriminative", "stage_decay": 0.0}, "stage_decay", "above 0"),
        ({"strategy": "gradual", "unfreeze_every": 0}, "unfreeze_every", "every 1"),
    ],
)
def test_each_invalid_option_gets_a_message_for_its_own_widget(changes, field, words):
    found = problems(dataclasses.replace(TransferSetup(per_class=5), **changes))
    assert list(found) == [field]
    assert words in found[field]


def test_an_unavailable_source_says_why():
    found = dashboard.setup_problems(
        TransferSetup(per_class=5, source="imagenet"), STAGES, 5, {"imagenet": "ImageNet weights need the network."}
    )
    assert found == {"source": "ImageNet weights need the network."}


# ---------------------------------------------------------------------------------------
# Chart and table data
# ---------------------------------------------------------------------------------------


def events_of_a_run():
    return [
        {"kind": "start", "total_steps": 20, "epochs": 2},
        {"kind": "step", "step": 1, "epoch": 1, "loss": 4.6, "elapsed": 0.1},
        {"kind": "step", "step": 5, "epoch": 1, "loss": 4.0, "elapsed": 0.5},
        {
            "kind": "epoch",
            "epoch": 1,
            "train_loss": 4.1,
            "train_acc": 0.1,
            "val_loss": 4.2,
            "val_acc": 0.08,
            "elapsed": 1.0,
        },
        {"kind": "step", "step": 15, "epoch": 2, "loss": float("inf"), "elapsed": 1.5},
    ]


def test_live_curves_put_steps_and_epochs_on_one_epoch_axis():
    frame = dashboard.live_curves(events_of_a_run())
    steps = frame[frame.series == "train (steps)"]
    assert steps.epoch.tolist() == [0.1, 0.5]  # 10 steps per epoch; the inf loss is left out
    validation = frame[(frame.series == "validation") & (frame.metric == "accuracy")]
    assert validation.epoch.tolist() == [1.0] and validation.value.tolist() == [0.08]
    assert set(frame.metric) == {"loss", "accuracy"}


def test_live_curves_thin_out_long_runs():
    events = [{"kind": "start", "total_steps": 5000, "epochs": 1}]
    events += [{"kind": "step", "step": s, "epoch": 1, "loss": 1.0, "elapsed": s} for s in range(1, 5001)]
    frame = dashboard.live_curves(events)
    assert 0 < len(frame) <= dashboard.MAX_STEP_POINTS


def test_progress_says_where_the_run_is_and_how_long_is_left():
    fraction, text = dashboard.progress(events_of_a_run()[:3])
    assert fraction == 0.25
    assert text == "epoch 1 of 2 · step 5 of 20 · about 2 s left"
    assert dashboard.progress([])[0] == 0.0
    fraction, text = dashboard.progress(
        [
            {"kind": "start", "total_steps": 20, "epochs": 2},
            {"kind": "features", "split": "train", "done": 500, "total": 1000},
        ]
    )
    assert fraction == 0.0 and "500 of 1,000" in text


def test_stored_runs_become_curves_and_a_results_table(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.start({"strategy": "freeze", "target": "synthetic100", "trainable_params": 1234}, "freeze k=2")
    for event in events_of_a_run():
        if event["kind"] in ("step", "epoch"):
            store.log(run_id, event)
    store.finish(run_id, "stopped", {"val_acc": 0.08, "best_val_acc": 0.08, "elapsed": 1.6})
    runs = store.runs()
    curves = dashboard.stored_curves(store, runs)
    assert set(curves.run) == {f"#{run_id} freeze k=2"}
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == [0.08]
    table = dashboard.results_table(runs)
    assert table.iloc[0].to_dict() == {
        "run": f"#{run_id} freeze k=2",
        "strategy": "freeze",
        "target": "synthetic100",
        "status": "stopped",
        "final val acc": 0.08,
        "best val acc": 0.08,
        "seconds": 1.6,
        "trainable params": 1234,
    }


REFERENCE = {
    "recorded_with": "python -m tl_lessons reference-runs",
    "data": "CIFAR-100, 10 images per class",
    "machine": "2 cores",
    "runs": [
        {
            "label": "linear probe",
            "strategy": "linear_probe",
            "config": {"target": "cifar100"},
            "epochs": [
                {"epoch": 1, "train_loss": 4.0, "val_loss": 4.1, "train_acc": 0.1, "val_acc": 0.12, "elapsed": 3.0},
                {"epoch": 2, "train_loss": 3.0, "val_loss": 3.5, "train_acc": 0.2, "val_acc": 0.18, "elapsed": 6.0},
            ],
            "final_val_acc": 0.18,
            "best_val_acc": 0.18,
            "seconds": 6.0,
            "trainable_params": 25700,
        }
    ],
}


def test_reference_runs_are_labelled_recorded(tmp_path):
    path = tmp_path / "reference_runs.json"
    path.write_text(json.dumps(REFERENCE))
    reference = dashboard.load_reference_runs(path)
    curves = dashboard.reference_curves(reference)
    assert set(curves.run) == {"recorded: linear probe"} and curves.recorded.all()
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == [0.12, 0.18]
    table = dashboard.reference_table(reference)
    assert table.iloc[0]["status"] == "recorded" and table.iloc[0]["best val acc"] == 0.18


def test_reference_provenance_says_what_the_file_says():
    assert dashboard.reference_provenance(REFERENCE) == (
        "Data: CIFAR-100, 10 images per class. Recorded on 2 cores by `python -m tl_lessons reference-runs`."
    )
    assert dashboard.reference_provenance({"recorded": "2026-11-21", "torch": "2.15"}) == (
        "Recorded on 2026-11-21 with torch 2.15."
    )
    assert dashboard.reference_provenance({}) == "The file does not say where its runs come from."


def test_missing_or_broken_reference_runs(tmp_path):
    assert dashboard.load_reference_runs(tmp_path / "none.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LessonError, match="make reference-runs"):
        dashboard.load_reference_runs(broken)


def test_live_charts_are_a_fixed_spec_plus_the_rows_of_their_metric():
    spec = dashboard.curve_spec("loss", "Loss")
    assert spec["config"]["axis"]["labelFontSize"] >= 14  # readable on a projector
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["train (steps)", "train", "validation"]
    assert "data" not in spec and "datasets" not in spec
    spec["title"] = "changed"
    assert dashboard.curve_spec("loss", "Loss")["title"] == "Loss"  # each caller gets its own copy
    rows = dashboard.curve_rows(dashboard.live_curves(events_of_a_run()), "accuracy")
    assert set(rows.metric) == {"accuracy"} and len(rows) == 2


# ---------------------------------------------------------------------------------------
# Source models trained in the dashboard
# ---------------------------------------------------------------------------------------


def test_trained_sources_are_named_by_file_and_never_by_path(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    model, train_set, val_set, config = dashboard.source_training("synthetic10", per_class=3, epochs=1)
    assert len(train_set) == 30 and train_set.name == "synthetic10"
    dashboard.save_source(dashboard.sources_dir(store_path) / "mine.pt", model, train_set, config, {"val_acc": 0.5})
    assert list(dashboard.trained_sources(store_path)) == ["trained:mine"]
    path = dashboard.experiment_source("trained:mine", store_path)
    loaded, meta = load_checkpoint(path)
    assert meta["arch"] == config.arch and meta["num_classes"] == 10 and meta["metrics"]["val_acc"] == 0.5
    assert dashboard.experiment_source("shipped", store_path) == "shipped"


# ---------------------------------------------------------------------------------------
# Training in the background
# ---------------------------------------------------------------------------------------


def tiny_job(tmp_path, epochs=1, line=None, num_classes=10):
    train_set = make_synthetic(10, "train", n_per_class=4)
    val_set = make_synthetic(10, "test", n_per_class=2)
    torch.manual_seed(0)
    model = models.build_model("fastnet", num_classes)
    config = dataclasses.replace(train.PRESETS["quick"], epochs=epochs, batch_size=8, log_every_steps=1)
    return dashboard.TrainingJob(
        model,
        train_set,
        val_set,
        config,
        None,
        "tiny",
        {"strategy": "scratch"},
        store_path=tmp_path / "runs.sqlite",
        line=line or dashboard.TrainingLine(),
        threads=1,
    )


def wait_until_done(job, seconds=60):
    deadline = time.monotonic() + seconds
    while not job.done and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.05)
    assert job.done, "the job did not end in time"


def test_a_job_trains_in_the_background_and_is_stored(tmp_path):
    job = tiny_job(tmp_path, epochs=2).start()
    wait_until_done(job)
    kinds = [e["kind"] for e in job.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    assert job.status == "finished" and job.first_point_seconds is not None
    stored = RunStore(tmp_path / "runs.sqlite").get(job.run_id)
    assert stored["status"] == "finished" and stored["label"] == "tiny"
    assert len(RunStore(tmp_path / "runs.sqlite").events(job.run_id, "epoch")) == 2


def test_stop_halts_a_job_and_keeps_the_partial_run(tmp_path):
    """How fast it halts is the benchmark's business (`bench --only app`); here: that it does."""
    job = tiny_job(tmp_path, epochs=200).start()
    while not any(e["kind"] == "epoch" for e in job.events):
        job.poll()
        time.sleep(0.02)
    job.stop()
    wait_until_done(job, seconds=60)
    assert job.status == "stopped"
    stored = RunStore(tmp_path / "runs.sqlite").get(job.run_id)
    assert stored["status"] == "stopped"
    assert 1 <= stored["results"]["epochs"] < 200


def test_measure_stop_latency_stops_mid_run_and_times_it():
    measured = dashboard.measure_stop_latency(dataset="synthetic10", per_class=10, repeats=2, stop_after=0.0)
    assert len(measured["stop_runs_s"]) == 2 and measured["stop_s"] == max(measured["stop_runs_s"]) > 0


def test_jobs_wait_in_line_and_show_their_position(tmp_path):
    line = dashboard.TrainingLine(slots=1)
    first = tiny_job(tmp_path, epochs=200, line=line).start()
    second = tiny_job(tmp_path, epochs=1, line=line).start()
    third = tiny_job(tmp_path, epochs=1, line=line).start()
    time.sleep(0.3)
    assert (first.position, second.position, third.position) == (0, 1, 2)
    assert second.status == "waiting"
    third.stop()  # leaving the line before its turn: nothing trained, nothing stored
    wait_until_done(third, seconds=5)
    assert third.status == "stopped" and third.run_id is None
    assert second.position == 1
    first.stop()
    wait_until_done(first)
    wait_until_done(second)
    assert second.status == "finished"
    # The second run only started after the first had ended: never two at once.
    store = RunStore(tmp_path / "runs.sqlite")
    assert store.get(second.run_id)["created"] >= store.get(first.run_id)["ended"]


def test_a_lesson_error_ends_the_job_as_failed_with_its_message(tmp_path):
    job = tiny_job(tmp_path, num_classes=3).start()  # 3 outputs for 10 classes: fit refuses it
    wait_until_done(job)
    assert job.status == "failed"
    assert job.end["message"] and "Traceback" not in job.end["message"]


def test_when_finished_runs_after_a_finished_run(tmp_path):
    seen = []
    job = tiny_job(tmp_path)
    job.when_finished = lambda model, end: seen.append((model is job.model, end["status"]))
    wait_until_done(job.start())
    assert seen == [(True, "finished")]


def test_measure_overhead_times_the_same_run_headless_and_watched():
    measured = dashboard.measure_overhead(dataset="synthetic10", per_class=10, epochs=2, repeats=1)
    assert len(measured["headless_runs_s"]) == len(measured["app_runs_s"]) == 1
    assert measured["overhead"] == pytest.approx(measured["app_s"] / measured["headless_s"] - 1)
    # The figures themselves are the benchmark's to judge (`bench --only app`); here, that they exist.
    assert 0 < measured["first_point_s"] < 60
    assert measured["page_cpu_share"] > 0
