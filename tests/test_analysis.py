"""Chapter 04's sweeps and measurements, on a tiny source model and tiny synthetic sets."""
import copy
import dataclasses
import json

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from tl_lessons import analysis, checkpoints, data, models, train, transfer, transfer_setup
from tl_lessons.errors import ConfigError
from tl_lessons.transfer_setup import TransferSetup
from tl_lessons.synthetic import make_synthetic

WIDTH = (4, 8, 8, 16)
SMALL_SETS = {}


def small_dataset(name, split="train", root=None, download=False, seed=0):
    """synthetic10/100 with 4 training (2 test) images per class: the full sets take seconds to draw."""
    key = (name, split)
    if key not in SMALL_SETS:
        SMALL_SETS[key] = make_synthetic(int(name.removeprefix("synthetic")), split, n_per_class=4 if split == "train" else 2)
    return SMALL_SETS[key]


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    """A one-epoch transfer from a tiny FastNet 'trained' on synthetic10 to a tiny synthetic100."""
    monkeypatch.setattr(data, "load_dataset", small_dataset)
    source_set = small_dataset("synthetic10")
    torch.manual_seed(0)
    source = models.FastNet(10, width=WIDTH)
    path = checkpoints.save_checkpoint(tmp_path / "source.pt", source, arch="fastnet", classes=source_set.classes,
                                       mean=source_set.mean, std=source_set.std, dataset="synthetic10",
                                       source="test", arch_options={"width": WIDTH})
    return TransferSetup(source=str(path), target="synthetic100", per_class=2, val_per_class=2, epochs=1,
                         batch_size=64, k=2)


def backbone_state(model):
    return {name: tensor for name, tensor in model.state_dict().items() if not name.startswith("head.")}


def test_the_strategy_tables_rates_are_the_best_recorded_ones():
    assert set(analysis.TUNING_RECORD) == set(transfer.STRATEGIES)
    for name, scores in analysis.TUNING_RECORD.items():
        assert tuple(scores) == analysis.TUNING_LRS
        best = [lr for lr in analysis.TUNING_LRS if scores[lr] == max(scores.values())]
        assert transfer.STRATEGY_TABLE[name].lr == best[0]  # a tie goes to the smaller rate


def test_strategy_setups_share_the_budget_and_take_tuned_rates():
    setups = analysis.strategy_setups()
    assert [s.strategy for s in setups] == ["scratch", "linear_probe", "freeze", "finetune", "discriminative",
                                            "gradual", "head_first"]
    assert {(s.epochs, s.batch_size, s.seed, s.target) for s in setups} == {(10, 64, 0, "cifar100")}
    assert [s.lr for s in setups] == [analysis.STRATEGY_LRS[s.strategy] for s in setups]
    assert analysis.strategy_setups(lrs={"finetune": 0.5}, strategies=("finetune",))[0].lr == 0.5


@pytest.mark.slow
def test_compare_strategies_reports_budget_and_what_trained(setup):
    setups = analysis.strategy_setups(setup, strategies=("scratch", "linear_probe", "freeze"))
    results = analysis.compare_strategies(setups)
    scratch, probe, frozen = results
    head_params = WIDTH[-1] * 100 + 100
    assert probe["trainable_params"] == head_params
    assert scratch["trainable_params"] == scratch["total_params"] > frozen["trainable_params"] > head_params
    for result in results:
        assert result["status"] == "finished" and len(result["epochs"]) == 1 and result["seconds"] > 0
        assert 0 <= result["best_val_acc"] <= 1 and "model" not in result
        assert 0 <= result["test_acc"] <= 1          # measured once, after training
        assert result["train_images"] == 200 and result["val_images"] == 200
    json.dumps(results)  # plain data
    rows = analysis.summary(results)
    assert rows[1]["trainable at start"] == f"{head_params:,}"
    assert rows[0]["test acc %"] == f"{100 * scratch['test_acc']:.1f}" and rows[0]["seeds"] == 1


