"""Chapter 01's browser: the datasets, and what the shipped CIFAR-10 model makes of them.

Choose a dataset, a split, a CIFAR-100 superclass or a class: a random page of matching images
appears, each titled with the shipped model's answer. On CIFAR-10 the answer is right (green)
or wrong (red, with the true class), "only the mistakes" keeps the wrong ones, and a table
lists the classes the model confuses most. On CIFAR-100, which has none of its classes, the
title is the CIFAR-10 class the image *looks like* to the model, and the table says what each
CIFAR-100 class is most often called. (Which images does the model get wrong, and what does it
take them for? Does a leopard look like a cat to it?)

The model predicts each split once, the first time it is shown; after that a control only
counts over the stored predictions and draws one page, whatever the size of the dataset.

    >>> from tl_lessons.checkpoints import load_source_model
    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> test = per_class_subset(load_dataset("synthetic10", "test"), 10)         # CIFAR-10's after `make data`
    >>> cache = PredictionCache(*load_source_model())                              # the shipped CIFAR-10 model
    >>> view = browse_view(test, cache.probabilities(test), cache.classes(test), class_name="ring", count=8)
    >>> print(view.text.splitlines()[0])
    Synthetic-10 test, class ring: 10 of 100 images match; showing 8 (seed 0).
"""
from __future__ import annotations

import torch

from tl_lessons import plots, text
from tl_lessons.confusion import most_confused
from tl_lessons.data import DISPLAY_NAMES, usable_datasets
from tl_lessons.errors import ConfigError
from tl_lessons.inference import confusion_counts
from tl_lessons.widgets.explorer import Explorer, View
from tl_lessons.widgets.predictions import ANY, PredictionCache, as_checkpoint, matching_images

GUESS_COLOR = "#0550ae"  # blue: an answer that is neither right nor wrong (a class the dataset does not have)


def _guess_rows(labels, predicted, classes, model_classes, top: int = 8) -> list[dict]:
    """For each class among `labels`, the model's most frequent answer and its share, the clearest first."""
    counts = confusion_counts(labels, predicted, max(len(classes), len(model_classes)))[:len(classes), :len(model_classes)]
    rows = []
    for c in labels.unique().tolist():
        answer = int(counts[c].argmax())
        rows.append({"class": classes[c], "images": int(counts[c].sum()), "most often called": model_classes[answer],
                     "share": counts[c, answer].item() / counts[c].sum().item()})
    rows.sort(key=lambda row: -row["share"])
    return [{**row, "share": f"{row['share']:.0%}"} for row in rows[:top]]


