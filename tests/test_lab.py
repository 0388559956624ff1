"""The transfer lab without Streamlit: what a server offers, a setup's problems, the widgets' state,
and what the page says about runs (`tl_lessons.dashboard.lab`, `lab_runs`, and `settings`' widget half)."""

import subprocess
import sys

import pytest
import torch

from tl_lessons import transfer
from tl_lessons.dashboard import lab_runs, learnt, settings, sources
from tl_lessons.dashboard.lab import Lab, load_split, loadable, starting_model
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.runs import MEMORY, RunStore
from tl_lessons.synthetic import make_synthetic
from tl_lessons.transfer_setup import TransferSetup

LABELS = {"shipped": "CIFAR-10 FastNet", "imagenet": "ResNet-18", "scratch": "Random weights"}
UNAVAILABLE = {"shipped": "The shipped model is not in this copy of the kit.",
               "imagenet": "The ImageNet weights are not on this computer."}


class ModelSpy:
    """A stand-in for the page's cached `target_model`: records each call, answers with a small model."""

    def __init__(self):
        self.calls = []
        self.model = starting_model("scratch", True, num_classes=100, seed=0)

    def __call__(self, *args):
        self.calls.append(args)
        return self.model


def small_lab(tmp_path, **changes) -> Lab:
    return Lab(**{"store_path": str(tmp_path / "runs.sqlite"), "source_labels": LABELS, "unavailable": UNAVAILABLE,
                  "targets": ["synthetic100"], "target_model": ModelSpy(), **changes})


# ---------------------------------------------------------------------------------------
# What this server offers
# ---------------------------------------------------------------------------------------


def test_only_the_usable_sources_are_offered_as_defaults(tmp_path):
    lab = small_lab(tmp_path)
    assert lab.usable_sources() == ["scratch"]
    first = lab.defaults()
    assert (first.source, first.target, first.strategy) == ("scratch", "synthetic100", "scratch")
    assert lab.defaults(tiny=True).epochs == 1
    assert lab.link_choices()["source"] == ("scratch",) and lab.link_choices()["target"] == ("synthetic100",)


def test_a_target_that_does_not_load_is_left_out_with_its_sentence():
    def load(name, split):
        if name == "cifar100":
            raise LessonError("CIFAR-100 is damaged: run `make data` again.")
        return make_synthetic(100, split, n_per_class=1)

    assert loadable(["cifar100", "synthetic100"], load) == (["synthetic100"], ["CIFAR-100 is damaged: run `make data` again."])


def test_a_split_keeps_the_classes_of_its_target():
    assert load_split("synthetic100", "train").num_classes == 100
    assert load_split("synthetic100", "train", "far").num_classes == 15


def test_the_smallest_class_counts_the_targets_classes_only(tmp_path):
    counts = {"all": [5, 3, 9], "far": [7, 8]}
    lab = small_lab(tmp_path, dataset=lambda name, split, classes="all": type("Set", (), {
        "class_counts": lambda self: counts[classes], "num_classes": len(counts[classes])})())
    assert lab.smallest_class("synthetic100") == 3
    assert lab.smallest_class("synthetic100", "far") == 7
    assert lab.num_classes(TransferSetup(target="synthetic100", classes="far")) == 2
    assert lab.num_classes(TransferSetup(target="synthetic100", classes="far"), "all") == 3


# ---------------------------------------------------------------------------------------
# The model a setup starts from, and what is wrong with a setup
# ---------------------------------------------------------------------------------------


def test_an_unavailable_source_is_never_loaded(tmp_path):
    lab = small_lab(tmp_path)
    setup = TransferSetup(source="shipped", target="synthetic100", strategy="linear_probe")
    with pytest.raises(ConfigError, match="not in this copy"):
        lab.model_before_strategy(setup)
    assert lab.target_model.calls == []
    assert lab.problems(setup) == {"source": UNAVAILABLE["shipped"]}
    assert lab.stages(setup) == []