@pytest.mark.slow
def test_seeds_change_the_training_not_the_images_and_spread_sums_them_up(setup):
    results = analysis.compare_strategies([dataclasses.replace(setup, strategy="finetune", lr=0.1)], seeds=(0, 1, 2))
    assert [r["config"]["seed"] for r in results] == [0, 1, 2]
    assert len({r["train_images"] for r in results}) == 1
    (row,) = analysis.spread(results, "test_acc")
    values = [r["test_acc"] for r in results]
    assert row["n"] == 3 and row["low"] == min(values) and row["high"] == max(values)
    assert row["mean"] == pytest.approx(sum(values) / 3)
    assert analysis.summary(results)[0]["test acc %"].startswith(f"{100 * row['mean']:.1f} (")


@pytest.mark.slow
def test_linear_probe_keeps_the_backbone_and_finetune_changes_it(setup):
    source, _ = checkpoints.load_checkpoint(setup.source)
    probe = analysis.train_setup(dataclasses.replace(setup, strategy="linear_probe"))["model"]
    tuned = analysis.train_setup(dataclasses.replace(setup, strategy="finetune", lr=0.1))["model"]
    for name, tensor in backbone_state(source).items():
        assert torch.equal(probe.state_dict()[name], tensor), name
    assert any(not torch.equal(tuned.state_dict()[name], tensor) for name, tensor in backbone_state(source).items())


@pytest.mark.slow
def test_label_regimes_and_freeze_depth(setup):
    rows = analysis.label_regimes(analysis.strategy_setups(setup, strategies=("linear_probe",)), (1, 2), seeds=(0,))
    assert [(r["per_class"], r["train_images"], r["classes"]) for r in rows] == [(1, 100, 100), (2, 200, 100)]
    # Equal optimiser steps: 100 images make 2 batches of 64 per epoch, 200 make 4, so 1 per class trains 2 epochs.
    assert [r["config"]["epochs"] for r in rows] == [2, 1]
    depth = analysis.freeze_depth_curve(setup, (0, 4), seeds=(0,))
    trainable = [r["trainable_params"] for r in depth]
    assert [r["config"]["k"] for r in depth] == [0, 4] and trainable[0] > trainable[1] == WIDTH[-1] * 100 + 100
    figure = analysis.plot_label_regimes(rows)
    assert [line.get_xdata().tolist() for line in figure.axes[0].get_lines()] == [[1, 2]]
    assert isinstance(analysis.plot_freeze_depth(depth, models.stage_names(models.FastNet(10))), Figure)
    assert isinstance(analysis.plot_comparison(depth), Figure)


def test_equal_step_epochs():
    base = TransferSetup(per_class=5, epochs=10, batch_size=64)
    assert [analysis.equal_step_epochs(base, n, 100) for n in (1, 2, 5)] == [40, 20, 10]
    assert analysis.steps_per_epoch(129, 64) == 2   # a last batch of one image is dropped


def test_a_sweep_shows_one_progress_bar_over_its_runs(setup, monkeypatch, capsys):
    monkeypatch.setattr(analysis, "train_setup", lambda trial, root=None, test=True, **scoring: {"label": trial.label(), "model": None})
    setups = analysis.strategy_setups(setup, strategies=("finetune", "linear_probe", "scratch"))
    results = analysis.compare_strategies(setups, progress=True, desc="tuning")
    assert [r["label"] for r in results] == [s.label() for s in setups] and "model" not in results[0]
    bar = capsys.readouterr().err
    assert "tuning" in bar and "3/3" in bar and setups[-1].label() in bar
    analysis.compare_strategies(setups)  # without progress: silent
    assert capsys.readouterr().err == ""


def test_stage_output_shapes_give_the_real_flattened_sizes():
    rows = analysis.stage_output_shapes(models.build_model("fastnet", 10))
    assert rows[-2] == {"stage": "stage3", "shape": (128, 4, 4), "flattened": 2048}
    assert rows[-1]["shape"] == (10,)
    tutorial = analysis.stage_output_shapes(models.TutorialNet(10))
    assert tutorial[1] == {"stage": "conv2", "shape": (16, 5, 5), "flattened": 400}
    assert analysis.stage_output_shapes(models.build_model("fastnet", 10), image_size=64)[-2]["shape"] == (128, 8, 8)


