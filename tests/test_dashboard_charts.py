"""Charts and tables of runs: live curves, stored and recorded runs on one axis, results, the progress line."""

import json
import os

import pandas as pd
import pytest

from tl_lessons.dashboard import charts
from tl_lessons.runs import RunStore


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


STARTING_POINT = {"kind": "starting_point", "epoch": 0, "val_loss": 4.61, "val_acc": 0.01, "images": 500,
                  "chance": 0.01}


def test_live_curves_put_steps_and_epochs_on_one_epoch_axis():
    frame = charts.live_curves(events_of_a_run())
    steps = frame[frame.series == "train (steps)"]
    assert steps.epoch.tolist() == [0.1, 0.5]  # 10 steps per epoch; the inf loss is left out
    validation = frame[(frame.series == "validation") & (frame.metric == "accuracy")]
    assert validation.epoch.tolist() == [1.0] and validation.value.tolist() == [0.08]
    assert set(frame.metric) == {"loss", "accuracy"}


def test_the_starting_point_is_the_first_validation_point_at_epoch_zero():
    events = events_of_a_run()
    events.insert(1, STARTING_POINT)
    validation = charts.live_curves(events).query("series == 'validation'")
    assert validation.query("metric == 'accuracy'").value.tolist() == [0.01, 0.08]
    assert validation.epoch.tolist()[0] == 0
    assert charts.chance_of(events) == 0.01 and charts.chance_of(events_of_a_run()) is None


def test_live_curves_thin_out_long_runs():
    events = [{"kind": "start", "total_steps": 5000, "epochs": 1}]
    events += [{"kind": "step", "step": s, "epoch": 1, "loss": 1.0, "elapsed": s} for s in range(1, 5001)]
    frame = charts.live_curves(events)
    assert 0 < len(frame) <= charts.MAX_STEP_POINTS


def test_progress_says_where_the_run_is_and_how_long_is_left():
    fraction, text = charts.progress(events_of_a_run()[:3])
    assert fraction == 0.25
    assert text == "epoch 1 of 2 · step 5 of 20 · about 2 s left"  # 0.4 s for 4 steps: 15 more take 1.5 s
    fraction, text = charts.progress(events_of_a_run()[:2])
    assert text == "epoch 1 of 2 · step 1 of 20 · timing the first steps…"  # one step says nothing of the pace


def test_the_time_left_comes_from_the_steps_pace_not_from_computing_features_first():
    events = [
        {"kind": "start", "total_steps": 400, "epochs": 8},
        {"kind": "features", "split": "val", "done": 10000, "total": 10000, "elapsed": 60.0},
        {"kind": "step", "step": 1, "epoch": 1, "loss": 4.6, "elapsed": 60.05},
        {"kind": "step", "step": 101, "epoch": 2, "loss": 3.0, "elapsed": 65.05},
    ]
    # 5 s for 100 steps: 299 more take about 15 s (not the hours that 65 s for 101 steps would suggest).
    assert charts.progress(events)[1] == "epoch 2 of 8 · step 101 of 400 · about 15 s left"
    assert charts.progress([])[0] == 0.0
    fraction, text = charts.progress(
        [
            {"kind": "start", "total_steps": 20, "epochs": 2},
            {"kind": "features", "split": "train", "done": 500, "total": 1000},
        ]
    )
    assert fraction == 0.0 and "training images: 500 of 1,000" in text


