"""The chapters' explorers: each pure view shows what its controls ask for, and each widget redraws it.

The widget halves run headless: ipywidgets works without a browser, so a test sets a control's
`.value` exactly as a learner's click would, and reads the view the explorer now shows.
"""
import base64
import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat
import pytest
import torch
import torch.nn.functional as F
from nbclient import NotebookClient

from tl_lessons import data, models, plots, train, widgets
from tl_lessons.data import ImageSet
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.widgets import explorer as explorer_module
from tl_lessons.widgets import loss, predictions, recipes, recorded_runs
from tl_lessons.widgets.browser import browse_view, dataset_browser

FIXTURE = Path(__file__).parent / "fixtures" / "recorded_runs.json"
REPO = Path(__file__).resolve().parents[1]


def fixture_runs() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def plotted_labels(figure) -> list[str]:
    return [line.get_label() for axis in figure.axes for line in axis.lines if not line.get_label().startswith("_")]


# ---------------------------------------------------------------------------------------------
# The shared machinery: static outputs, errors, no Jupyter at import
# ---------------------------------------------------------------------------------------------


def test_importing_the_widgets_imports_no_jupyter():
    code = "import sys, tl_lessons.widgets; print(sorted(m for m in ('ipywidgets', 'IPython') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_an_explorer_leaves_a_png_a_text_and_a_sentence_for_static_copies():
    softmax = widgets.softmax_explorer()
    picture, words = softmax.outputs()
    assert base64.b64decode(picture["image/png"])[:4] == b"\x89PNG"
    assert picture["text/plain"] == softmax.view.caption
    assert words["text/plain"] == softmax.view.text
    assert "cross-entropy" in words["text/html"]
    controls = softmax.controls_output()
    assert "application/vnd.jupyter.widget-view+json" in controls
    assert controls["text/plain"].startswith("(Controls: logits, temperature T, true class.")


def test_a_learner_error_is_shown_and_loses_nothing():
    softmax = widgets.softmax_explorer()
    before = softmax.view
    softmax.controls["logits"].value = "2, one, 0"
    assert "numbers separated by commas" in softmax.message
    assert softmax.view is before  # the last good picture stays
    assert softmax.outputs()[1]["text/plain"] == softmax.message
    softmax.controls["logits"].value = "0, 3"
    assert softmax.message == ""
    assert softmax.view.numbers["probabilities"].tolist() == pytest.approx(torch.softmax(torch.tensor([0.0, 3.0]), 0).tolist())


def test_the_teacher_view_has_larger_type_and_text():
    normal = loss.softmax_view("2, 1, 0.1")
    teacher = loss.softmax_view("2, 1, 0.1", teacher=True)
    assert teacher.figure.axes[0].title.get_fontsize() > normal.figure.axes[0].title.get_fontsize()
    assert teacher.figure.dpi > normal.figure.dpi
    assert "1.6em" in explorer_module.text_output("x", teacher=True)["text/html"]
    assert matplotlib.rcParams["font.weight"] == "normal"  # the style ends with the figure


# ---------------------------------------------------------------------------------------------
# Chapter 02: softmax temperature and the gradient check
# ---------------------------------------------------------------------------------------------


def test_a_higher_temperature_gives_flatter_probabilities():
    tops, entropies = [], []
    for temperature in (0.25, 0.5, 1.0, 2.0, 4.0, 100.0):
        p = loss.softmax_view("3, 1, 0.2, -1", temperature, 0).numbers["probabilities"]
        tops.append(p.max().item())
        entropies.append(-(p * p.log()).sum().item())
    assert tops == sorted(tops, reverse=True) and len(set(tops)) == len(tops)
    assert entropies == sorted(entropies)
    assert tops[-1] == pytest.approx(0.25, abs=0.01)  # a very high temperature: nearly an even guess


def test_softmax_view_cross_entropy_is_torchs_and_the_bars_are_the_probabilities():
    logits, temperature = torch.tensor([0.5, 2.0, -1.0, 1.5], dtype=torch.float64), 1.7
    for true_class in range(4):
        view = loss.softmax_view(logits.tolist(), temperature, true_class)
        expected = F.cross_entropy((logits / temperature)[None], torch.tensor([true_class])).item()
        assert view.numbers["cross_entropy"] == pytest.approx(expected, rel=1e-12)
    heights = [bar.get_height() for bar in view.figure.axes[1].patches]
    assert heights == pytest.approx(torch.softmax(logits / temperature, 0).tolist())


