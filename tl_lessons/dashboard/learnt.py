"""What a run's model has learnt, seen through its answers on validation images.

Curves say how much a model learnt; its answers say what. After each epoch the lab shows a
fixed handful of validation images with the model's three best guesses, the classes it mixes
up most, its accuracy per superclass (CIFAR-100), and, for two runs on the same images, which
images one gets right and the other does not. All of it uses **validation** images: the test
split is looked at once per reported number, never to watch or to compare runs.

During a run (`closer_look`, in the training job) two kinds of events join `fit`'s stream:
"starting_point" before the first step (the new head's loss and accuracy: chance), and the
handful's top 3 added to every "predictions" event. The run store keeps them, so a stored run
can be looked at the same way later (`last_predictions`).

    >>> import dataclasses
    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> model, config = build_model("fastnet", 10), dataclasses.replace(train.PRESETS["quick"], epochs=1, batch_size=25)
    >>> stream = train.fit(model, train_set, val_set, config, report_predictions=True)
    >>> events = list(closer_look(stream, model, val_set, val_set.mean, val_set.std))
    >>> [event["kind"] for event in events if event["kind"] != "step"]
    ['start', 'starting_point', 'epoch', 'predictions', 'end']
    >>> len(last_predictions(events)["handful"])          # the top 3 of eight images, each of another class
    8
"""
from __future__ import annotations

import hashlib
import math

import torch
import torch.nn.functional as F

from tl_lessons import train
from tl_lessons.confusion import most_confused
from tl_lessons.vocabulary import display_name

HANDFUL = 8  # validation images shown with their top 3 after every epoch
STARTING_SAMPLE = 200  # validation images the starting point is measured on: enough to see chance, and quick


def fixed_order(images: int) -> list[int]:
    """The same shuffled order of a set's images for every run (so every run is watched on the same ones)."""
    return torch.randperm(images, generator=torch.Generator().manual_seed(0)).tolist()


def handful(val_set, size: int = HANDFUL) -> list[int]:
    """Indices of a fixed handful of validation images, each of another class.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> handful(val_set)
    [44, 39, 7, 6, 17, 29, 21, 31]
    """
    chosen, classes = [], set()
    for index in fixed_order(len(val_set)):
        label = int(val_set.labels[index])
        if label not in classes:
            chosen.append(index)
            classes.add(label)
            if len(chosen) == size:
                break
    return chosen


def describe_images(val_set) -> dict:
    """How many validation images, and a fingerprint of them: two runs are compared image by image
    only when their fingerprints agree (the same images in the same order).

    >>> from tl_lessons.data import load_dataset, task_split
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> describe_images(val_set)
    {'images': 50, 'fingerprint': 'd8a692a6555b70f0'}
    """
    digest = hashlib.sha256(val_set.labels.numpy().tobytes())
    digest.update(val_set.images.numpy().tobytes())
    return {"images": len(val_set), "fingerprint": digest.hexdigest()[:16]}


def starting_point(model, val_set, mean, std, size: int = STARTING_SAMPLE) -> dict:
    """The "starting_point" event: loss and accuracy on validation images before any training step.

    A new head knows nothing yet: its accuracy is chance (1 in the number of classes) and its
    loss near ln(classes). Measured on `size` validation images, so that it is drawn at once.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).requires_grad_(False)
    >>> _ = model[1].weight.zero_(), model[1].bias.zero_()      # a head that always answers class 0
    >>> point = starting_point(model, val_set, val_set.mean, val_set.std)
    >>> f"{point['val_acc']:.0%} of {point['images']} images; chance {point['chance']:.0%}"
    '10% of 50 images; chance 10%'
    """
    sample = fixed_order(len(val_set))[:size]
    probabilities = train.predict(model, val_set.images[sample], mean, std)
    labels = val_set.labels[sample]
    loss = F.nll_loss(probabilities.clamp(min=1e-12).log(), labels).item()
    accuracy = (probabilities.argmax(1) == labels).float().mean().item()
    return {"kind": "starting_point", "epoch": 0, "val_loss": loss, "val_acc": accuracy, "images": len(sample),
            "chance": 1 / val_set.num_classes}


def top3(model, val_set, indices: list[int], mean, std) -> list[dict]:
    """The model's three best guesses for some validation images: [{index, label, top: [[class, probability]]}].

    >>> from tl_lessons.data import load_dataset, task_split
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).requires_grad_(False)
    >>> _ = model[1].weight.zero_(), model[1].bias.copy_(torch.arange(10.0).flip(0))   # class 0 scores highest
    >>> top3(model, val_set, [44], val_set.mean, val_set.std)
    [{'index': 44, 'label': 6, 'top': [[0, 0.6321], [1, 0.2326], [2, 0.0856]]}]
    """
    probabilities = train.predict(model, val_set.images[indices], mean, std)
    values, classes = probabilities.topk(min(3, probabilities.shape[1]), dim=1)
    return [{"index": index, "label": int(val_set.labels[index]),
             "top": [[c, round(v, 4)] for c, v in zip(row_classes, row_values)]}
            for index, row_classes, row_values in zip(indices, classes.tolist(), values.tolist())]


