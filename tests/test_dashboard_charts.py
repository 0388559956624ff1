"""Charts and tables of runs: live curves, stored and recorded runs on one axis, results, the progress line."""

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


def test_live_curves_put_steps_and_epochs_on_one_epoch_axis():
    frame = charts.live_curves(events_of_a_run())
    steps = frame[frame.series == "train (steps)"]
    assert steps.epoch.tolist() == [0.1, 0.5]  # 10 steps per epoch; the inf loss is left out
    validation = frame[(frame.series == "validation") & (frame.metric == "accuracy")]
    assert validation.epoch.tolist() == [1.0] and validation.value.tolist() == [0.08]
    assert set(frame.metric) == {"loss", "accuracy"}


def test_live_curves_thin_out_long_runs():
    events = [{"kind": "start", "total_steps": 5000, "epochs": 1}]
    events += [{"kind": "step", "step": s, "epoch": 1, "loss": 1.0, "elapsed": s} for s in range(1, 5001)]
    frame = charts.live_curves(events)
    assert 0 < len(frame) <= charts.MAX_STEP_POINTS


def test_progress_says_where_the_run_is_and_how_long_is_left():
    fraction, text = charts.progress(events_of_a_run()[:3])
    assert fraction == 0.25
    assert text == "epoch 1 of 2 · step 5 of 20 · about 2 s left"
    assert charts.progress([])[0] == 0.0
    fraction, text = charts.progress(
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
    curves = charts.stored_curves(store, runs)
    assert set(curves.run) == {f"#{run_id} freeze k=2"}
    assert curves[(curves.series == "validation") & (curves.metric == "accuracy")].value.tolist() == [0.08]
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


def test_live_charts_are_a_fixed_spec_plus_the_rows_of_their_metric():
    spec = charts.curve_spec("loss", "Loss")
    assert spec["config"]["axis"]["labelFontSize"] >= 14  # readable on a projector
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["train (steps)", "train", "validation"]
    assert "data" not in spec and "datasets" not in spec
    spec["title"] = "changed"
    assert charts.curve_spec("loss", "Loss")["title"] == "Loss"  # each caller gets its own copy
    rows = charts.curve_rows(charts.live_curves(events_of_a_run()), "accuracy")
    assert set(rows.metric) == {"accuracy"} and len(rows) == 2