def test_softmax_view_refuses_what_cannot_be_shown():
    with pytest.raises(ConfigError, match="at least two logits"):
        loss.softmax_view("3")
    with pytest.raises(ConfigError, match="temperature"):
        loss.softmax_view("1, 2", temperature=0)
    with pytest.raises(ConfigError, match="true class"):
        loss.softmax_view("1, 2", true_class=2)


def test_softmax_explorer_follows_its_controls():
    softmax = widgets.softmax_explorer()
    flat_before = softmax.view.numbers["probabilities"].max()
    softmax.controls["temperature"].value = 5.0
    assert softmax.view.numbers["probabilities"].max() < flat_before
    softmax.controls["logits"].value = "1, 2, 3, 4, 5"
    assert softmax.controls["true_class"].options == (0, 1, 2, 3, 4)
    softmax.controls["true_class"].value = 4
    assert softmax.view.numbers["cross_entropy"] == pytest.approx(
        F.cross_entropy(torch.tensor([[1.0, 2, 3, 4, 5]]) / 5.0, torch.tensor([4])).item(), rel=1e-6)
    softmax.controls["logits"].value = "1, 2"  # fewer classes: the chosen true class must still exist
    assert softmax.controls["true_class"].value == 1 and softmax.message == ""


def test_finite_differences_break_at_both_ends():
    error = {eps: loss.gradient_check_view(eps).numbers for eps in (1e-12, 1e-8, 1e-6, 1e-3, 1e-4, 1.0)}
    # Round-off: eps too small, the float32 error grows (at 1e-8 it is as large as the gradient itself).
    assert error[1e-8]["float32_error"] > 10 * error[1e-3]["float32_error"]
    assert error[1e-12]["float64_error"] > 100 * error[1e-6]["float64_error"]
    # Truncation: eps too large, both precisions err alike.
    assert error[1.0]["float64_error"] > 100 * error[1e-4]["float64_error"]
    assert error[1.0]["float32_error"] == pytest.approx(error[1.0]["float64_error"], rel=1e-3)
    assert error[1e-6]["float64_error"] < 1e-8 < error[1e-6]["float32_error"]
    assert error[1e-6]["float32_best_eps"] > error[1e-6]["float64_best_eps"]


def test_gradient_check_error_is_measured_against_the_exact_gradient():
    logits, targets = loss.gradient_check_problem()
    exact = torch.func.grad(lambda z: F.cross_entropy(z, targets))(logits)  # autograd, not the kit's formula
    numerical = torch.zeros_like(logits)
    for i in range(logits.numel()):
        step = torch.zeros(logits.numel(), dtype=logits.dtype)
        step[i] = 1e-3
        step = step.view_as(logits)
        numerical.view(-1)[i] = (F.cross_entropy(logits + step, targets) - F.cross_entropy(logits - step, targets)) / 2e-3
    assert loss.finite_difference_error(1e-3, torch.float64, logits, targets) == pytest.approx(
        (numerical - exact).abs().max().item(), rel=1e-3)


def test_gradient_check_explorer_moves_its_marker():
    check = widgets.gradient_check_explorer()
    check.controls["eps"].value = 1e-9
    markers = [line for line in check.view.figure.axes[0].lines if len(line.get_xdata()) == 1 and line.get_marker() == "o"]
    assert [line.get_xdata()[0] for line in markers] == pytest.approx([1e-9, 1e-9])
    assert check.view.numbers["float32_error"] > 0.1
    with pytest.raises(ConfigError):
        loss.gradient_check_view(2.0)


# ---------------------------------------------------------------------------------------------
# Chapter 04: recorded runs
# ---------------------------------------------------------------------------------------------


def seeds_of(label: str) -> list[dict]:
    return [run for run in fixture_runs()["runs"] if run["label"] == label]