def browse_view(ds, probabilities=None, model_classes=None, class_name: str = ANY, superclass: str = ANY,
                mistakes_only: bool = False, count: int = 16, seed: int = 0, teacher: bool = False) -> View:
    """A random page of `count` images of `ds` that match the filters, titled with the model's answers.

    probabilities: the model's (N, C) probabilities for every image of `ds` (None: no model);
    model_classes: the names of its C outputs. When they are the dataset's own classes, answers
    are right or wrong and `mistakes_only` keeps the wrong ones; otherwise each answer is what the
    image looks like to the model. The same `seed` gives the same page.
    numbers: "shown" (indices into ds), "matching" (how many images match), "correct" (of the shown
    ones, None without right answers), "table" (the rows printed under the picture).

    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> test = per_class_subset(load_dataset("synthetic10", "test"), 10)
    >>> always_ring = torch.zeros(len(test), 10)
    >>> always_ring[:, test.classes.index("ring")] = 1.0                 # a model that answers "ring" to everything
    >>> view = browse_view(test, always_ring, test.classes, class_name="dots", mistakes_only=True, count=4)
    >>> view.numbers["matching"], view.numbers["correct"].tolist()
    (10, [False, False, False, False])
    """
    if not 1 <= count <= 200:
        raise ConfigError(f"Show between 1 and 200 images at a time, not {count}.")
    judged = probabilities is not None and list(model_classes) == list(ds.classes)
    if mistakes_only and not judged:
        raise ConfigError("'Only the mistakes' needs a model that predicts this dataset's own classes: "
                          "the shipped model knows CIFAR-10's.")
    confidence = predicted = wrong = None
    if probabilities is not None:
        confidence, predicted = torch.as_tensor(probabilities).max(1)
        wrong = predicted != ds.labels if judged else None
    selection = matching_images(ds, class_name, superclass)  # what the table describes
    matching = matching_images(ds, class_name, superclass, wrong if mistakes_only else None)
    shown = matching[torch.randperm(len(matching), generator=torch.Generator().manual_seed(seed))[:count]]
    scope = [f"{what} {name}" for what, name in (("superclass", superclass), ("class", class_name)) if name != ANY]
    heading = ", ".join([f"{DISPLAY_NAMES.get(ds.name, ds.name)} {ds.split}", *scope] + (["mistakes only"] if mistakes_only else []))
    lines = [f"{heading}: {len(matching):,} of {len(ds):,} images match; showing {len(shown)} (seed {seed})."]
    table = []
    if judged and len(selection):
        right = (~wrong[selection]).float().mean().item()
        lines.append(f"The model gets {right:.1%} of the {len(selection):,} images of this selection right. "
                     "Most frequent mistakes:")
        table = most_confused(confusion_counts(ds.labels[selection], predicted[selection], ds.num_classes), ds.classes)
    elif probabilities is not None and len(selection):
        lines.append("What the model (which only knows its own classes) most often calls each class here:")
        table = _guess_rows(ds.labels[selection], predicted[selection], ds.classes, list(model_classes))
    if table:
        lines.append(text.table(table))
    numbers = {"shown": shown, "matching": len(matching), "correct": None if wrong is None else ~wrong[shown], "table": table}
    if len(shown) == 0:
        return View(None, f"{heading}: no image matches", "\n".join(lines), numbers)
    titles, colours, key = _titles(ds, shown, confidence, predicted, wrong, model_classes)
    with plots.teacher_view(teacher):  # the teacher's larger titles need wider columns
        figure = plots.image_grid(ds.images[shown], titles, ncols=6 if teacher else 8, title=f"{heading}\n{key}",
                                  colors=colours)
    return View(figure, f"{len(shown)} images of {heading}, titled with {key}", "\n".join(lines), numbers)


def _titles(ds, shown, confidence, predicted, wrong, model_classes) -> tuple[list, list, str]:
    """Each shown image's title and its colour, and the key that explains them."""
    if predicted is None:
        return [ds.classes[ds.labels[i]] for i in shown], [None] * len(shown), "the true class"
    if wrong is None:  # a dataset the model has no classes for: what the image looks like to it
        titles = [f"{ds.classes[ds.labels[i]]}\nlooks like {model_classes[predicted[i]]} {confidence[i]:.0%}" for i in shown]
        return titles, [GUESS_COLOR] * len(shown), "the true class, then the model's answer"
    titles = [f"{ds.classes[predicted[i]]} {confidence[i]:.0%}" + (f"\n(true: {ds.classes[ds.labels[i]]})" if wrong[i] else "")
              for i in shown]
    colours = [plots.WRONG_COLOR if wrong[i] else plots.RIGHT_COLOR for i in shown]
    right = len(shown) - int(wrong[shown].sum())
    return titles, colours, f"green: right, red: wrong ({right} of {len(shown)} right)"


def browsable_datasets() -> list[str]:
    """CIFAR-10 and CIFAR-100 where they are on disk, else the synthetic practice set of the same size.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"TL_LESSONS_DATA": "/nowhere"}):     # no CIFAR there
    ...     browsable_datasets()                         # after `make data`: ['cifar10', 'cifar100']
    ['synthetic10', 'synthetic100']
    """
    return [usable_datasets(choices)[0] for choices in (("cifar10", "synthetic10"), ("cifar100", "synthetic100"))]