def test_a_scratch_run_of_the_imagenet_architecture_needs_no_weights(tmp_path):
    lab = small_lab(tmp_path)
    lab.model_before_strategy(TransferSetup(source="imagenet", target="synthetic100", strategy="scratch", seed=3))
    assert lab.target_model.calls == [("imagenet", True, 100, 3, 0.0)]


def test_a_source_trained_here_is_loaded_from_its_checkpoint(tmp_path):
    lab = small_lab(tmp_path, source_labels={**LABELS, "trained:mine": "mine"})
    lab.model_before_strategy(TransferSetup(source="trained:mine", target="synthetic100", strategy="finetune"))
    path, from_scratch, *_ = lab.target_model.calls[0]
    assert (path, from_scratch) == (str(sources.sources_dir(lab.store_path) / "mine.pt"), False)


def test_the_problems_of_a_setup_use_this_model_and_data(tmp_path):
    lab = small_lab(tmp_path)
    assert lab.problems(TransferSetup(source="scratch", target="synthetic100", strategy="scratch")) == {}
    assert list(lab.problems(TransferSetup(source="scratch", target="synthetic100", strategy="scratch",
                                           per_class=10_000))) == ["per_class"]
    assert lab.stages(TransferSetup(source="scratch", target="synthetic100")) == ["stem", "stage1", "stage2",
                                                                                   "stage3", "head"]


def test_train_runs_a_setup_without_problems_and_keeps_what_trains(tmp_path):
    lab = small_lab(tmp_path)
    with pytest.raises(ConfigError, match="not in this copy"):
        lab.ready_to_train(TransferSetup(source="shipped", target="synthetic100"))
    setup = TransferSetup(source="scratch", target="synthetic100", strategy="scratch", per_class=2)
    run_setup, run_config = lab.ready_to_train(setup)
    assert run_setup == setup
    trainable = int(lab.what_will_train(setup)["trainable"].sum())
    assert run_config["trainable_params"] == trainable == sum(p.numel() for p in lab.target_model.model.parameters())
    assert run_config["source_key"] == "scratch"


def test_a_saved_source_is_found_by_a_valid_name_only(tmp_path):
    lab = small_lab(tmp_path)
    assert not lab.source_saved("mine")
    lab.source_file("mine").parent.mkdir(parents=True)
    lab.source_file("mine").write_bytes(b"")
    assert lab.source_saved("mine")
    assert not lab.source_saved("../mine") and not lab.source_saved("")


# ---------------------------------------------------------------------------------------
# The setup in the page's widgets
# ---------------------------------------------------------------------------------------


def test_a_setup_comes_back_out_of_the_widgets():
    for setup in (TransferSetup(strategy="freeze", k=3, lr=0.05, per_class=7),
                  TransferSetup(strategy="discriminative", per_class=None, fraction=0.5, seed=4)):
        state = {}
        settings.put_in_widgets(state, setup, TransferSetup())
        assert settings.setup_in_widgets(state) == setup
    assert settings.setup_in_widgets(state, tiny=True).val_per_class == 1


def test_the_hidden_label_widget_keeps_a_value_for_when_it_is_picked():
    state = {}
    settings.put_in_widgets(state, TransferSetup(per_class=None, fraction=0.5), TransferSetup(per_class=9))
    assert (state["lab_labels"], state["lab_per_class"]) == ("fraction", 9)
    settings.put_in_widgets(state, TransferSetup(per_class=3), TransferSetup())
    assert (state["lab_labels"], state["lab_fraction"]) == ("per_class", settings.FRACTION_WHEN_PICKED)


def test_each_strategy_keeps_its_own_rate_and_starts_at_its_row_of_the_table():
    state = {}
    settings.put_in_widgets(state, TransferSetup(strategy="freeze", lr=0.05), TransferSetup())
    state["lab_strategy"] = "discriminative"  # the learner picks another strategy: its own rate, not 0.05
    assert settings.setup_in_widgets(state).lr == transfer.STRATEGY_TABLE["discriminative"].lr
    state["lab_strategy"] = "freeze"
    assert settings.setup_in_widgets(state).lr == 0.05
    settings.reset_widgets(state, TransferSetup())
    assert settings.rate_in_widgets(state, "freeze") == transfer.STRATEGY_TABLE["freeze"].lr
    assert settings.setup_in_widgets(state) == TransferSetup()