def test_recorded_runs_are_grouped_by_setting_and_spread_over_their_seeds():
    groups = {s["label"]: s for s in recorded_runs.settings(fixture_runs()["runs"])}
    assert len(groups["scratch · lr 0.1"]["runs"]) == 3
    spread = recorded_runs.seed_spread(groups["scratch · lr 0.1"])
    by_epoch = list(zip(*[[e["val_acc"] for e in run["epochs"]] for run in seeds_of("scratch · lr 0.1")]))
    assert spread["mean"] == pytest.approx([sum(v) / len(v) for v in by_epoch])
    assert spread["low"] == [min(v) for v in by_epoch] and spread["high"] == [max(v) for v in by_epoch]
    tests = [run["test_acc"] for run in seeds_of("scratch · lr 0.1")]
    assert spread["test"] == pytest.approx({"mean": sum(tests) / 3, "low": min(tests), "high": max(tests)})


def test_recorded_view_draws_the_mean_and_the_seeds_band():
    view = recorded_runs.recorded_runs_view(fixture_runs(), strategies=["freeze"], k=2, bn="eval")
    label = "freeze k=2 · bn eval · lr 0.3"
    assert list(view.numbers["shown"]) == [label]
    axis = view.figure.axes[0]
    (line,) = axis.lines
    runs = seeds_of(label)
    finals = [run["epochs"][-1]["val_acc"] for run in runs]
    assert line.get_ydata()[-1] == pytest.approx(sum(finals) / len(finals))
    (band,) = axis.collections
    band_ys = band.get_paths()[0].vertices[:, 1]
    every = [e["val_acc"] for run in runs for e in run["epochs"]]
    assert band_ys.min() == pytest.approx(min(every)) and band_ys.max() == pytest.approx(max(every))
    tests = sorted(run["test_acc"] for run in runs)
    assert f"{sum(tests) / 2:.1%} [{tests[0]:.1%}-{tests[1]:.1%}]" in view.text


def test_recorded_view_uses_k_and_bn_only_where_they_matter():
    reference = fixture_runs()
    shown = lambda **controls: list(recorded_runs.recorded_runs_view(reference, **controls).numbers["shown"])  # noqa: E731
    assert shown(strategies=["freeze"], k=1) == ["freeze k=1 · bn eval · lr 0.3"]
    assert shown(strategies=["linear_probe"], bn="train") == ["linear probe · bn train · lr 1"]
    assert shown(strategies=["scratch", "finetune"], k=1, bn="train") == ["scratch · lr 0.1", "finetune · lr 0.1"]
    assert shown(strategies=["linear_probe"], per_class=5) == ["linear probe · bn eval · lr 1 · 5/class"]
    nothing = recorded_runs.recorded_runs_view(reference, strategies=["freeze"], per_class=5)
    assert nothing.numbers["shown"] == {} and "No recorded run matches" in nothing.text and "5 per class" in nothing.text


def test_settings_that_share_a_label_are_both_shown():
    reference = fixture_runs()
    longer = [dict(run, config={**run["config"], "epochs": 5}) for run in seeds_of("scratch · lr 0.1")]
    reference["runs"] += longer
    shown = recorded_runs.recorded_runs_view(reference, strategies=["scratch"]).numbers["shown"]
    assert len(shown) == 2 and all(spread["seeds"] == 3 for spread in shown.values())


def test_recorded_runs_explorer_follows_its_controls():
    explorer = widgets.recorded_runs_explorer(FIXTURE)
    assert explorer.controls["per_class"].options == (("5 per class", 5), ("all labels", "all"))
    assert len(plotted_labels(explorer.view.figure)) == 4  # scratch, probe (bn eval), freeze k=2, finetune
    explorer.controls["strategies"].value = ("scratch",)
    assert plotted_labels(explorer.view.figure) == ["scratch · lr 0.1 (3 seeds)"]
    explorer.controls["strategies"].value = ("scratch", "freeze")
    explorer.controls["k"].value = 1
    assert plotted_labels(explorer.view.figure) == ["scratch · lr 0.1 (3 seeds)", "freeze k=1 · bn eval · lr 0.3 (1 seed)"]
    explorer.controls["per_class"].value = 5
    assert explorer.view.numbers["shown"] == {}


def test_the_shipped_reference_runs_can_be_explored():
    explorer = widgets.recorded_runs_explorer()
    assert len(explorer.view.numbers["shown"]) == len(explorer.controls["strategies"].options)
    assert "Recorded on" in explorer.view.text


