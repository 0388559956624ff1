"""What a run's model learnt, from its answers on validation images: the starting point, the handful's
top 3, the classes it mixes up, accuracy per superclass, and two runs compared image by image."""

import dataclasses

import pytest
import torch

from tl_lessons import models, train
from tl_lessons.dashboard import learnt
from tl_lessons.imageset import ImageSet
from tl_lessons.synthetic import make_synthetic


@pytest.fixture(scope="module")
def val_set():
    return make_synthetic(100, "test", n_per_class=3)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.build_model("fastnet", 100)


def test_the_handful_is_fixed_and_shows_different_classes(val_set):
    chosen = learnt.handful(val_set)
    assert len(chosen) == learnt.HANDFUL and len(set(chosen)) == learnt.HANDFUL
    assert len({int(val_set.labels[i]) for i in chosen}) == learnt.HANDFUL
    assert learnt.handful(val_set) == chosen  # every run of this set is watched on the same images


def test_the_fingerprint_tells_two_validation_sets_apart(val_set):
    same = make_synthetic(100, "test", n_per_class=3)
    assert learnt.describe_images(same) == learnt.describe_images(val_set)
    assert learnt.describe_images(val_set)["images"] == len(val_set)
    other = make_synthetic(100, "test", n_per_class=3, seed=1)
    assert learnt.describe_images(other)["fingerprint"] != learnt.describe_images(val_set)["fingerprint"]


def test_the_starting_point_is_what_evaluate_says_on_the_same_images(model, val_set):
    point = learnt.starting_point(model, val_set, val_set.mean, val_set.std, size=120)
    sample = val_set.take(learnt.fixed_order(len(val_set))[:120])
    loss, accuracy = train.evaluate(model, sample, mean=val_set.mean, std=val_set.std)
    assert point["kind"] == "starting_point" and point["epoch"] == 0 and point["images"] == 120
    assert point["val_loss"] == pytest.approx(loss, rel=1e-4) and point["val_acc"] == pytest.approx(accuracy)
    assert point["chance"] == 0.01


def test_top3_are_the_three_most_likely_classes(model, val_set):
    indices = learnt.handful(val_set)[:3]
    probabilities = train.predict(model, val_set.images[indices], val_set.mean, val_set.std)
    for entry, row in zip(learnt.top3(model, val_set, indices, val_set.mean, val_set.std), probabilities):
        values, classes = row.topk(3)
        assert [c for c, _ in entry["top"]] == classes.tolist()
        assert [p for _, p in entry["top"]] == pytest.approx(values.tolist(), abs=1e-4)
        assert entry["label"] == int(val_set.labels[entry["index"]])


def test_a_closer_look_adds_the_starting_point_and_the_handfuls_answers(val_set):
    train_set = make_synthetic(100, "train", n_per_class=2)
    torch.manual_seed(0)
    model = models.build_model("fastnet", 100)
    config = dataclasses.replace(train.PRESETS["quick"], epochs=2, batch_size=50)
    stream = train.fit(model, train_set, val_set, config, report_predictions=True)
    events = list(learnt.closer_look(stream, model, val_set, val_set.mean, val_set.std))
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["start", "starting_point"] and kinds.count("predictions") == 2
    for epoch, predictions in zip((e for e in events if e["kind"] == "epoch"), (e for e in events if e["kind"] == "predictions")):
        assert predictions["epoch"] == epoch["epoch"] and len(predictions["predicted"]) == len(val_set)
        # The answers are those of the epoch's own validation pass: they give its accuracy.
        right = (torch.tensor(predictions["predicted"]) == val_set.labels).float().mean().item()
        assert right == pytest.approx(epoch["val_acc"])
        assert [entry["index"] for entry in predictions["handful"]] == learnt.handful(val_set)
    assert learnt.last_predictions(events)["epoch"] == 2


def toy_set(labels, coarse):
    labels = torch.tensor(labels)
    return ImageSet(torch.zeros(len(labels), 3, 32, 32, dtype=torch.uint8), labels, ["maple_tree", "oak_tree", "bus"],
                    "toy", "val", "a toy set", (0.5,) * 3, (0.25,) * 3, coarse_labels=torch.tensor(coarse),
                    coarse_classes=["trees", "vehicles_1"])


def test_confused_pairs_and_accuracy_per_superclass():
    val_set = toy_set([0, 0, 0, 1, 1, 2], coarse=[0, 0, 0, 0, 0, 1])
    predicted = [1, 1, 0, 1, 0, 2]
    pairs = learnt.confused_pairs(predicted, val_set)
    assert pairs[0] == {"true class": "maple tree", "predicted as": "oak tree", "images": 2,
                        "share of the true class": "66.7%"}
    assert len(pairs) == 2  # oak taken for maple once; the bus always right
    assert learnt.superclass_accuracy(predicted, val_set) == [
        {"superclass": "trees", "accuracy": pytest.approx(2 / 5), "images": 5},
        {"superclass": "vehicles 1", "accuracy": 1.0, "images": 1},
    ]
    assert learnt.superclass_accuracy(predicted, make_synthetic(10, "test", n_per_class=1)) is None


def test_two_runs_split_the_images_by_who_gets_them_right():
    val_set = toy_set([0, 1, 2, 0], coarse=[0, 0, 1, 0])
    split = learnt.right_and_wrong([0, 1, 0, 1], [0, 0, 2, 1], val_set)
    assert split == {"only a": [1], "only b": [2], "both": [0], "neither": [3]}


def test_a_caption_names_the_true_class_and_marks_it_among_the_guesses():
    classes = ["maple_tree", "oak_tree", "bus"]
    entry = {"label": 1, "top": [[0, 0.61], [1, 0.3], [2, 0.09]]}
    assert learnt.guesses_caption(entry, classes) == "oak tree — maple tree 61%, ✓ oak tree 30%, bus 9%"
    assert learnt.chance(100) == 0.01