def dataset_browser(datasets=None, limit: int | None = None, model=None, split: str = "test",
                    teacher: bool = False) -> Explorer:
    """Chapter 01: browse the datasets by split, superclass and class, with the shipped model's answers.

    datasets: names for `tl_lessons.data.load_dataset` (default: `browsable_datasets()`); limit: at
    most this many images per split, a random sample (None: all; test mode: a few hundred);
    model: a model, (model, meta) or a checkpoint path; default the shipped CIFAR-10 FastNet.

    >>> explorer = dataset_browser(["synthetic10"], limit=100)     # chapter 01's cell ends with `widgets.dataset_browser()`
    >>> explorer.view.text.splitlines()[0]
    'Synthetic-10 test: 100 of 100 images match; showing 16 (seed 0).'
    """
    import ipywidgets as widgets

    from tl_lessons.data import load_dataset

    names = list(datasets or browsable_datasets())
    if model is None:
        from tl_lessons.checkpoints import load_source_model

        model = load_source_model()
    cache = PredictionCache(*as_checkpoint(model))
    loaded = {}

    def images(name: str, split: str):
        if (name, split) not in loaded:
            ds = load_dataset(name, split)
            if limit is not None and limit < len(ds):
                ds = ds.take(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:limit].sort().values)
            loaded[name, split] = ds
        return loaded[name, split]

    def class_options(ds, superclass: str) -> list[str]:
        if superclass == ANY:
            return [ANY, *ds.classes]
        group = ds.coarse_classes.index(superclass)
        return [ANY, *[ds.classes[c] for c in sorted(set(ds.labels[ds.coarse_labels == group].tolist()))]]

    first = images(names[0], split)
    controls = {
        "dataset": widgets.Dropdown(options=[(DISPLAY_NAMES.get(n, n), n) for n in names], value=names[0], description="dataset"),
        "split": widgets.ToggleButtons(options=["train", "test"], value=split, description="split"),
        "superclass": widgets.Dropdown(options=[ANY, *(first.coarse_classes or [])], value=ANY, description="superclass",
                                       disabled=first.coarse_classes is None),
        "class_name": widgets.Dropdown(options=class_options(first, ANY), value=ANY, description="class"),
        "mistakes_only": widgets.Checkbox(value=False, description="only the mistakes",
                                          disabled=cache.classes(first) != list(first.classes)),
        # 16 by default: each picture is its own matplotlib axes, so drawing time grows with the count.
        "count": widgets.IntSlider(value=16, min=8, max=64, step=8, description="images", continuous_update=False),
        "seed": widgets.BoundedIntText(value=0, min=0, max=10**6, description="seed"),
    }

    def draw(dataset, split, superclass, class_name, mistakes_only, count, seed):
        ds = images(dataset, split)
        return browse_view(ds, cache.probabilities(ds), cache.classes(ds), class_name, superclass,
                           mistakes_only, count, seed, teacher=teacher)

    def follow_the_dataset(name, explorer):
        values, controls = explorer.values(), explorer.controls
        if name in ("dataset", "split"):
            if (values["dataset"], values["split"]) not in loaded:
                explorer.say(f"Loading {values['dataset']} {values['split']} and predicting every image once ...")
            ds = images(values["dataset"], values["split"])
            cache.probabilities(ds)
            controls["superclass"].options = [ANY, *(ds.coarse_classes or [])]
            controls["superclass"].value, controls["superclass"].disabled = ANY, ds.coarse_classes is None
            controls["mistakes_only"].disabled = cache.classes(ds) != list(ds.classes)
            if controls["mistakes_only"].disabled:
                controls["mistakes_only"].value = False
        if name in ("dataset", "split", "superclass"):
            ds = images(values["dataset"], values["split"])
            controls["class_name"].options = class_options(ds, controls["superclass"].value)
            controls["class_name"].value = ANY

    return Explorer(draw, controls, adjust=follow_the_dataset, teacher=teacher)