def test_a_missing_or_broken_record_says_what_to_do(tmp_path):
    with pytest.raises(LessonError, match="no file of recorded runs"):
        recorded_runs.load_recorded_runs(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text('{"runs": 3}')
    with pytest.raises(LessonError, match="no list of runs"):
        widgets.recorded_runs_explorer(tmp_path / "broken.json")


def test_train_now_draws_a_live_run_over_the_record():
    explorer = widgets.recorded_runs_explorer(
        FIXTURE, train_now=True,
        train_changes={"target": "synthetic10", "per_class": 2, "epochs": 1, "batch_size": 10})
    explorer.controls["strategies"].value = ("linear_probe",)
    buttons = explorer.train_now
    buttons.start.click()
    assert buttons.start.disabled and not buttons.stop.disabled
    buttons.run.join(timeout=600)
    assert buttons.run.state["status"] == "finished", buttons.run.error
    assert len(buttons.run.state["epochs"]) == 1
    assert "trained now: linear probe · bn eval · lr 1 · 2/class (finished)" in plotted_labels(explorer.view.figure)
    assert "trained now" in explorer.view.text
    assert not buttons.start.disabled and buttons.stop.disabled


def test_stop_ends_a_live_run():
    explorer = widgets.recorded_runs_explorer(
        FIXTURE, train_now=True, train_changes={"target": "synthetic10", "per_class": 20, "epochs": 50})
    explorer.controls["strategies"].value = ("finetune",)
    explorer.train_now.start.click()
    explorer.train_now.stop.click()
    explorer.train_now.run.join(timeout=600)
    assert explorer.train_now.run.state["status"] == "stopped"
    assert len(explorer.train_now.run.state["epochs"]) < 50


# ---------------------------------------------------------------------------------------------
# Chapter 03: the recipe ladder, class results, top 3
# ---------------------------------------------------------------------------------------------


def ladder() -> list[dict]:
    def run(label, preset, points):
        return {"label": label, "preset": preset, "test_acc": points[-1][1],
                "epochs": [{"epoch": i + 1, "elapsed": s, "val_acc": a} for i, (s, a) in enumerate(points)]}

    return [run("tutorial", "tutorial", [(100.0, 0.45), (210.0, 0.52)]),
            run("tutorial_fast seed 0", "tutorial_fast", [(5.0, 0.40), (9.0, 0.53), (14.0, 0.60)]),
            run("tutorial_fast seed 1", "tutorial_fast", [(5.0, 0.42), (10.0, 0.50), (15.0, 0.61)]),
            run("quick", "quick", [(30.0, 0.55), (60.0, 0.75)])]


def test_recipe_view_shows_what_a_recipe_changes_and_its_time_to_the_tutorials_accuracy():
    view = recipes.recipe_view(ladder(), "tutorial_fast")
    assert view.numbers["differences"] == recipes.recipe_differences("tutorial_fast")
    changed = {row["setting"] for row in view.numbers["differences"]}
    tutorial, fast = vars(train.PRESETS["tutorial"]), vars(train.PRESETS["tutorial_fast"])
    assert changed == {key for key in tutorial if tutorial[key] != fast[key]}
    assert view.numbers["target"] == 0.52
    assert view.numbers["time_to_target"] == {"tutorial_fast seed 0": 9.0, "tutorial_fast seed 1": 15.0, "tutorial": 210.0}
    assert view.numbers["highlighted"] == ["tutorial_fast seed 0", "tutorial_fast seed 1"]


def test_recipe_ladder_steps_through_the_recipes():
    explorer = widgets.recipe_ladder(ladder())
    explorer.controls["recipe"].value = "quick"
    assert explorer.view.numbers["highlighted"] == ["quick"]
    assert explorer.view.numbers["time_to_target"]["quick"] == 30.0
    explorer.controls["recipe"].value = "full"
    assert explorer.view.numbers["highlighted"] == []
    assert "no recorded run" in " ".join(t.get_text() for t in explorer.view.figure.axes[0].texts)
    explorer.controls["x"].value = "epoch"
    assert explorer.view.figure.axes[0].get_xlabel() == "epoch"


def test_run_from_history_keeps_the_validated_epochs():
    history = train.History(epochs=[{"epoch": 1, "val_acc": 0.3, "elapsed": 2.0, "train_loss": 2.0},
                                    {"epoch": 2, "val_acc": 0.4, "elapsed": 4.0, "train_loss": 1.5}])
    run = recipes.run_from_history(history, "quick", test_acc=0.45)
    assert run == {"label": "quick", "preset": "quick", "test_acc": 0.45,
                   "epochs": [{"epoch": 1, "val_acc": 0.3, "elapsed": 2.0}, {"epoch": 2, "val_acc": 0.4, "elapsed": 4.0}]}
    # Without a test accuracy the run has none: its last validation accuracy is not passed off as one.
    assert recipes.run_from_history(history, "quick")["test_acc"] is None


def test_the_ladders_tables_label_validation_and_test_accuracies_apart():
    runs = ladder()
    runs[0]["test_acc"] = None   # a run whose test accuracy was not measured
    rows = recipes.run_rows(runs, 0.52)
    assert rows[0]["final val accuracy"] == "52.0%" and rows[0]["test accuracy"] == "-"
    assert rows[-1] == {"run": "quick", "epochs": 2, "final val accuracy": "75.0%", "test accuracy": "75.0%",
                        "training seconds": "60", "seconds to 52.0% (val)": "30"}
    table = recipes.ladder_table(runs)
    assert table.splitlines()[0].split() == ["run", "epochs", "final", "val", "accuracy", "test", "accuracy",
                                             "training", "seconds", "seconds", "to", "52.0%", "(val)"]
    assert len(table.splitlines()) == 1 + len(runs)
    view = recipes.recipe_view(runs, "tutorial_fast")
    assert "final val accuracy" in view.text and "seconds to 52.0% (val)" in view.text


@pytest.fixture(scope="module")
def synthetic_test():
    return data.per_class_subset(data.load_dataset("synthetic10", "test"), 12)


def untrained(seed: int):
    torch.manual_seed(seed)
    return models.build_model("fastnet", 10)


def test_class_results_match_the_training_module(synthetic_test):
    model = untrained(0)
    cache = predictions.PredictionCache(model)
    view = predictions.class_results_view(cache.probabilities(synthetic_test), synthetic_test.labels, synthetic_test.classes)
    assert torch.equal(view.numbers["matrix"], train.confusion_matrix(model, synthetic_test))
    assert torch.allclose(view.numbers["per_class"], train.per_class_accuracy(model, synthetic_test), equal_nan=True)
    bars = predictions.class_results_view(cache.probabilities(synthetic_test), synthetic_test.labels,
                                          synthetic_test.classes, show="accuracy per class")
    heights = sorted(bar.get_height() for bar in bars.figure.axes[0].patches)
    assert heights == pytest.approx(sorted(view.numbers["per_class"].nan_to_num(0).tolist()))


def test_class_results_explorer_switches_checkpoints(synthetic_test):
    explorer = widgets.class_results_explorer({"seed 0": untrained(0), "seed 1": untrained(1)}, synthetic_test)
    first = explorer.view.numbers["matrix"]
    explorer.controls["checkpoint"].value = "seed 1"
    assert torch.equal(explorer.view.numbers["matrix"], train.confusion_matrix(untrained(1), synthetic_test))
    assert not torch.equal(first, explorer.view.numbers["matrix"])
    explorer.controls["show"].value = "accuracy per class"
    assert explorer.view.figure.axes[0].get_ylabel() == "accuracy"


def test_explorers_given_prediction_caches_share_them_and_predict_each_image_once(synthetic_test, monkeypatch):
    from tl_lessons.widgets import predictions

    calls = []
    real_predict = predictions.predict

    def counting_predict(model, *args, **kwargs):
        calls.append(model)
        return real_predict(model, *args, **kwargs)

    monkeypatch.setattr(predictions, "predict", counting_predict)
    model = untrained(0)
    answers = {"seed 0": widgets.PredictionCache(model), "seed 1": widgets.PredictionCache(untrained(1))}
    probabilities = answers["seed 0"].probabilities(synthetic_test)   # a chapter cell asks first
    explorer = widgets.class_results_explorer(answers, synthetic_test)
    explorer.controls["checkpoint"].value = "seed 1"
    widgets.top3_explorer(answers, synthetic_test).controls["checkpoint"].value = "seed 1"
    assert len(calls) == 2 and calls[0] is model      # one pass per model, whichever widget asked
    first = widgets.class_results_view(probabilities, synthetic_test.labels, synthetic_test.classes)
    assert torch.equal(first.numbers["matrix"], train.confusion_matrix(model, synthetic_test))


def test_class_results_refuse_a_model_of_other_classes(synthetic_test):
    with pytest.raises(ConfigError, match="other classes"):
        widgets.class_results_explorer({"100-way": (models.build_model("fastnet", 100), {"classes": [str(c) for c in range(100)],
                                                                                         "mean": (0.5,) * 3, "std": (0.25,) * 3})},
                                       synthetic_test)


def test_top3_view_names_the_three_likeliest_classes():
    probabilities = torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05])
    view = predictions.top3_view(torch.zeros(3, 32, 32, dtype=torch.uint8), probabilities, 3, list("abcde"))
    assert view.numbers["top"] == [("b", 0.5), ("d", pytest.approx(0.3)), ("a", pytest.approx(0.1))]
    assert view.numbers["rank"] == 2
    assert predictions.top3_view(torch.zeros(3, 32, 32, dtype=torch.uint8), probabilities, 4, list("abcde")).numbers["rank"] is None