# ---------------------------------------------------------------------------------------
# What the page says about runs
# ---------------------------------------------------------------------------------------


def test_the_line_is_said_in_words():
    assert lab_runs.empty_line(1) == ("Nobody is training on this server now (1 run can train at once): "
                                      "a run starts as soon as you press Train.")
    assert "(2 runs can train at once)" in lab_runs.empty_line(2)
    assert lab_runs.line_heading(1).startswith("**Runs on this server** — 1 trains at once")
    assert lab_runs.waiting_message(1, None) == ("Waiting in line: 1 run must end before yours starts "
                                                 "(as soon as a run ahead ends). The line is shown above.")
    assert "(in about 45 s)" in lab_runs.waiting_message(3, 45)


def test_the_run_store_warning_names_folders_only_on_this_computer():
    notice = "The folder /srv/runs is read-only."
    assert lab_runs.store_warning(notice, on_this_computer=True).endswith(notice)
    on_a_server = lab_runs.store_warning(notice, on_this_computer=False)
    assert "/srv" not in on_a_server and "tell your teacher" in on_a_server


def test_only_the_latest_store_notice_is_shown():
    events = [{"kind": "epoch"}, {"kind": "store", "store_notice": "busy", "store_state": "busy"},
              {"kind": "store", "store_notice": "all stored", "store_state": "stored"}, {"kind": "step"}]
    assert lab_runs.latest_store_notice(events)["store_notice"] == "all stored"
    assert lab_runs.latest_store_notice([{"kind": "step"}]) is None


@pytest.mark.parametrize("end, kind, text", [
    ({"status": "finished", "val_acc": 0.2, "best_val_acc": 0.25, "elapsed": 12.2, "message": "Saved."},
     "success", "Finished. Validation accuracy 20.0% (best 25.0%). 12 s of training. Saved."),
    ({"status": "stopped", "val_acc": None}, "warning", "Stopped: the run is kept with the epochs it finished."),
    ({"status": "stopped", "message": "The class's time limit is up."}, "warning",
     "Stopped: The class's time limit is up."),
    ({"status": "cancelled", "message": "nothing was trained."}, "info", "Left the line: nothing was trained."),
    ({"status": "diverged", "message": "Lower the learning rate."}, "error", "Diverged: Lower the learning rate."),
    ({"status": "failed", "message": "Out of memory."}, "error", "Failed: Out of memory."),
])
def test_a_run_says_how_it_ended(end, kind, text):
    said_kind, icon, said = lab_runs.end_message(end)
    assert (said_kind, said) == (kind, text) and icon.startswith(":material/")


def test_after_a_run_it_joins_the_comparison_and_a_new_source_is_picked():
    ended = {"status": "finished"}
    assert lab_runs.after_the_run(None, "x", ended, None) == {}
    assert lab_runs.after_the_run(4, "linear probe", ended, None) == {"lab_compare_add": "#4 linear probe"}
    assert lab_runs.after_the_run(5, "source", ended, "trained:mine")["lab_source"] == "trained:mine"
    assert lab_runs.after_the_run(5, "source", {"status": "finished", "saved_as": "mine-2"},
                                  "trained:mine")["lab_source"] == "trained:mine-2"
    assert "lab_source" not in lab_runs.after_the_run(5, "source", {"status": "stopped"}, "trained:mine")


def test_the_comparison_starts_with_the_newest_runs_and_keeps_the_learners_choice():
    names = [f"#{i} run" for i in range(30, 0, -1)]
    assert lab_runs.runs_compared(None, names, None) == names[:lab_runs.COMPARED_AT_FIRST]
    assert lab_runs.runs_compared(["#3 run", "#99 deleted"], names, None) == ["#3 run"]
    assert lab_runs.runs_compared(["#3 run"], names, "#30 run") == ["#3 run", "#30 run"]
    assert lab_runs.runs_compared(["#3 run"], names, "#3 run") == ["#3 run"]
    assert lab_runs.runs_compared([], names, "#not listed") == []


