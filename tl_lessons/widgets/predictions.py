"""A trained model's predictions, looked at per class and per image (chapter 03, and chapter 01's browser).

Predicting every image of a dataset is the slow part (10,000 CIFAR-10 test images take seconds
on a CPU); everything a control changes afterwards (which checkpoint's matrix, which class,
which image) is counting over those stored predictions. So each explorer predicts once per
checkpoint and dataset (`PredictionCache`) and its callbacks only count.

* `class_results_explorer`: a checkpoint's confusion matrix or accuracy per class. (Which
  classes are hard, and what are they mistaken for?)
* `top3_explorer`: pick a test image, see the checkpoint's three most likely classes. (How sure
  is the model, and is the right answer at least among its top guesses?)

    >>> probabilities = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])     # stored: `PredictionCache`
    >>> view = class_results_view(probabilities, [0, 1, 1], ["cat", "dog"], show="accuracy per class")
    >>> print(view.text)
    3 images, 66.7% right; weakest class: dog (50.0%)
    <BLANKLINE>
    most frequent mistakes:
    true class  predicted as  images  share of the true class
    dog         cat                1                    50.0%
"""
from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure

from tl_lessons import plots, text
from tl_lessons.confusion import most_confused
from tl_lessons.errors import ConfigError
from tl_lessons.inference import confusion_counts, predict
from tl_lessons.widgets.explorer import Explorer, View

SHOW = ("confusion matrix", "accuracy per class")
ANY = "all"  # a filter that keeps everything


# ---------------------------------------------------------------------------------------------
# Predictions, once per checkpoint and dataset
# ---------------------------------------------------------------------------------------------


def as_checkpoint(entry) -> tuple:
    """(model, meta or None) from a model, a (model, meta) pair, or a checkpoint file's path.

    >>> from tl_lessons.checkpoints import SOURCE_CHECKPOINT
    >>> model, meta = as_checkpoint(SOURCE_CHECKPOINT)         # a file, e.g. "runs/fastnet.pt"
    >>> meta["arch"], as_checkpoint(model)[1]                  # a bare model has no metadata
    ('fastnet', None)
    """
    from tl_lessons.checkpoints import load_checkpoint

    if isinstance(entry, (str, Path)):
        return load_checkpoint(entry)
    if isinstance(entry, tuple):
        return entry
    return entry, None


class PredictionCache:
    """One model's class probabilities on whole datasets, computed the first time each dataset is asked for.

    Images are normalised as the model was trained (the checkpoint's mean and std), or with the
    dataset's own constants when there is no metadata.

    >>> from tl_lessons.checkpoints import load_source_model
    >>> from tl_lessons.data import load_dataset
    >>> test_set = load_dataset("synthetic10", "test")       # CIFAR-10's in chapter 03
    >>> cache = PredictionCache(*load_source_model())
    >>> cache.probabilities(test_set).shape
    torch.Size([1000, 10])
    >>> cache.probabilities(test_set) is cache.probabilities(test_set)     # predicted once
    True
    """

    def __init__(self, model, meta: dict | None = None):
        self.model, self.meta = model, meta
        self._stored = {}  # id(dataset) -> (dataset, probabilities); the dataset is kept so its id stays its own

    def classes(self, ds) -> list[str]:
        """The names of the model's outputs (the dataset's classes when the metadata does not say)."""
        return list(self.meta["classes"]) if self.meta and "classes" in self.meta else list(ds.classes)

    def probabilities(self, ds) -> torch.Tensor:
        """(N, classes) probabilities for every image of `ds`."""
        if id(ds) not in self._stored:
            mean = self.meta["mean"] if self.meta else ds.mean
            std = self.meta["std"] if self.meta else ds.std
            self._stored[id(ds)] = (ds, predict(self.model, ds.images, mean, std))
        return self._stored[id(ds)][1]


