"""The dashboard driven without a browser (streamlit.testing.v1.AppTest): options, training, links, checks.

Every test runs the app offline (an empty data folder, so synthetic practice data), in tiny
mode (TL_LESSONS_APP_TINY=1) and with its own run store; a small source model is saved where
the app looks for models trained in it, so transfer strategies have something to start from.
"""

import json
import time
from pathlib import Path

import pytest
import torch
import torchvision
from streamlit.testing.v1 import AppTest

from tl_lessons import reference_file, targets, transfer
from tl_lessons.dashboard import charts, settings, sources
from tl_lessons.runs import RunStore, default_path

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> bytes:
    """An (untrained) FastNet checkpoint for synthetic10: something to transfer from, made once."""
    model, train_set, _, config = sources.source_training("synthetic10", per_class=2, epochs=1)
    path = sources.save_source(tmp_path_factory.mktemp("source") / "tiny.pt", model, train_set, config, {})
    return path.read_bytes()


@pytest.fixture()
def lab(tmp_path, monkeypatch, run_store_path, tiny_source):
    """The app on its first page, offline and tiny, with a source model 'tiny' to transfer from."""
    monkeypatch.setenv("TL_LESSONS_DATA", str(tmp_path / "no-data"))
    yield from tiny_app(monkeypatch, run_store_path, tiny_source)


@pytest.fixture()
def real_lab(real_cifar_root, monkeypatch, run_store_path, tiny_source):
    """The same app on the real CIFAR folders."""
    monkeypatch.setenv("TL_LESSONS_DATA", str(real_cifar_root))
    yield from tiny_app(monkeypatch, run_store_path, tiny_source)


def tiny_app(monkeypatch, run_store_path, tiny_source):
    """An AppTest of the dashboard in tiny mode with the source "tiny"; stops its run afterwards."""
    monkeypatch.setenv("TL_LESSONS_APP_TINY", "1")
    monkeypatch.setenv("TL_LESSONS_THREADS", "2")
    sources.sources_dir(run_store_path).mkdir(parents=True)
    (sources.sources_dir(run_store_path) / "tiny.pt").write_bytes(tiny_source)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["source"] = "trained:tiny"  # the shipped model may or may not be in this copy
    yield app
    job = app.session_state["lab_job"] if "lab_job" in app.session_state else None
    if job is not None:
        job.stop()
        job.wait(10)


def train_until_done(app, seconds=90):
    app.button(key="lab_train").click().run()
    assert not app.exception
    job = app.session_state["lab_job"]
    deadline = time.monotonic() + seconds
    while not (job.done and app.session_state["lab_job_reported"]) and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()  # what the live view's timer does in a browser
        assert not app.exception
    assert job.done, "the run did not end in time"
    app.run()
    return job


def errors(app) -> str:
    return " ".join(element.value for element in app.error)


def lr_key(app) -> str:
    """The learning rate's widget: one per strategy (`settings.lr_key`)."""
    return settings.lr_key(app.selectbox(key="lab_strategy").value)


@pytest.mark.slow
def test_offline_the_app_offers_synthetic_data_and_says_how_to_get_cifar(lab):
    lab.run()
    assert not lab.exception
    assert "make data" in lab.warning[0].value
    assert lab.selectbox(key="lab_target").options == ["Synthetic-100 (synthetic practice data, 100 classes)"]
    sources = lab.selectbox(key="lab_source")
    assert sources.value == "trained:tiny"
    assert "Random weights (no pre-training)" in sources.options
    assert any(option.startswith("ResNet-18 pre-trained on ImageNet") for option in sources.options)


def test_the_strategy_options_decide_what_is_frozen(lab):
    lab.run()
    lab.selectbox(key="lab_strategy").select("freeze").run()
    lab.select_slider(key="lab_k").set_value(2).run()
    assert not lab.exception
    states = lab.dataframe[0].value["state"].tolist()
    assert [state.startswith("frozen") for state in states] == [True, True, False, False, False]
    assert lab.query_params["strategy"] == "freeze" and lab.query_params["k"] == "2"

    lab.selectbox(key="lab_strategy").select("linear_probe").run()
    states = lab.dataframe[0].value["state"].tolist()
    assert [state.startswith("frozen") for state in states] == [True, True, True, True, False]
    assert states[0] == "frozen, BN in eval"
    lab.radio(key="lab_bn").set_value("train").run()
    assert lab.dataframe[0].value["state"].tolist()[0].startswith("frozen, BN in train")

    lab.selectbox(key="lab_strategy").select("finetune").run()
    assert set(lab.dataframe[0].value["state"]) == {"trainable"}