def test_copy_matching_weights_skips_the_head_and_reports_it():
    source, target = models.FastNet(10, width=WIDTH), models.FastNet(100, width=WIDTH)
    head_before = copy.deepcopy(target.head.state_dict())
    report = analysis.copy_matching_weights(source, target)
    assert report["missing"] == ["head.fc.weight", "head.fc.bias"] == report["skipped"]
    assert report["unexpected"] == []
    for name, tensor in backbone_state(source).items():
        assert torch.equal(target.state_dict()[name], tensor)
    assert all(torch.equal(target.head.state_dict()[k], v) for k, v in head_before.items())


def test_with_head_shares_the_backbone_and_forgetting_is_zero_without_change():
    source, tuned = models.FastNet(10, width=WIDTH).eval(), models.FastNet(100, width=WIDTH)
    again = analysis.with_head(tuned, source.head)
    assert again.stem is tuned.stem and again.head is source.head and models.stage_names(again)[-1] == "head"
    test_set = small_dataset("synthetic10", "test")
    other = models.FastNet(100, width=WIDTH).eval()
    result = analysis.forgetting(source, {"unchanged": copy.deepcopy(source), "other": other}, test_set)
    assert result["unchanged"]["forgotten"] == 0 and result["unchanged"]["before"] == train.evaluate(source, test_set)[1]
    expected = train.evaluate(nn.Sequential(*list(other.children())[:-1], source.head), test_set)[1]
    assert result["other"]["after"] == expected


def test_the_helpers_normalise_with_the_statistics_they_are_given():
    """Features, forgetting and joint training see images scaled as the source learnt them."""
    from tl_lessons.loader import normalise

    torch.manual_seed(0)
    source = models.FastNet(10, width=WIDTH).eval()
    test_set = small_dataset("synthetic10", "test")
    mean, std = (0.2, 0.3, 0.4), (0.5, 0.6, 0.7)
    features = analysis.penultimate_features(source, test_set, mean=mean, std=std)
    with torch.no_grad():
        expected = nn.Sequential(*list(source.children())[:-1], *list(source.head.children())[:-1])(
            normalise(test_set.images, mean, std))
    torch.testing.assert_close(features, expected.flatten(1))
    assert not torch.allclose(features, analysis.penultimate_features(source, test_set))

    result = analysis.forgetting(source, {"same": copy.deepcopy(source)}, test_set, mean=mean, std=std)
    assert result["same"]["before"] == train.evaluate(source, test_set, mean=mean, std=std)[1]

    target = small_dataset("synthetic100", "train")
    joint = analysis.joint_train(source, small_dataset("synthetic10"), target, test_set, target, epochs=1,
                                 mean=mean, std=std)
    assert joint["history"][0]["source_acc"] == train.evaluate(joint["source_model"], test_set, mean=mean, std=std)[1]


def test_running_stats_shift_measures_batchnorm_drift():
    model = models.FastNet(10, width=WIDTH)
    before = analysis.batchnorm_statistics(model)
    unchanged = analysis.running_stats_shift(before, analysis.batchnorm_statistics(model))
    assert unchanged[0] == {"layer": "stem.bn", "mean_shift": 0.0, "var_ratio": 1.0}
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32) * 3 + 2)  # data unlike the statistics: they move
    moved = analysis.running_stats_shift(before, analysis.batchnorm_statistics(model))
    assert len(moved) == len(before) and all(row["mean_shift"] > 0 for row in moved)
    assert moved[0]["var_ratio"] > 1