def test_top3_explorer_picks_images_by_class_and_mistakes(synthetic_test):
    model = untrained(0)
    explorer = widgets.top3_explorer({"untrained": model}, synthetic_test)
    predicted = train.predict(model, synthetic_test).argmax(1)
    explorer.controls["class_name"].value = synthetic_test.classes[3]
    assert explorer.controls["number"].max == 11  # 12 images per class
    explorer.controls["mistakes_only"].value = True
    wrong = ((synthetic_test.labels == 3) & (predicted != synthetic_test.labels)).sum().item()
    assert explorer.controls["number"].max == wrong - 1
    for number in range(wrong):
        explorer.controls["number"].value = number
        assert explorer.view.numbers["rank"] != 1
        assert explorer.view.text.split("true class: ")[1].startswith(synthetic_test.classes[3])


# ---------------------------------------------------------------------------------------------
# Chapter 01: the dataset browser
# ---------------------------------------------------------------------------------------------


def small_set() -> ImageSet:
    """12 images of 3 classes in 2 superclasses; image i is filled with the value i."""
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    images = torch.arange(12, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).contiguous()
    return ImageSet(images, labels, ["cat", "dog", "truck"], "tiny", "test", "made in the test", (0.5,) * 3, (0.25,) * 3,
                    coarse_labels=torch.tensor([0] * 8 + [1] * 4), coarse_classes=["animal", "vehicle"])