@pytest.mark.slow
def test_a_tiny_run_trains_draws_its_curves_and_is_stored(lab, run_store_path):
    lab.run()
    lab.selectbox(key="lab_strategy").select("linear_probe").run()
    job = train_until_done(lab)
    assert job.status == "finished", job.end
    assert lab.success and "Finished" in lab.success[0].value
    drawn = lab.get("vega_lite_chart")
    assert len(drawn) >= 3  # loss and accuracy of this run, and the comparison
    assert not charts.live_curves(job.events).empty
    runs = RunStore(run_store_path).runs()
    assert [run["status"] for run in runs] == ["finished"]
    assert runs[0]["config"]["strategy"] == "linear_probe" and runs[0]["config"]["trainable_params"] > 0
    table = lab.dataframe[1].value
    assert table["run"].tolist() == [f"#{runs[0]['id']} {runs[0]['label']}"]
    assert lab.multiselect(key="lab_compare").value == table["run"].tolist()
    assert lab.get("download_button")  # the chosen runs as CSV

    # A reload (a new session of the same browser: its learner token) finds the run in the store,
    # and the live view shows how it ended.
    reloaded = AppTest.from_file(APP, default_timeout=60)
    reloaded.query_params["source"] = "trained:tiny"
    reloaded.session_state["learner_token"] = lab.session_state["learner_token"]
    reloaded.run()
    assert reloaded.dataframe[1].value["run"].tolist() == table["run"].tolist()
    assert reloaded.success and "Finished" in reloaded.success[0].value

    # Another learner sees their own runs only (none yet); the class view shows everyone's.
    other = AppTest.from_file(APP, default_timeout=60)
    other.query_params["source"] = "trained:tiny"
    other.run()
    assert "lab_job" not in other.session_state
    assert any("No runs of yours" in info.value for info in other.info)
    other.toggle(key="lab_class_view").set_value(True).run()
    classroom = other.dataframe[1].value
    assert classroom["run"].tolist() == table["run"].tolist()
    assert classroom["whose"].tolist()[0].startswith("learner ")


@pytest.mark.slow
def test_a_run_on_the_near_classes_trains_15_classes_and_is_stored_with_them(lab):
    lab.run()
    lab.radio(key="lab_classes").set_value("near").run()
    assert not lab.exception and not errors(lab)
    assert lab.query_params["classes"] == "near"
    assert lab.radio(key="lab_classes").proto.captions == [target.why for target in targets.TARGETS.values()]
    captions = " ".join(caption.value for caption in lab.caption)
    assert "the near target's 15 classes" in captions  # the data the run will train on
    job = train_until_done(lab)
    assert job.status == "finished", job.end
    assert job.val_set.num_classes == 15 and set(job.val_set.labels.tolist()) == set(range(15))
    assert charts.chance_of(job.events) == pytest.approx(1 / 15)
    run = RunStore(default_path()).runs()[0]
    assert run["config"]["classes"] == "near" and "near classes" in run["label"]
    assert settings.stored_setup(run["config"]).classes == "near"
    # The preview counted the parameters of the model that trained: a new head for 15 classes, not for 100.
    start = next(event for event in job.events if event["kind"] == "start")
    assert run["config"]["trainable_params"] == start["trainable"]
    # Guessing among 15 classes scores 1 in 15: the line on this run's accuracy chart and on the comparison.
    specs = [chart.proto.spec for chart in lab.get("vega_lite_chart")]
    assert len([spec for spec in specs if "chance = 7%" in spec]) == 2