def test_penultimate_features_are_the_classifier_inputs():
    model = models.FastNet(10, width=WIDTH).eval()
    test_set = small_dataset("synthetic10", "test")
    features = analysis.penultimate_features(model, test_set, batch_size=7)
    x = next(iter(train.Loader(test_set, len(test_set))))[0]
    with torch.no_grad():
        expected = model.head[:-1](nn.Sequential(*list(model.children())[:-1])(x))
    assert torch.allclose(features, expected, atol=1e-5)


def test_pca_2d_keeps_the_directions_of_largest_variance():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(500, 6, generator=generator) * torch.tensor([5.0, 0.1, 3.0, 0.1, 0.1, 0.1])
    points = analysis.pca_2d(features)
    assert points.shape == (500, 2)
    assert torch.allclose(points.var(0), torch.tensor([25.0, 9.0]), rtol=0.15)


def test_class_separation_is_high_for_clusters_and_low_for_random_labels():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat(50)
    clusters = torch.eye(4)[labels] * 10 + torch.randn(200, 4, generator=generator) * 0.1
    assert analysis.class_separation(clusters, labels) > 0.99
    assert analysis.class_separation(clusters, labels[torch.randperm(200, generator=generator)]) < 0.1


@pytest.mark.slow
def test_fit_linear_map_learns_with_both_losses():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(30)
    features = torch.eye(3)[labels] * 2 + torch.randn(90, 3, generator=generator) * 0.2
    for loss in ("cross_entropy", "mse"):
        linear = analysis.fit_linear_map(features, labels, 3, loss=loss, steps=200, lr=0.05)
        assert analysis.map_accuracy(linear, features, labels) == 1.0
    with pytest.raises(ValueError):
        analysis.fit_linear_map(features, labels, 3, loss="hinge")


@pytest.mark.slow
def test_joint_training_and_gradient_ascent_on_the_target_loss():
    # As many source images as target images: an epoch ends with the smaller set.
    source_set, target_set = make_synthetic(10, "train", n_per_class=40), small_dataset("synthetic100")
    torch.manual_seed(0)
    source = models.FastNet(10, width=WIDTH)
    before = copy.deepcopy(source.state_dict())
    args = (source, source_set, target_set, source_set, target_set)
    joint = analysis.joint_train(*args, epochs=2, lr=0.05, batch_size=32)
    assert [row["epoch"] for row in joint["history"]] == [1, 2]
    assert joint["target_model"].stem is joint["source_model"].stem
    assert models.classifier(joint["target_model"]).out_features == 100
    assert all(torch.equal(source.state_dict()[k], v) for k, v in before.items())  # the source is copied
    ascent = analysis.joint_train(*args, source_weight=0.0, target_weight=-1.0, epochs=2, lr=0.05, batch_size=32)
    # Maximising the target loss: on the images it trained on the model ends at or below chance (1 %).
    assert ascent["history"][-1]["target_acc"] <= 0.01
    assert ascent["history"][-1]["target_loss"] > joint["history"][-1]["target_loss"]


@pytest.mark.slow
def test_sequential_fine_tuning_never_runs_the_source_images():
    """With source_weight 0 the source batches must not even pass through BatchNorm in training mode."""
    source_set, target_set = make_synthetic(10, "train", n_per_class=40), small_dataset("synthetic100")
    torch.manual_seed(0)
    source = models.FastNet(10, width=WIDTH)
    batch_sizes = []

    def record(module, inputs, output):  # a forward hook must return None, or it replaces the output
        if module.training:
            batch_sizes.append(len(inputs[0]))

    source.stem.register_forward_hook(record)
    analysis.joint_train(source, source_set, target_set, source_set, target_set, source_weight=0.0, epochs=1,
                         lr=0.05, batch_size=32)
    sequential = set(batch_sizes)
    batch_sizes.clear()
    analysis.joint_train(source, source_set, target_set, source_set, target_set, source_weight=1.0, epochs=1,
                         lr=0.05, batch_size=32)
    assert sequential == {32} and set(batch_sizes) == {64}   # joint: one batch of each task, together


