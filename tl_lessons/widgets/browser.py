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

    >>> view = browse_view(cifar10_test, probabilities, model_classes, class_name="cat", mistakes_only=True)
"""
from __future__ import annotations

import torch

from tl_lessons import plots, text
from tl_lessons.data import DISPLAY_NAMES
from tl_lessons.errors import ConfigError
from tl_lessons.widgets.explorer import Explorer, View
from tl_lessons.widgets.predictions import PredictionCache, confusion_counts, most_confused

ANY = "all"
GUESS_COLOR = "#0550ae"  # blue: an answer that is neither right nor wrong (a class the dataset does not have)


def matching_images(ds, class_name: str = ANY, superclass: str = ANY, wrong: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of the images of `class_name` and `superclass` ("all": no filter), and wrong ones only when `wrong` is given.

    >>> matching_images(cifar100_train, superclass="large_carnivores")[:3]
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

    >>> browse_view(test, probs, meta["classes"], class_name="cat", mistakes_only=True).numbers["correct"]
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
        if judged:
            wrong = predicted != ds.labels
    pool = matching_images(ds, class_name, superclass)
    matching = matching_images(ds, class_name, superclass, wrong if mistakes_only else None)
    generator = torch.Generator().manual_seed(seed)
    shown = matching[torch.randperm(len(matching), generator=generator)[:count]]
    scope = " and ".join(f"{what} {name}" for what, name in (("superclass", superclass), ("class", class_name)) if name != ANY)
    heading = f"{DISPLAY_NAMES.get(ds.name, ds.name)} {ds.split}" + (f", {scope}" if scope else "") + (", mistakes only" if mistakes_only else "")
    lines = [f"{heading}: {len(matching):,} of {len(ds):,} images match; showing {len(shown)} (seed {seed})."]
    table, correct = [], None
    if judged and len(pool):
        right = (~wrong[pool]).float().mean().item()
        lines.append(f"The model gets {right:.1%} of the {len(pool):,} images of this selection right. Most frequent mistakes:")
        table = most_confused(confusion_counts(ds.labels[pool], predicted[pool], ds.num_classes), ds.classes)
    elif probabilities is not None and len(pool):
        lines.append("What the model (which only knows its own classes) most often calls each class here:")
        table = _guess_rows(ds.labels[pool], predicted[pool], ds.classes, list(model_classes))
    if table:
        lines.append(text.table(table))
    if len(shown) == 0:
        return View(None, f"{heading}: no image matches", "\n".join(lines), {"shown": shown, "matching": 0, "correct": None, "table": table})
    titles, colours = [], []
    for i in shown.tolist():
        if probabilities is None:
            titles.append(ds.classes[ds.labels[i]])
            colours.append(None)
        elif judged:
            titles.append(f"{ds.classes[predicted[i]]} {confidence[i]:.0%}" + ("" if not wrong[i] else f"\n(true: {ds.classes[ds.labels[i]]})"))
            colours.append(plots.WRONG_COLOR if wrong[i] else plots.RIGHT_COLOR)
        else:
            titles.append(f"{ds.classes[ds.labels[i]]}\nlooks like {model_classes[predicted[i]]} {confidence[i]:.0%}")
            colours.append(GUESS_COLOR)
    if judged:
        correct = ~wrong[shown]
        key = f"green: right, red: wrong ({int(correct.sum())} of {len(shown)} right)"
    elif probabilities is not None:
        key = "the true class, then the model's answer"
    else:
        key = "the true class"
    with plots.teacher_view(teacher):  # the teacher's larger titles need wider columns
        figure = plots.image_grid(ds.images[shown], titles, ncols=6 if teacher else 8, title=f"{heading}\n{key}",
                                  colors=colours)
    return View(figure, f"{len(shown)} images of {heading}, titled with {key}", "\n".join(lines),
                {"shown": shown, "matching": len(matching), "correct": correct, "table": table})


def browsable_datasets() -> list[str]:
    """CIFAR-10 and CIFAR-100 where they are on disk, else the synthetic practice set of the same size.

    >>> browsable_datasets()
    ['cifar10', 'cifar100']
    """
    from tl_lessons.data import cifar_available

    return [name if cifar_available(name) else fallback
            for name, fallback in (("cifar10", "synthetic10"), ("cifar100", "synthetic100"))]


def dataset_browser(datasets=None, limit: int | None = None, model=None, split: str = "test",
                    teacher: bool = False) -> Explorer:
    """Chapter 01: browse the datasets by split, superclass and class, with the shipped model's answers.

    datasets: names for `tl_lessons.data.load_dataset` (default: `browsable_datasets()`); limit: at
    most this many images per split, a random sample (None: all; test mode: a few hundred);
    model: (model, meta), default the shipped CIFAR-10 FastNet.

    >>> widgets.dataset_browser()          # a cell's last line
    """
    import ipywidgets as widgets

    from tl_lessons.data import load_dataset

    names = list(datasets or browsable_datasets())
    if model is None:
        from tl_lessons.checkpoints import load_source_model

        model = load_source_model()
    cache = PredictionCache(*model)
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
        "superclass": widgets.Dropdown(options=[ANY], value=ANY, description="superclass", disabled=True),
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