def test_invalid_settings_show_a_message_and_disable_train(lab):
    lab.run()
    assert not lab.button(key="lab_train").disabled
    lab.number_input(key=lr_key(lab)).set_value(0.0).run()
    assert "learning rate must be a number above 0" in errors(lab)
    assert lab.button(key="lab_train").disabled
    lab.number_input(key=lr_key(lab)).set_value(0.05).run()
    lab.number_input(key="lab_per_class").set_value(500).run()
    assert "ask for at most" in errors(lab)
    assert lab.button(key="lab_train").disabled
    lab.number_input(key="lab_per_class").set_value(2).run()
    lab.selectbox(key="lab_source").select("scratch").run()
    assert "nothing worth keeping" in errors(lab)
    assert lab.button(key="lab_train").disabled
    assert not lab.exception


def test_a_shared_link_opens_the_same_settings(lab):
    lab.query_params.update({"strategy": "freeze", "k": "3", "lr": "0.02", "epochs": "2", "seed": "4", "classes": "far"})
    lab.run()
    assert not lab.exception
    assert lab.selectbox(key="lab_strategy").value == "freeze" and lab.radio(key="lab_classes").value == "far"
    assert lab.select_slider(key="lab_k").value == 3
    assert lab.number_input(key=lr_key(lab)).value == 0.02
    assert (lab.number_input(key="lab_epochs").value, lab.number_input(key="lab_seed").value) == (2, 4)
    assert not lab.info or "Ignored" not in " ".join(info.value for info in lab.info)


def test_a_link_with_invalid_values_falls_back_with_a_notice(lab):
    lab.query_params.update({"strategy": "freeze", "k": "42", "lr": "fast", "colour": "red"})
    lab.run()
    assert not lab.exception
    notices = " ".join(info.value for info in lab.info)
    assert "k=42" in notices and "lr=fast" in notices and "`colour`" in notices
    assert lab.selectbox(key="lab_strategy").value == "freeze"
    assert lab.number_input(key=lr_key(lab)).value == transfer.STRATEGY_TABLE["freeze"].lr
    assert not lab.button(key="lab_train").disabled


def test_a_source_model_trained_in_the_app_becomes_the_source(lab, run_store_path):
    lab.run()
    lab.text_input(key="src_name").input("made-here").run()
    lab.button(key="src_train").click().run()
    job = lab.session_state["lab_job"]
    deadline = time.monotonic() + 90
    while not (job.done and lab.session_state["lab_job_reported"]) and time.monotonic() < deadline:
        time.sleep(0.3)
        lab.run()
    lab.run()
    assert job.status == "finished", job.end
    assert (sources.sources_dir(run_store_path) / "made-here.pt").is_file()
    assert lab.selectbox(key="lab_source").value == "trained:made-here"


def test_a_saved_source_model_is_never_replaced_without_a_yes(lab, run_store_path):
    lab.run()
    # Each learner is offered a name of their own; a name already saved needs a tick to be used again.
    assert lab.text_input(key="src_name").value.startswith("synthetic10-quick-")
    lab.text_input(key="src_name").input("tiny").run()  # the fixture saved "tiny" already
    assert "is saved already" in errors(lab) and lab.button(key="src_train").disabled
    lab.checkbox(key="src_replace").check().run()
    assert "is saved already" not in errors(lab) and not lab.button(key="src_train").disabled