def test_stored_runs_become_curves_and_a_results_table(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.start({"strategy": "freeze", "target": "synthetic100", "trainable_params": 1234}, "freeze k=2")
    for event in events_of_a_run():
        if event["kind"] in ("step", "epoch"):
            store.log(run_id, event)
    store.finish(run_id, "stopped", {"val_acc": 0.08, "best_val_acc": 0.08, "elapsed": 1.6})
    store.log(run_id, STARTING_POINT)
    runs = store.runs()
    curves = charts.stored_curves(store, runs)
    assert set(curves.run) == {f"#{run_id} freeze k=2"}
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == [0.01, 0.08]
    table = charts.results_table(runs)
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


def test_reference_runs_are_labelled_recorded():
    curves = charts.reference_curves(REFERENCE)
    assert set(curves.run) == {"recorded: linear probe"} and curves.recorded.all()
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == [0.12, 0.18]
    table = charts.reference_table(REFERENCE)
    assert table.iloc[0]["status"] == "recorded" and table.iloc[0]["best val acc"] == 0.18


def test_a_setting_recorded_with_several_seeds_is_one_mean_curve_and_other_sweeps_are_left_out():
    def run(seed, accs, sweep="comparison", label="finetune · lr 0.3"):
        return {"label": label, "strategy": "finetune", "sweep": sweep, "config": {"target": "cifar100", "seed": seed},
                "epochs": [{"epoch": i + 1, "train_loss": 4.0, "val_loss": 4.0, "train_acc": 0.1, "val_acc": a}
                           for i, a in enumerate(accs)],
                "final_val_acc": accs[-1], "best_val_acc": max(accs), "seconds": 10.0 + seed}
    reference = {"runs": [run(0, [0.1, 0.2]), run(1, [0.3, 0.4]), run(0, [0.9, 0.9], sweep="labels", label="other")]}
    curves = charts.reference_curves(reference)
    assert set(curves.run) == {"recorded: finetune · lr 0.3 (mean of 2 seeds)"}
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == pytest.approx([0.2, 0.3])
    table = charts.reference_table(reference)
    assert len(table) == 1 and table.iloc[0]["final val acc"] == pytest.approx(0.3)
    assert table.iloc[0]["seconds"] == pytest.approx(10.5)


def test_live_charts_are_a_fixed_spec_plus_the_rows_of_their_metric():
    spec = charts.curve_spec("loss", "Loss")
    assert spec["config"]["axis"]["labelFontSize"] >= 14  # readable on a projector
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["train (steps)", "train", "validation"]
    assert spec["layer"][0]["encoding"]["color"]["legend"]["labelLimit"] == 0  # "validation", never "validatio"
    assert "data" not in spec and "datasets" not in spec
    spec["title"] = "changed"
    assert charts.curve_spec("loss", "Loss")["title"] == "Loss"  # each caller gets its own copy
    rows = charts.curve_rows(charts.live_curves(events_of_a_run()), "accuracy")
    assert set(rows.metric) == {"accuracy"} and len(rows) == 2


def test_live_axes_read_as_numbers_and_span_the_whole_run_with_a_chance_line():
    loss = charts.curve_spec("loss", "Loss", epochs=8)
    accuracy = charts.curve_spec("accuracy", "Accuracy", epochs=8, chance=0.01)
    assert loss["layer"][0]["encoding"]["y"]["axis"]["format"] == ".3~g"  # 4.6, not 4.599399
    assert accuracy["layer"][0]["encoding"]["y"]["axis"]["format"] == ".1~%"  # 1.2%, not 0.000000%
    assert accuracy["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 8]
    rule, label = accuracy["layer"][-2:]
    assert rule["mark"]["type"] == "rule" and rule["data"]["values"] == [{"chance": 0.01}]
    assert label["mark"]["text"] == "chance = 1%"
    assert len(loss["layer"]) == 2  # no chance line on a loss chart


def test_every_run_gets_a_colour_of_its_own_and_a_line_in_the_legend():
    names = [f"#{i} run" for i in range(40)]
    colours = charts.run_colours(names)
    assert len(set(colours.values())) == 40
    assert list(colours.values())[:10] == charts.FIRST_COLOURS
    frame = pd.DataFrame([{"run": name, "epoch": 1, "metric": "accuracy", "series": "validation", "value": 0.1,
                           "recorded": False} for name in names[:14]])
    spec = charts.compare_chart(frame, "accuracy", "validation", "validation accuracy", chance=0.01).to_dict()
    lines = spec["layer"][0]
    colour = lines["encoding"]["color"]
    assert colour["scale"]["domain"] == names[:14] and len(set(colour["scale"]["range"])) == 14
    assert colour["legend"]["symbolLimit"] == 0 and colour["legend"]["labelLimit"] == 0  # all 14, in full
    assert "chance = 1%" in json.dumps(spec)


def test_a_run_that_ended_before_its_first_epoch_says_at_which_step(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    diverged = store.start({"strategy": "finetune"}, "finetune lr 100")
    store.log(diverged, {"kind": "step", "step": 12, "epoch": 1, "loss": float("inf"), "elapsed": 0.5})
    store.finish(diverged, "diverged", {"epochs": 0})
    lost = store.start({"strategy": "finetune"}, "lost")  # running in this process, but no job trains it
    runs = store.runs()
    statuses = charts.run_statuses(store, runs, live_run_ids=set())
    assert statuses[diverged] == "diverged at step 12"
    assert statuses[lost] == "interrupted before its first step"
    assert charts.run_statuses(store, runs, live_run_ids={lost})[lost] == "running"
    table = charts.results_table(runs, statuses)
    assert table.set_index("run").loc[f"#{diverged} finetune lr 100", "status"] == "diverged at step 12"
    assert store.get(lost)["pid"] == os.getpid()