def answers(predicted: list[int]) -> torch.Tensor:
    return F.one_hot(torch.tensor(predicted), 3).float() * 0.8 + 0.2 / 3


PREDICTED = [0, 1, 0, 0, 0, 1, 0, 1, 2, 2, 1, 2]  # wrong: images 1 (cat as dog), 4 and 6 (dog as cat), 10 (truck as dog)


def test_browse_view_shows_only_mistakes_when_asked():
    ds = small_set()
    view = browse_view(ds, answers(PREDICTED), ds.classes, mistakes_only=True, count=12)
    assert sorted(view.numbers["shown"].tolist()) == [1, 4, 6, 10]
    assert not view.numbers["correct"].any()
    assert {axis.title.get_color() for axis in view.figure.axes if axis.images} == {plots.WRONG_COLOR}
    everything = browse_view(ds, answers(PREDICTED), ds.classes, count=12)
    assert everything.numbers["correct"].sum().item() == 8


def test_browse_view_filters_by_class_and_superclass_and_counts_confusions():
    ds = small_set()
    dogs = browse_view(ds, answers(PREDICTED), ds.classes, class_name="dog", count=12)
    assert sorted(dogs.numbers["shown"].tolist()) == [4, 5, 6, 7]
    assert dogs.numbers["table"][0] == {"true class": "dog", "predicted as": "cat", "images": 2, "share of the true class": "50.0%"}
    vehicles = browse_view(ds, answers(PREDICTED), ds.classes, superclass="vehicle", count=12)
    assert sorted(vehicles.numbers["shown"].tolist()) == [8, 9, 10, 11]
    assert [(r["true class"], r["predicted as"]) for r in vehicles.numbers["table"]] == [("truck", "dog")]
    with pytest.raises(ConfigError):
        browse_view(ds, answers(PREDICTED), ds.classes, class_name="leopard")