def test_a_run_store_that_could_not_be_opened_is_tried_again_at_the_next_page_load(lab, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("TL_LESSONS_RUNS", str(blocker / "runs.sqlite"))
    lab.run()
    assert "Runs are kept in memory only" in " ".join(w.value for w in lab.warning)
    blocker.unlink()  # the teacher fixes the folder; the server keeps running
    blocker.mkdir()
    lab.run()
    assert "Runs are kept in memory only" not in " ".join(w.value for w in lab.warning)
    assert (blocker / "runs.sqlite").is_file()


def test_the_gradient_descent_playground_steps(lab):
    lab.run()
    lab.switch_page("app_pages/gradient_descent.py").run()
    assert not lab.exception
    assert lab.metric[0].value == "0 of 100"
    lab.button(key="gd_step").click().run()
    assert lab.metric[0].value == "1 of 100"
    assert len(lab.get("vega_lite_chart")) == 2  # the surface with the path, and the loss per step
    lab.number_input(key="gd_lr").set_value(0.5).run()  # far above 2 / 20 on the bowl: each step overshoots
    lab.button(key="gd_step").click().run()
    lab.button(key="gd_step").click().run()
    assert lab.metric[2].value == "diverged"
    # Why, in numbers: |1 - lr x curvature| = |1 - 0.5 x 20| = 9 per step.
    assert "|1 − 0.5 × 20| = 9" in errors(lab) and "below 2 / 20 = 0.1" in errors(lab)
    lab.number_input(key="gd_lr").set_value(0.0).run()
    assert "above 0" in errors(lab)


def test_the_whole_path_at_once_and_momentum_circling_the_minimum(lab):
    lab.run()
    lab.switch_page("app_pages/gradient_descent.py").run()
    lab.slider(key="gd_momentum").set_value(0.9).run()
    lab.button(key="gd_whole").click().run()
    assert not lab.exception
    assert lab.metric[0].value == "100 of 100" and lab.button(key="gd_whole").disabled
    assert lab.metric[2].value == "converging with oscillation"  # not "slow": it circles, closing in
    assert not lab.error and "0.949" in " ".join(caption.value for caption in lab.caption)
    lab.number_input(key="gd_lr").set_value(0.11).run()  # just above the limit: the path leaves the map
    lab.slider(key="gd_momentum").set_value(0.0).run()
    lab.button(key="gd_whole").click().run()
    assert "left the map at step" in " ".join(warning.value for warning in lab.warning)


@pytest.mark.slow
def test_the_data_explorer_shows_a_class_grid(lab):
    lab.run()
    lab.switch_page("app_pages/data_explorer.py").run()
    assert not lab.exception
    assert lab.selectbox(key="dx_dataset").options[0].startswith("Synthetic-10")
    assert lab.get("image")  # the class grid, drawn by tl_lessons.plots.class_grid


def test_picking_a_strategy_sets_the_learning_rate_that_suits_it(lab):
    table = transfer.STRATEGY_TABLE
    assert table["discriminative"].lr != table["linear_probe"].lr  # so that the field must change below
    lab.run()
    assert lab.number_input(key=lr_key(lab)).value == table["linear_probe"].lr
    lab.selectbox(key="lab_strategy").select("discriminative").run()
    assert lab.number_input(key=lr_key(lab)).value == table["discriminative"].lr
    lab.number_input(key=lr_key(lab)).set_value(0.02).run()  # the learner's own rate stays ...
    assert lab.query_params["lr"] == "0.02"
    lab.selectbox(key="lab_strategy").select("finetune").run()  # ... until the next strategy
    assert lab.number_input(key=lr_key(lab)).value == table["finetune"].lr


def test_without_cached_weights_the_imagenet_source_says_how_to_get_them(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-cache"))
    lab.run()
    source = lab.selectbox(key="lab_source")
    assert "ResNet-18 pre-trained on ImageNet (torchvision) — unavailable" in source.options
    source.select("imagenet").run()
    assert not lab.exception
    assert "not on this computer" in errors(lab) and "imagenet_resnet18()" in errors(lab)
    assert lab.button(key="lab_train").disabled


@pytest.mark.slow
def test_with_cached_weights_the_imagenet_resnet_is_a_source(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = tmp_path / "hub" / "checkpoints" / torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # stands in for the real download
    lab.run()
    lab.selectbox(key="lab_source").select("imagenet").run()
    lab.selectbox(key="lab_strategy").select("freeze").run()
    lab.select_slider(key="lab_k").set_value(3).run()
    # The stand-in weights are random and the ImageNet rates are not tuned: a small rate keeps this run calm.
    lab.number_input(key=lr_key(lab)).set_value(0.01).run()
    assert not lab.exception and not errors(lab)
    stages = lab.dataframe[0].value
    assert stages["stage"].tolist() == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert [state.startswith("frozen") for state in stages["state"]] == [True, True, True, False, False, False]
    job = train_until_done(lab)
    assert job.status == "finished", job.end
    run = RunStore(default_path()).runs()[0]
    assert run["config"]["source"] == "imagenet" and "from imagenet" in run["label"]


@pytest.mark.slow
def test_a_diverging_run_says_so_and_suggests_a_smaller_learning_rate(lab):
    lab.query_params.update({"strategy": "finetune", "lr": "100", "epochs": "2"})
    lab.run()
    job = train_until_done(lab)
    assert job.status == "diverged", job.end
    assert "Diverged" in errors(lab) and "learning rate" in errors(lab)
    assert RunStore(default_path()).runs()[0]["status"] == "diverged"


def test_recorded_reference_runs_are_shown_with_their_provenance(lab, tmp_path, monkeypatch):
    monkeypatch.setattr(reference_file, "REFERENCE_RUNS", tmp_path / "missing.json")
    lab.run()
    assert "make reference-runs" in " ".join(info.value for info in lab.info)
    reference = {
        "recorded_with": "python -m tl_lessons reference-runs",
        "data": "the real CIFAR-100, 10 images per class",
        "machine": "a 2-core laptop",
        "runs": [
            {
                "label": "linear probe",
                "strategy": "linear_probe",
                "config": {"target": "cifar100"},
                "epochs": [
                    {"epoch": 1, "train_loss": 4.0, "val_loss": 4.1, "train_acc": 0.1, "val_acc": 0.12, "elapsed": 3.0}
                ],
                "final_val_acc": 0.12,
                "best_val_acc": 0.12,
                "seconds": 3.0,
                "trainable_params": 12900,
            }
        ],
    }
    path = tmp_path / "reference_runs.json"
    path.write_text(json.dumps(reference))
    monkeypatch.setattr(reference_file, "REFERENCE_RUNS", path)
    lab.run()
    assert not lab.exception
    text = " ".join(block.value for block in lab.markdown)
    assert "recorded" in text and "10 images per class" in text and "a 2-core laptop" in text
    assert lab.dataframe[-1].value["run"].tolist() == ["recorded: linear probe"]


@pytest.mark.slow
@pytest.mark.real_data
def test_with_real_cifar_a_tiny_run_trains_on_cifar100_and_the_explorer_shows_superclasses(real_lab):
    real_lab.run()
    assert not real_lab.exception
    assert not real_lab.warning  # no "CIFAR is missing" banner
    assert real_lab.selectbox(key="lab_target").value == "cifar100"
    job = train_until_done(real_lab)
    assert job.status == "finished", job.end
    assert RunStore(default_path()).runs()[0]["config"]["target"] == "cifar100"
    real_lab.switch_page("app_pages/data_explorer.py").run()
    real_lab.selectbox(key="dx_dataset").select("cifar100").run()
    real_lab.radio(key="dx_view").set_value("superclasses").run()
    assert not real_lab.exception
    assert real_lab.get("image")


def start_training(app, **query):
    """Open the lab with `query` in the link and press Train; returns the session's job (it keeps running)."""
    app.query_params.update(query)
    app.run()
    app.button(key="lab_train").click().run()
    assert not app.exception
    return app.session_state["lab_job"]


def tiny_session(run_store_path, learner_token=None):
    """Another browser session of the same dashboard (the same server process, so the same line of runs)."""
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["source"] = "trained:tiny"
    if learner_token is not None:  # the same browser: its cookie holds this token
        app.session_state["learner_token"] = learner_token
    return app


@pytest.mark.slow
def test_after_a_reload_the_learner_finds_their_run_and_can_stop_it(lab, run_store_path):
    job = start_training(lab, strategy="finetune", epochs="80")
    reloaded = tiny_session(run_store_path, lab.session_state["learner_token"])
    reloaded.run()
    assert reloaded.session_state["lab_job"] is job  # the registry gave it back
    assert reloaded.button(key="lab_train").disabled
    assert "you" in reloaded.dataframe[1].value["whose"].tolist()  # the line, shown to everyone
    reloaded.button(key="lab_stop").click().run()
    job.wait(60)
    deadline = time.monotonic() + 30
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.2)
        reloaded.run()
    assert job.status == "stopped"
    reloaded.run()
    assert any(warning.value.startswith("Stopped") for warning in reloaded.warning)


@pytest.mark.slow
def test_a_run_waiting_in_line_says_who_is_ahead_and_leaves_the_line_at_once(lab, run_store_path):
    other = tiny_session(run_store_path)
    first = start_training(other, strategy="finetune", epochs="80", seed="1")
    try:
        waiting = start_training(lab, strategy="linear_probe", seed="2")
        assert waiting.status == "waiting"
        lab.run()
        line = lab.dataframe[1].value
        assert line["state"].tolist() == ["training", "waiting"]
        assert line["whose"].tolist()[1] == "you" and line["whose"].tolist()[0].startswith("learner ")
        assert any("1 run must end before yours starts" in info.value for info in lab.info)
        assert not lab.get("progress")  # no progress bar for a run that has not started
        lab.button(key="lab_stop").click().run()  # "Leave the line"
        waiting.wait(10)
        lab.run()
        assert waiting.status == "cancelled" and waiting.run_id is None
        assert any(info.value.startswith("Left the line") and "nothing was trained or stored" in info.value
                   for info in lab.info)
        assert not lab.warning or not any("kept with the epochs" in w.value for w in lab.warning)
    finally:
        first.stop()
        first.wait(60)


def test_a_store_that_cannot_be_used_keeps_runs_in_memory_and_says_so(lab, tmp_path, monkeypatch):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("TL_LESSONS_RUNS", str(folder))  # a folder where the store file should be
    sources.sources_dir(folder).mkdir(parents=True, exist_ok=True)
    (sources.sources_dir(folder) / "tiny.pt").write_bytes((sources.sources_dir(tmp_path / "runs.sqlite") / "tiny.pt").read_bytes())
    lab.run()
    assert not lab.exception
    banner = lab.warning[-1].value if lab.warning else ""
    assert "kept in memory only" in banner and "is a folder" in banner
    assert not lab.button(key="lab_train").disabled


@pytest.mark.slow
def test_a_store_that_fails_mid_run_is_said_and_the_run_goes_on(lab, monkeypatch):
    from tl_lessons.errors import RunStoreError
    from tl_lessons.runs import RunStore as Store

    real_write = Store.write_run

    def full_disk(self, run_id, events=(), row=None, end=None, wait=None):
        if run_id is None:  # the run's row is written; every write after it finds the disk full
            return real_write(self, run_id, events, row=row, end=end, wait=wait)
        raise RunStoreError("The disk holding the run store is full: free some space there.")

    lab.run()
    monkeypatch.setattr(Store, "write_run", full_disk)
    job = train_until_done(lab)
    assert job.status == "finished"
    assert any("disk holding the run store is full" in w.value and "training goes on" in w.value for w in lab.warning)


def test_runs_whose_training_was_lost_read_interrupted(lab, run_store_path):
    store = RunStore(run_store_path)
    lost = store.start({"strategy": "finetune", "target": "synthetic100"}, "lost")  # this process, no job
    lab.run()
    lab.toggle(key="lab_class_view").set_value(True).run()
    table = lab.dataframe[-2].value.set_index("run")
    assert table.loc[f"#{lost} lost", "status"] == "interrupted before its first step"


@pytest.mark.slow
def test_a_train_click_that_overtakes_a_strategy_change_trains_the_new_strategys_rate(lab):
    """On a busy server a learner picks another strategy and presses Train before the page has redrawn:
    the browser still shows, and sends back, the old strategy's rate. Each strategy's rate is its own
    widget, so that stale value lands on the old strategy's rate and the run takes the new one's."""
    lab.run()
    lab.selectbox(key="lab_strategy").select("finetune").run()
    lab.number_input(key="lab_lr_finetune").set_value(0.1).run()
    lab.selectbox(key="lab_strategy").select("linear_probe").run()
    lab.session_state["lab_lr_finetune"] = 0.1  # the value the not-yet-redrawn browser sends with the click
    lab.button(key="lab_train").click().run()
    job = lab.session_state["lab_job"]
    assert job.config.lr == transfer.STRATEGY_TABLE["linear_probe"].lr
    assert job.label.startswith("linear probe") and f"lr {transfer.STRATEGY_TABLE['linear_probe'].lr:g}" in job.label
    captions = " ".join(caption.value for caption in lab.caption)
    assert f"suggested rate ({transfer.STRATEGY_TABLE['linear_probe'].lr:g} for this one)" in captions


def test_link_values_are_shown_as_code_not_as_links(lab):
    lab.query_params.update({"lr": "[click](http://example.invalid/x)", "![img](http://example.invalid/i.png)": "1"})
    lab.run()
    notices = [info.value for info in lab.info if info.value.startswith("Ignored")]
    assert len(notices) == 2
    for notice in notices:
        outside_code = notice.split("`")[0::2]
        assert not any("](" in part or "http" in part for part in outside_code), notice