def closer_look(stream, model, val_set, mean, std):
    """Pass a `fit(..., report_predictions=True)` stream on, adding the starting point and the handful's top 3.

    The starting point follows the "start" event; each "predictions" event gains "handful".
    Both are computed between training steps, while `fit` waits for its consumer.
    """
    shown = handful(val_set)
    for event in stream:
        if event["kind"] == "predictions":
            event = {**event, "handful": top3(model, val_set, shown, mean, std)}
        yield event
        if event["kind"] == "start":
            yield starting_point(model, val_set, mean, std)


# ---------------------------------------------------------------------------------------
# Reading the answers (of a live run, or of a stored one)
# ---------------------------------------------------------------------------------------


def last_predictions(events: list[dict]) -> dict | None:
    """The latest "predictions" event among `events` (None before the first epoch ended).

    >>> events = [{"kind": "predictions", "epoch": 7}, {"kind": "epoch", "epoch": 8}, {"kind": "predictions", "epoch": 8}]
    >>> last_predictions(events)["epoch"]              # or a stored run's: store.events(run_id, "predictions")
    8
    """
    return next((e for e in reversed(events) if e.get("kind") == "predictions"), None)


def fits(predictions: dict, val_set) -> bool:
    """Whether stored answers are about `val_set`'s images (one answer per image)."""
    return len(predictions["predicted"]) == len(val_set)


def confused_pairs(predicted: list[int], val_set, top: int = 5) -> list[dict]:
    """The classes the model mixes up most: true class, predicted as, images, share of the true class.

    >>> from tl_lessons.imageset import ImageSet
    >>> four = ImageSet(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 2, 2]),
    ...                 ["maple_tree", "oak_tree", "lion"], "cifar100", "val", "four blank images", (0.5,) * 3, (0.25,) * 3)
    >>> confused_pairs([1, 1, 2, 2], four, top=1)      # a "predictions" event's "predicted"
    [{'true class': 'maple tree', 'predicted as': 'oak tree', 'images': 1, 'share of the true class': '100.0%'}]
    """
    matrix = train.confusion_counts(val_set.labels, torch.as_tensor(predicted), val_set.num_classes)
    return most_confused(matrix, [display_name(name) for name in val_set.classes], top)


def superclass_accuracy(predicted: list[int], val_set) -> list[dict] | None:
    """Accuracy per CIFAR-100 superclass, [{superclass, accuracy, images}] (None for sets without superclasses).

    >>> from tl_lessons.imageset import ImageSet
    >>> four = ImageSet(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 2, 2]),
    ...                 ["maple_tree", "oak_tree", "lion"], "cifar100", "val", "four blank images", (0.5,) * 3, (0.25,) * 3,
    ...                 coarse_labels=torch.tensor([0, 0, 1, 1]), coarse_classes=["trees", "large_carnivores"])
    >>> superclass_accuracy([1, 1, 2, 2], four)
    [{'superclass': 'trees', 'accuracy': 0.5, 'images': 2},
     {'superclass': 'large carnivores', 'accuracy': 1.0, 'images': 2}]
    """
    if val_set.coarse_labels is None:
        return None
    right = torch.as_tensor(predicted) == val_set.labels
    rows = []
    for coarse, name in enumerate(val_set.coarse_classes):
        members = val_set.coarse_labels == coarse
        images = int(members.sum())
        if images:
            rows.append({"superclass": display_name(name), "accuracy": right[members].float().mean().item(),
                         "images": images})
    return rows


def right_and_wrong(predicted_a: list[int], predicted_b: list[int], val_set) -> dict[str, list[int]]:
    """Validation images split by which of two runs gets them right: "only a", "only b", "both", "neither".

    >>> from tl_lessons.imageset import ImageSet
    >>> four = ImageSet(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 2, 2]),
    ...                 ["maple_tree", "oak_tree", "lion"], "cifar100", "val", "four blank images", (0.5,) * 3, (0.25,) * 3)
    >>> right_and_wrong([1, 1, 2, 2], [0, 0, 2, 0], four)
    {'only a': [1, 3], 'only b': [0], 'both': [2], 'neither': []}
    """
    right_a = torch.as_tensor(predicted_a) == val_set.labels
    right_b = torch.as_tensor(predicted_b) == val_set.labels
    return {
        "only a": (right_a & ~right_b).nonzero().flatten().tolist(),
        "only b": (~right_a & right_b).nonzero().flatten().tolist(),
        "both": (right_a & right_b).nonzero().flatten().tolist(),
        "neither": (~right_a & ~right_b).nonzero().flatten().tolist(),
    }


def guesses_caption(entry: dict, classes: list[str]) -> str:
    """One handful image's caption: its true class, then the top 3 with their confidence (✓ marks the true class).

    >>> from tl_lessons.vocabulary import CIFAR10_CLASSES
    >>> guesses_caption({"label": 3, "top": [[3, 0.61], [5, 0.2], [2, 0.1]]}, CIFAR10_CLASSES)
    'cat — ✓ cat 61%, dog 20%, bird 10%'
    """
    guesses = ", ".join(f"{'✓ ' if c == entry['label'] else ''}{display_name(classes[c])} {p:.0%}"
                        for c, p in entry["top"])
    return f"{display_name(classes[entry['label']])} — {guesses}"


def chance(num_classes: int) -> float:
    """The accuracy of guessing: 1 in the number of classes (1 % for CIFAR-100).

    >>> chance(100)
    0.01
    """
    return 1 / num_classes if num_classes else math.nan