def test_browse_view_draws_a_page_by_seed_and_any_dataset_size():
    ds = small_set()
    pages = [browse_view(ds, answers(PREDICTED), ds.classes, count=4, seed=seed).numbers["shown"].tolist() for seed in (0, 0, 1)]
    assert pages[0] == pages[1] != pages[2] and len(pages[0]) == 4
    shown_values = [int(axis.images[0].get_array()[0, 0, 0]) for axis in
                    browse_view(ds, answers(PREDICTED), ds.classes, count=4, seed=0).figure.axes if axis.images]
    assert shown_values == pages[0]  # image i is filled with i: the pictures are the chosen images


def test_browse_view_on_a_dataset_the_model_does_not_know():
    ds = small_set()
    view = browse_view(ds, answers(PREDICTED), ["plane", "car", "ship"], class_name="dog", count=12)
    assert view.numbers["correct"] is None
    assert view.numbers["table"] == [{"class": "dog", "images": 4, "most often called": "plane", "share": "50%"}]
    assert "looks like" in view.figure.axes[0].get_title()
    with pytest.raises(ConfigError, match="own classes"):
        browse_view(ds, answers(PREDICTED), ["plane", "car", "ship"], mistakes_only=True)


def test_dataset_browser_follows_its_controls():
    model = untrained(0)
    synthetic = data.load_dataset("synthetic10", "test")
    meta = {"classes": synthetic.classes, "mean": synthetic.mean, "std": synthetic.std}
    browser = dataset_browser(["synthetic10", "synthetic100"], model=(model, meta))
    wrong = train.predict(model, synthetic).argmax(1) != synthetic.labels  # the same set: synthetic data is seeded
    browser.controls["mistakes_only"].value = True
    shown = browser.view.numbers["shown"]
    assert len(shown) == 16 and wrong[shown].all()
    browser.controls["class_name"].value = synthetic.classes[2]
    assert browser.view.numbers["matching"] == (wrong & (synthetic.labels == 2)).sum().item()
    assert (synthetic.labels[browser.view.numbers["shown"]] == 2).all()
    assert "mistakes only" in browser.view.caption and synthetic.classes[2] in browser.view.caption
    browser.controls["dataset"].value = "synthetic100"
    assert browser.controls["mistakes_only"].disabled and not browser.controls["mistakes_only"].value
    assert browser.controls["superclass"].disabled
    assert len(browser.controls["class_name"].options) == 101 and browser.controls["class_name"].value == "all"
    assert browser.view.numbers["correct"] is None and browser.message == ""


# ---------------------------------------------------------------------------------------------
# In a real kernel without a browser (as nbval runs the chapters)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # starts a Jupyter kernel: not for the inner loop
def test_a_headless_kernel_records_the_static_views(tmp_path):
    cells = ["from tl_lessons import widgets",
             "widgets.softmax_explorer()",
             "widgets.gradient_check_explorer(teacher=True)",
             f"widgets.recorded_runs_explorer({str(FIXTURE)!r})",
             "explorer = widgets.softmax_explorer()\nexplorer",
             "explorer.controls['temperature'].value = 4.0"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    # A control changed later replaces the shown view in place (update_display_data), as a click would.
    assert "logits / T     : [0.500, 0.250, 0.025]" in notebook.cells[4].outputs[2].data["text/plain"]
    assert notebook.cells[5].outputs == []
    for cell in notebook.cells[1:5]:
        kinds = [sorted(output.get("data", {})) for output in cell.outputs]
        assert [output.output_type for output in cell.outputs] == ["display_data"] * 3, cell.outputs
        assert "application/vnd.jupyter.widget-view+json" in kinds[0]
        assert "image/png" in kinds[1] and "text/html" in kinds[2]
        assert cell.outputs[0].data["text/plain"].startswith("(Controls:")
    saved = nbformat.writes(notebook)
    widget_state = json.dumps(notebook.metadata.get("widgets", {}))
    assert len(widget_state) < 40_000, "the controls' saved state must stay small: no images inside widgets"
    assert len(saved) < 250_000