@pytest.mark.slow
def test_forgetting_also_fits_a_fresh_probe_on_the_transferred_features():
    source_train, source_test = make_synthetic(10, "train", n_per_class=30), small_dataset("synthetic10", "test")
    torch.manual_seed(0)
    source = models.FastNet(10, width=WIDTH).eval()
    other = models.FastNet(100, width=WIDTH).eval()
    result = analysis.forgetting(source, {"same": copy.deepcopy(source), "other": other}, source_test, source_train)
    same = result["same"]
    assert same["after"] == same["before"] and same["probe after"] == same["probe before"]
    features = analysis.penultimate_features(other, source_train)
    centre, scale = features.mean(0), features.std(0) + 1e-6
    linear = analysis.fit_linear_map((features - centre) / scale, source_train.labels, 10)
    test_features = (analysis.penultimate_features(other, source_test) - centre) / scale
    assert result["other"]["probe after"] == analysis.map_accuracy(linear, test_features, source_test.labels)
    assert set(analysis.forgetting(source, {"same": source}, source_test)["same"]) == {"before", "after", "forgotten"}


@pytest.mark.parametrize("setting, says", [({"lr": "0.1"}, "learning rate must be a number above 0"),
                                            ({"epochs": 1.5}, "whole number of epochs")])
def test_joint_training_with_a_setting_that_cannot_train_is_a_sentence(setting, says):
    source_set = make_synthetic(10, "train", n_per_class=2)
    with pytest.raises(ConfigError, match=says):
        analysis.joint_train(models.FastNet(10, width=WIDTH), source_set, source_set, source_set, source_set, **setting)


def test_imagenet_transfer_normalises_with_imagenet_statistics(monkeypatch):
    seen = {}
    real_fit = train.fit

    def spying_fit(model, train_set, val_set, config, *args, **kwargs):
        seen["mean"], seen["std"] = config.mean, config.std
        return real_fit(model, train_set, val_set, config, *args, **kwargs)

    # The real weights need the network: the same network with random weights stands in for them.
    build = models.imagenet_resnet18
    monkeypatch.setattr(models, "imagenet_resnet18", lambda n: build(n, pretrained=False))
    monkeypatch.setattr(train, "fit", spying_fit)
    target = small_dataset("synthetic100")
    result = analysis.imagenet_transfer(target, small_dataset("synthetic100", "test"), epochs=1)
    assert (seen["mean"], seen["std"]) == (models.IMAGENET_MEAN, models.IMAGENET_STD)
    assert result["trainable_params"] == 512 * 100 + 100 and result["status"] == "finished"


def test_imagenet_transfer_offline_raises_the_lesson_error(monkeypatch):
    from tl_lessons.errors import WeightsUnavailableError

    def offline(n):
        raise WeightsUnavailableError("The ImageNet weights of ResNet-18 are not cached: connect once.")

    monkeypatch.setattr(models, "imagenet_resnet18", offline)
    with pytest.raises(WeightsUnavailableError):
        analysis.imagenet_transfer(small_dataset("synthetic100"), small_dataset("synthetic100", "test"))


def test_lookalike_votes_count_the_models_answers_per_class():
    from tl_lessons.imageset import ImageSet

    class Always(nn.Module):
        """A 'model' that answers class 3 ("cat") for everything."""
        def forward(self, x):
            out = torch.zeros(len(x), 10)
            out[:, 3] = 1.0
            return out

    images = torch.zeros(6, 3, 32, 32, dtype=torch.uint8)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    ds = ImageSet(images, labels, ["leopard", "rocket", "otter"], "cifar100", "train", "test", (0.5,) * 3, (0.25,) * 3)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    model = Always()
    model.dummy = nn.Linear(1, 1)   # predict() asks the model for its device
    rows = analysis.lookalike_votes(model, ds, classes, {"cat": ["leopard"], "airplane": ["rocket"]},
                                    mean=(0.5,) * 3, std=(0.25,) * 3)
    assert rows[0] == {"CIFAR-100 class": "leopard", "looks like": "cat", "images": 2, "most often predicted": "cat",
                       "share": "100%", "predicted as a lookalike": "100%", "agrees": True}
    assert rows[1]["CIFAR-100 class"] == "rocket" and rows[1]["agrees"] is False and rows[1]["images"] == 3


