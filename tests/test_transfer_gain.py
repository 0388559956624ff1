"""tl_lessons.transfer_gain: chapter 05's experiments, on small inputs."""
import dataclasses

import pytest
import torch

from tl_lessons import data, transfer_gain, verdicts
from tl_lessons.transfer_setup import TransferSetup


def test_labels_to_reach_interpolates_on_a_log_scale_and_says_none_beyond_the_curve():
    curve = {1: 0.10, 5: 0.20, 20: 0.30}
    assert transfer_gain.labels_to_reach(curve, 0.25) == 10.0        # halfway between 5 and 20 on a log scale
    assert transfer_gain.labels_to_reach(curve, 0.05) == 1.0
    assert transfer_gain.labels_to_reach(curve, 0.35) is None


def test_labels_saved_says_what_the_source_is_worth():
    worth = transfer_gain.labels_saved({"scratch": {1: 0.1, 5: 0.2, 20: 0.3}, "finetune": {5: 0.25}}, "finetune")
    assert worth["needed"] == 10.0 and "about 2.0 times the labels" in worth["sentence"]
    none = transfer_gain.labels_saved({"scratch": {1: 0.1, 5: 0.3}, "finetune": {5: 0.25}}, "finetune")
    assert "saves no labels" in none["sentence"]
    beyond = transfer_gain.labels_saved({"scratch": {1: 0.1, 5: 0.2}, "finetune": {5: 0.4}}, "finetune")
    assert beyond["needed"] is None and "even with 5 labels per class" in beyond["sentence"]
    unproven = transfer_gain.labels_saved({"scratch": {1: 0.1, 5: 0.2}, "finetune": {5: 0.4}}, "finetune", real=False)
    assert "not shown to save any labels" in unproven["sentence"]


def test_probes_trained_side_by_side_are_each_the_probe_they_would_be_alone():
    generator = torch.Generator().manual_seed(0)
    features, labels = torch.randn(60, 8, generator=generator), torch.arange(60) % 3
    together = transfer_gain.probe_answers(features, labels, features, labels, 3, seeds=(4, 7), epochs=3)
    for row, seed in zip(together, (4, 7)):
        alone = transfer_gain.probe_answers(features, labels, features, labels, 3, seeds=(seed,), epochs=3)[0]
        assert torch.equal(row, alone)
    assert not torch.equal(together[0], together[1]) or together[0].mean() > 0.9   # two seeds: two probes


def test_class_gains_are_per_class_means_over_seeds_largest_first():
    test_set = data.load_dataset("synthetic10", "test").take(torch.tensor([0, 1, 2, 3]))
    test_set = dataclasses.replace(test_set, labels=torch.tensor([0, 0, 1, 1]), classes=["a", "b"])
    transfer = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    scratch = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 1]])
    rows = transfer_gain.class_gains(transfer.float(), scratch.float(), test_set)
    assert [(row["class"], row["gain"]) for row in rows] == [("a", 0.75), ("b", -0.75)]


def test_the_family_corrects_both_targets_together():
    generator = torch.Generator().manual_seed(0)
    tables = {name: {"scratch": (torch.rand(5, 200, generator=generator) < 0.3).float(),
                     "finetune": (torch.rand(5, 200, generator=generator) < p).float()}
              for name, p in (("near", 0.6), ("far", 0.3))}
    rows = transfer_gain.family(tables, names=("finetune",))
    alone = verdicts.against(tables["near"], "scratch")[0]
    near = transfer_gain.find(rows, "near", "finetune")
    assert near["p_adjusted"] == pytest.approx(min(1.0, 2 * alone["p"]), rel=1e-6)   # the smaller of two p-values, times 2
    assert near["verdict"] == "above" and transfer_gain.find(rows, "far", "finetune")["verdict"] == "within the noise"
    table = transfer_gain.verdict_table(rows)
    assert {row["target"] for row in table} == {"near", "far"}


def test_a_curve_table_shows_the_gap_of_the_second_strategy_over_the_first():
    rows = transfer_gain.curve_table({"scratch": {1: 0.1, 5: 0.2}, "finetune": {1: 0.3, 5: 0.35}})
    assert [row["gap"] for row in rows] == ["+20.0 points", "+15.0 points"]


@pytest.mark.slow
def test_tuning_keeps_the_best_validation_score_of_each_strategy():
    base = dataclasses.replace(transfer_gain.BASE, target="synthetic100", epochs=1)
    tuned = transfer_gain.tune(transfer_gain.setups_for("near", base, ("scratch", "linear_probe")),
                               lrs=(0.03, 0.3), augments=(True, False))
    for row in tuned.values():
        best = max(row["scores"].values())
        assert row["scores"][(row["setup"].lr, transfer_gain.augmented(row["setup"]))] == best
        assert len(row["scores"]) == 4
        assert row["setup"].classes == "near"
    assert isinstance(tuned["scratch"]["setup"], TransferSetup)


def test_tuning_chooses_on_validation_never_on_the_test_split_and_can_keep_each_setups_rate(monkeypatch):
    seen = []

    def fake_compare(trials, root=None, **options):
        seen.append((trials, options))
        return [{"final_val_acc": 0.9 if (t.lr, transfer_gain.augmented(t)) == (0.1, False) else 0.5} for t in trials]

    monkeypatch.setattr(transfer_gain.analysis, "compare_strategies", fake_compare)
    setups = [dataclasses.replace(transfer_gain.BASE, strategy=name, lr=lr) for name, lr in (("scratch", 0.3), ("freeze", 0.1))]
    tuned = transfer_gain.tune(setups, lrs=(0.1, 0.3))
    assert [options["test"] for _, options in seen] == [False]  # no tuning run is scored on the test split
    assert transfer_gain.choice(tuned["scratch"]["setup"]) == "lr 0.1, plain images"
    # lrs None: each setup keeps its own rate; only augmentation is chosen (two runs each).
    seen.clear()
    tuned = transfer_gain.tune(setups, lrs=None)
    assert [(t.strategy, t.lr, transfer_gain.augmented(t)) for t in seen[0][0]] == [
        ("scratch", 0.3, True), ("scratch", 0.3, False), ("freeze", 0.1, True), ("freeze", 0.1, False)]
    assert transfer_gain.choice(tuned["freeze"]["setup"]) == "lr 0.1, plain images"
    assert transfer_gain.choice(tuned["scratch"]["setup"]) == "lr 0.3, augmented"  # a tie: augmentation on, tried first


def test_label_budgets_stop_where_the_smallest_target_class_runs_out():
    per_class = min(data.load_dataset("synthetic100", "train").class_counts())
    assert transfer_gain.label_budgets("synthetic100", wanted=(1, 5, per_class - 1, per_class, 10_000)) == (
        1, 5, per_class - 1)


def test_the_best_transfer_arm_is_chosen_by_its_validation_score():
    def row(lr, score):
        return {"setup": transfer_gain.with_augment(dataclasses.replace(transfer_gain.BASE, lr=lr), False),
                "scores": {(lr, False): score, (0.3, True): 0.99}}
    tuned = {"linear_probe": row(0.1, 0.30), "finetune": row(1.0, 0.25)}
    assert transfer_gain.best_transfer(tuned) == "linear_probe"   # its chosen setting, not another one's score
    tuned["finetune"] = row(1.0, 0.35)
    assert transfer_gain.best_transfer(tuned) == "finetune"