def matching_images(ds, class_name: str = ANY, superclass: str = ANY, wrong: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of the images of `class_name` and `superclass` ("all": no filter), and wrong ones only when `wrong` is given.

    >>> from tl_lessons.data import load_dataset
    >>> matching_images(load_dataset("synthetic10", "test"), class_name="ring")[:3]
    tensor([10, 18, 40])

    On CIFAR-100 `superclass="large_carnivores"` keeps the leopards, lions, tigers, ...
    """
    chosen = torch.ones(len(ds), dtype=torch.bool)
    if class_name != ANY:
        if class_name not in ds.classes:
            raise ConfigError(f"{class_name!r} is not a class of {ds.name}: pick one from the list.")
        chosen &= ds.labels == ds.classes.index(class_name)
    if superclass != ANY:
        if ds.coarse_classes is None or superclass not in ds.coarse_classes:
            raise ConfigError(f"{ds.name} has no superclass {superclass!r}: superclasses are CIFAR-100's.")
        chosen &= ds.coarse_labels == ds.coarse_classes.index(superclass)
    if wrong is not None:
        chosen &= wrong
    return chosen.nonzero().flatten()



# ---------------------------------------------------------------------------------------------
# Confusion matrix and accuracy per class
# ---------------------------------------------------------------------------------------------


def class_results_view(probabilities, labels, classes, show: str = SHOW[0], normalise: bool = True,
                       title: str = "", teacher: bool = False) -> View:
    """The confusion matrix (`show="confusion matrix"`) or the accuracy per class, from stored predictions.

    numbers: "matrix" (counts), "per_class" (accuracy, NaN for a class without images), "accuracy".

    >>> probabilities = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])     # `cache.probabilities(test_set)`
    >>> view = class_results_view(probabilities, [0, 1, 1], ["cat", "dog"])
    >>> view.numbers["matrix"].tolist(), f"{view.numbers['accuracy']:.1%}"
    ([[1, 0], [1, 1]], '66.7%')
    """
    if show not in SHOW:
        raise ConfigError(f"Show {' or '.join(repr(s) for s in SHOW)}, not {show!r}.")
    labels = torch.as_tensor(labels)
    matrix = confusion_counts(labels, torch.as_tensor(probabilities).argmax(1), len(classes))
    per_class = matrix.diag().double() / matrix.sum(1).double()
    accuracy = matrix.trace().item() / max(matrix.sum().item(), 1)
    heading = f"{title}: " if title else ""
    with plots.teacher_view(teacher):
        if show == SHOW[0]:
            figure = plots.confusion(matrix, classes, normalise=normalise,
                                     title=f"{heading}confusion matrix, accuracy {accuracy:.1%}")
        else:
            figure = plots.per_class_bars(per_class.nan_to_num(0), classes, sort=True,
                                          title=f"{heading}accuracy per class, weakest first")
    weakest = int(per_class.nan_to_num(2).argmin())
    lines = [f"{len(labels):,} images, {accuracy:.1%} right; weakest class: {classes[weakest]} ({per_class[weakest]:.1%})",
             "", "most frequent mistakes:", text.table(most_confused(matrix, classes))]
    return View(figure, f"{heading}{show} on {len(labels):,} images", "\n".join(lines),
                {"matrix": matrix, "per_class": per_class, "accuracy": accuracy})


def _caches(checkpoints, test_set) -> dict:
    """{name: PredictionCache}, each checked to predict the test set's classes.

    An entry that is a PredictionCache already is used as it is, so explorers (and the cells
    around them) that share one predict each image once between them.
    """
    if checkpoints is None:
        from tl_lessons.checkpoints import load_source_model

        checkpoints = {"shipped FastNet": load_source_model()}
    if not isinstance(checkpoints, dict) or not checkpoints:
        raise ConfigError("Pass the checkpoints as a dict {name: model, (model, meta), path or PredictionCache}, "
                          "e.g. {'this chapter's FastNet': fastnet}.")
    caches = {}
    for name, entry in checkpoints.items():
        cache = entry if isinstance(entry, PredictionCache) else PredictionCache(*as_checkpoint(entry))
        if cache.classes(test_set) != list(test_set.classes):
            raise ConfigError(f"{name!r} predicts other classes than {test_set.name} has: "
                              f"look at it on the dataset it was trained for.")
        caches[name] = cache
    return caches


def class_results_explorer(checkpoints=None, test_set=None, teacher: bool = False) -> Explorer:
    """Chapter 03: a chosen checkpoint's confusion matrix or accuracy per class on the test set.

    checkpoints: {name: model, (model, meta), checkpoint path or PredictionCache}; default: the shipped FastNet.
    test_set: default: the CIFAR-10 test set.

    A chapter's cell ends with `widgets.class_results_explorer({"this chapter's FastNet": fastnet, "shipped":
    load_source_model()}, test_set)`; here an untrained model on 50 synthetic images:

    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> from tl_lessons.models import FastNet
    >>> test_set = per_class_subset(load_dataset("synthetic10", "test"), 5)
    >>> explorer = class_results_explorer({"untrained FastNet": FastNet(10)}, test_set)
    >>> list(explorer.controls), explorer.view.caption
    (['checkpoint', 'show', 'normalise'], 'untrained FastNet: confusion matrix on 50 images')
    """
    import ipywidgets as widgets

    from tl_lessons.data import load_dataset

    test_set = test_set if test_set is not None else load_dataset("cifar10", "test")
    caches = _caches(checkpoints, test_set)
    controls = {
        "checkpoint": widgets.Dropdown(options=list(caches), description="checkpoint"),
        "show": widgets.ToggleButtons(options=SHOW, description="show"),
        "normalise": widgets.Checkbox(value=True, description="rows as fractions"),
    }

    def draw(checkpoint, show, normalise):
        return class_results_view(caches[checkpoint].probabilities(test_set), test_set.labels, test_set.classes,
                                  show, normalise, title=checkpoint, teacher=teacher)

    return Explorer(draw, controls, teacher=teacher)


# ---------------------------------------------------------------------------------------------
# One test image and its top-3
# ---------------------------------------------------------------------------------------------


def top3_view(image, probabilities, label: int, classes, caption: str = "", teacher: bool = False) -> View:
    """One image and the model's three most likely classes, the true one in green.

    probabilities: the model's (C,) probabilities for this image. numbers: "top" [(class, probability)] and
    "rank" of the true class (1 = the model's answer; None when it is not among the three).

    >>> black = torch.zeros(3, 32, 32, dtype=torch.uint8)           # e.g. test_set.images[0]
    >>> view = top3_view(black, torch.tensor([0.1, 0.6, 0.3]), 2, ["cat", "dog", "ship"])
    >>> print(view.text)
    true class: ship; the model says dog (60.0%): wrong; the true class is its number 2
    top 3: dog 60.0%, ship 30.0%, cat 10.0%
    """
    probabilities = torch.as_tensor(probabilities)
    values, indices = probabilities.topk(min(3, len(probabilities)))
    top = [(classes[i], v) for v, i in zip(values.tolist(), indices.tolist())]
    rank = next((place + 1 for place, i in enumerate(indices.tolist()) if i == label), None)
    with plots.teacher_view(teacher):
        figure = Figure(figsize=(8.5, 3.2), layout="constrained")
        picture, bars = figure.subplots(1, 2, width_ratios=(1, 2))
        picture.imshow(plots.to_display(image), interpolation="nearest")
        picture.set(xticks=[], yticks=[], title=f"true class: {classes[label]}")
        names = [name for name, _ in top][::-1]  # the most likely on top
        colours = [plots.RIGHT_COLOR if name == classes[label] else "#6e7781" for name in names]
        bars.barh(names, [v for _, v in top][::-1], color=colours)
        bars.set(xlim=(0, 1), xlabel="probability", title="the model's top 3")
        for y, (name, value) in enumerate(reversed(top)):
            bars.text(min(value + 0.02, 0.8), y, f"{value:.1%}", va="center")
    verdict = {1: "right", None: "wrong, and the true class is not even in its top 3"}.get(
        rank, f"wrong; the true class is its number {rank}")
    lines = [f"{caption}true class: {classes[label]}; the model says {top[0][0]} ({top[0][1]:.1%}): {verdict}",
             "top 3: " + ", ".join(f"{name} {value:.1%}" for name, value in top)]
    return View(figure, f"{caption}{classes[label]}: top 3 " + ", ".join(f"{n} {v:.0%}" for n, v in top), "\n".join(lines),
                {"top": top, "rank": rank})


def top3_explorer(checkpoints=None, test_set=None, teacher: bool = False) -> Explorer:
    """Chapter 03: pick a test image (by class, optionally only mistakes) and see a checkpoint's top 3.

    A chapter's cell ends with `widgets.top3_explorer({"this chapter's FastNet": fastnet}, test_set)`:

    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> from tl_lessons.models import FastNet
    >>> test_set = per_class_subset(load_dataset("synthetic10", "test"), 5)
    >>> explorer = top3_explorer({"untrained FastNet": FastNet(10)}, test_set)
    >>> list(explorer.controls)
    ['checkpoint', 'class_name', 'mistakes_only', 'number']
    """
    import ipywidgets as widgets

    from tl_lessons.data import load_dataset

    test_set = test_set if test_set is not None else load_dataset("cifar10", "test")
    caches = _caches(checkpoints, test_set)
    controls = {
        "checkpoint": widgets.Dropdown(options=list(caches), description="checkpoint"),
        "class_name": widgets.Dropdown(options=[ANY, *test_set.classes], description="class"),
        "mistakes_only": widgets.Checkbox(value=False, description="only its mistakes"),
        "number": widgets.IntSlider(value=0, min=0, max=len(test_set) - 1, description="image", continuous_update=False),
    }

    def candidates(checkpoint, class_name, mistakes_only) -> torch.Tensor:
        wrong = caches[checkpoint].probabilities(test_set).argmax(1) != test_set.labels if mistakes_only else None
        return matching_images(test_set, class_name, wrong=wrong)

    def draw(checkpoint, class_name, mistakes_only, number):
        rows = candidates(checkpoint, class_name, mistakes_only)
        if len(rows) == 0:
            raise ConfigError(f"{checkpoint} makes no mistake on this class: choose another class or untick 'only its mistakes'.")
        place = min(number, len(rows) - 1)  # the slider's range follows the filter, but a redraw may come first
        row = int(rows[place])
        return top3_view(test_set.images[row], caches[checkpoint].probabilities(test_set)[row], int(test_set.labels[row]),
                         test_set.classes, caption=f"test image #{row} ({place + 1} of {len(rows):,} that pass the filter): ",
                         teacher=teacher)

    def fit_the_slider(name, explorer):
        if name in ("checkpoint", "class_name", "mistakes_only"):
            values = explorer.values()
            count = len(candidates(values["checkpoint"], values["class_name"], values["mistakes_only"]))
            explorer.controls["number"].max = max(count - 1, 0)

    return Explorer(draw, controls, adjust=fit_the_slider, teacher=teacher)