def test_a_learner_sees_their_own_runs_unless_they_ask_for_the_class():
    runs = [{"config": {"learner": "a"}}, {"config": {"learner": "b"}}, {"config": {}}]
    assert lab_runs.runs_shown(runs, "a", class_view=False) == runs[:1]
    assert lab_runs.runs_shown(runs, "a", class_view=True) == runs


def test_runs_without_a_finished_epoch_are_named_beside_the_chart():
    runs = [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}]
    assert lab_runs.not_on_chart(runs, {"#1 a"}, {1: "finished", 2: "diverged at step 3"}) == ["#2 b (diverged at step 3)"]


def test_the_csv_holds_the_runs_asked_for_as_the_learner_sees_them():
    store = RunStore(MEMORY)
    mine = store.start({"learner": "a", "source": "/srv/x.pt", "source_key": "trained:x"}, "mine")
    theirs = store.start({"learner": "b"}, "theirs")
    for run_id in (mine, theirs):
        store.log(run_id, {"kind": "epoch", "epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1,
                           "val_acc": 0.4, "elapsed": 1.0})
    text = lab_runs.runs_csv(store, [mine], you="a")
    assert "mine" in text and "theirs" not in text and "/srv" not in text


def test_stored_answers_are_shown_only_on_the_images_they_are_about():
    val_set = make_synthetic(10, "test", n_per_class=2)
    setup = TransferSetup(source="scratch", target="synthetic100", strategy="scratch")
    store = RunStore(MEMORY)
    config = {**setup.to_dict(), "validation": learnt.describe_images(val_set)}
    run_id = store.start(config, "run")
    run = {"id": run_id, "config": config}
    images = lambda stored: val_set  # noqa: E731
    assert lab_runs.stored_answers(store, run, images) is None  # no epoch finished yet
    predictions = {"kind": "predictions", "epoch": 1, "predicted": [0] * len(val_set), "handful": []}
    store.log(run_id, predictions)
    answers, images_shown = lab_runs.stored_answers(store, run, images)
    assert answers["epoch"] == 1 and images_shown is val_set
    other = make_synthetic(10, "test", n_per_class=2, seed=1)
    assert lab_runs.stored_answers(store, run, lambda stored: other) is None  # other images: other answers
    source_run = {"id": run_id, "config": {"kind": "source"}}
    assert lab_runs.stored_answers(store, source_run, images) is None


def test_two_runs_image_by_image_in_one_sentence():
    split = learnt.right_and_wrong([0, 1, 1, 0], [0, 0, 1, 1], type("Set", (), {"labels": torch.tensor([0, 1, 0, 0])})())
    assert lab_runs.right_in_one(4, split) == ("Of 4 validation images, **A alone** gets 2 right, **B alone** 0; "
                                               "both 1, neither 1.")
    assert lab_runs.mixed_up([{"true class": "cat", "predicted as": "dog", "images": 2},
                              {"true class": "oak", "predicted as": "maple", "images": 1}]) == (
        "Mixed up most: cat taken for dog (2×); oak taken for maple (1×)")


# ---------------------------------------------------------------------------------------
# Arrows point one way
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_dashboards_library_needs_no_streamlit_widgets_or_sweep_trainer():
    """The dashboard's modules load without Streamlit, the Jupyter widgets, the sweep trainer (`analysis`,
    through `reference_runs`) or torchvision (only the ImageNet source needs it, when asked)."""
    code = ("import importlib, pkgutil, sys; import tl_lessons.dashboard as d; "
            "[importlib.import_module(f'tl_lessons.dashboard.{m.name}') for m in pkgutil.iter_modules(d.__path__)]; "
            "print(sorted(n for n in ('streamlit', 'ipywidgets', 'tl_lessons.widgets', 'tl_lessons.analysis', "
            "'tl_lessons.reference_runs', 'torchvision') if n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