def test_a_runs_cost_is_extrapolated_from_its_first_steps():
    # 2 s to the first step, then 1 s a step: 99 more steps, and 640 evaluated images at a third of 1/64 s each.
    assert analysis.extrapolate([(1, 2.0), (3, 4.0), (5, 6.0)], 100, 64, 640) == pytest.approx(2 + 99 + 10 / 3)


def test_estimating_a_run_trains_only_its_first_steps():
    setup = TransferSetup(target="synthetic100", source="scratch", strategy="scratch", per_class=20, epochs=5,
                          batch_size=32, lr=0.1)
    model_batches = []
    original = transfer_setup.prepare

    def counting_prepare(*args, **kwargs):
        prepared = original(*args, **kwargs)
        prepared[0].register_forward_hook(lambda module, inputs, output: model_batches.append(len(inputs[0])))
        return prepared

    import unittest.mock
    with unittest.mock.patch.object(transfer_setup, "prepare", counting_prepare):
        seconds = analysis.estimate_seconds(setup, probe_steps=4)
    assert seconds > 0
    assert len(model_batches) == 5   # 4 measured steps after the first, of the run's 5 x 63 steps


def test_a_run_validated_once_ends_where_the_run_with_curves_ends(setup):
    setup = dataclasses.replace(setup, epochs=3)
    with_curves = analysis.train_setup(setup)
    at_the_end = analysis.train_setup(setup, curves=False)
    assert [e["val_acc"] is not None for e in with_curves["epochs"]] == [True] * 3
    assert [e["val_acc"] for e in at_the_end["epochs"]] == [None] * 3   # no check after each epoch
    # Validating draws no randomness: the training, the final validation and the test score are the same.
    assert at_the_end["final_val_acc"] == pytest.approx(with_curves["final_val_acc"])
    assert at_the_end["test_acc"] == pytest.approx(with_curves["test_acc"])
    assert at_the_end["best_val_acc"] is None and at_the_end["val_images"] == with_curves["val_images"]


def test_runs_are_scored_on_the_same_capped_part_of_the_test_split(setup):
    result = analysis.train_setup(setup, test_per_class=1)
    assert result["test_images"] == 100 and result["test_per_class"] == 1   # 1 of the 2 test images per class
    whole = analysis.train_setup(setup)
    assert whole["test_images"] == 200 and whole["test_per_class"] is None
    # A run scored on other test images is trained again rather than mixed into a sweep.
    again = analysis.compare_strategies([setup], known=[whole], test_per_class=1)
    assert again[0]["test_images"] == 100


def test_a_run_already_trained_is_reused_and_any_other_is_trained(monkeypatch):
    setup = TransferSetup(target="synthetic100", source="scratch", strategy="scratch", per_class=2, epochs=1, lr=0.1)
    trained = []
    monkeypatch.setattr(analysis, "train_setup", lambda s, root=None, test=True, **scoring: trained.append(s.seed) or {
        "config": s.to_dict(), "test_acc": 0.5 if test else None, "model": None, "label": s.label()})
    first = analysis.compare_strategies([setup], seeds=(0, 1))
    assert trained == [0, 1] and all("model" not in r for r in first)
    trained.clear()
    again = analysis.compare_strategies([setup, dataclasses.replace(setup, lr=0.2)], seeds=(0, 1, 2), known=first)
    assert trained == [2, 0, 1, 2]   # seed 2 of the first setup, and every seed of the other
    assert again[:2] == first and again[0] is not first[0]   # copies: a sweep may tag its own
    # A run trained without a test score is not reused where one is asked for.
    untested = analysis.compare_strategies([setup], seeds=(0,), test=False)
    trained.clear()
    analysis.compare_strategies([setup], seeds=(0,), known=untested)
    assert trained == [0]
