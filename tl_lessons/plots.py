"""Figures the chapters and the dashboard share: images, curves, per-class results, filters.

Every function returns a `matplotlib.figure.Figure` built without pyplot, so nothing is
kept in a global list of open figures (a dashboard thread can draw safely, and a test can
draw a hundred). In a notebook the figure shows when it is the cell's last expression
(after `%matplotlib inline`); in Streamlit pass it to `st.pyplot(fig)`.

Fonts are large on purpose: the figures are meant to be read on a projector.

    >>> from tl_lessons.data import load_dataset
    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> fig = class_grid(load_dataset("synthetic10", "test"), per_class=4)      # or "cifar10" after `make data`
    >>> history = comparison_runs(load_reference_runs())[0]["epochs"]         # a recorded run, or a train.History
    >>> fig = curves(history)
    >>> fig.get_suptitle(), [axis.get_title() for axis in fig.axes]
    ('', ['Loss (lower is better)', 'Accuracy (higher is better)'])
"""
from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from contextvars import ContextVar

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from tl_lessons.errors import ConfigError

# Sizes in points that stay readable when a 10-inch-wide figure fills a projector screen.
PROJECTOR_STYLE = {
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 16,
    "figure.dpi": 80,
}
# The teacher's view, for the back row of a lecture hall: on top of PROJECTOR_STYLE, larger type,
# thicker lines, black instead of grey text and ticks, and more pixels per figure (a projector
# washes out thin light lines and small pale labels first).
TEACHER_STYLE = {
    "font.size": 17,
    "font.weight": "bold",
    "axes.titlesize": 19,
    "axes.titleweight": "bold",
    "axes.labelsize": 18,
    "axes.labelweight": "bold",
    "xtick.labelsize": 16,
    "ytick.labelsize": 16,
    "legend.fontsize": 16,
    "figure.titlesize": 21,
    "figure.titleweight": "bold",
    "figure.dpi": 110,
    "lines.linewidth": 3.5,
    "lines.markersize": 9,
    "axes.linewidth": 2,
    "grid.alpha": 0.6,
    "text.color": "black",
    "axes.labelcolor": "black",
    "axes.edgecolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
}
RIGHT_COLOR = "#1a7f37"  # green: a correct prediction
WRONG_COLOR = "#cf222e"  # red: a wrong one

# Set inside `teacher_view()`: every figure drawn in the block gets TEACHER_STYLE as well.
_TEACHER_VIEW = ContextVar("teacher_view", default=False)


@contextmanager
def projector_style():
    """Large fonts for every figure drawn inside the block (rcParams apply when artists are created).

    Inside `teacher_view()` the figures get the teacher's still larger, higher-contrast style.

    >>> with projector_style():
    ...     figure = Figure()
    ...     matplotlib.rcParams["font.size"] == PROJECTOR_STYLE["font.size"]
    True
    """
    with matplotlib.rc_context(PROJECTOR_STYLE), matplotlib.rc_context(TEACHER_STYLE if _TEACHER_VIEW.get() else {}):
        yield


@contextmanager
def teacher_view(on: bool = True):
    """Every figure drawn inside the block in the teacher's style (TEACHER_STYLE), when `on`.

    The figure functions set their own (projector) sizes, so an rc_context around them would be
    overridden; this switch is the one they listen to.

    >>> with teacher_view():
    ...     fig = confusion(torch.tensor([[8, 2], [1, 9]]), ["cat", "dog"])
    """
    token = _TEACHER_VIEW.set(bool(on))
    try:
        with projector_style():
            yield
    finally:
        _TEACHER_VIEW.reset(token)


def _new_figure(rows: int, cols: int, cell_width: float, cell_height: float):
    """A Figure with a rows x cols grid of axes, returned as (figure, 2-D array of axes)."""
    figure = Figure(figsize=(cols * cell_width, rows * cell_height), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def to_display(image) -> np.ndarray:
    """One image as an (H, W, 3) array for `imshow`: uint8 stays 0..255, floats are clipped to 0..1.

    >>> to_display(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape      # one image, channels first
    (32, 32, 3)
    """
    image = torch.as_tensor(image).detach().cpu()
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ConfigError(f"Expected one image shaped (3, H, W), got {tuple(image.shape)}: pass images[i], not a batch.")
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    image = image.permute(1, 2, 0)
    if image.dtype == torch.uint8:
        return image.numpy()
    return image.float().clamp(0, 1).numpy()


def _show(axis, image, title=None, color=None) -> None:
    axis.imshow(to_display(image), interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    if title is not None:
        axis.set_title(title, fontsize=11, **({} if color is None else {"color": color}))


def _hide_unused(axes, used: int) -> None:
    for axis in axes.flat[used:]:
        axis.axis("off")


def image_grid(images, titles=None, ncols: int = 8, title: str | None = None, colors=None) -> Figure:
    """Images in rows of `ncols`, each with an optional title (and title colour).

    images: uint8 (N, 3, H, W) like `ImageSet.images`, or floats in 0..1.

    >>> from tl_lessons.data import load_dataset
    >>> ds = load_dataset("synthetic10", "test")
    >>> fig = image_grid(ds.images[:8], [ds.classes[y] for y in ds.labels[:8]], ncols=4)
    >>> len(fig.axes)
    8
    """
    images = torch.as_tensor(images)
    if images.dim() != 4 or len(images) == 0:
        raise ConfigError(f"image_grid needs a batch of images shaped (N, 3, H, W), got {tuple(images.shape)}.")
    if titles is not None and len(titles) != len(images):
        raise ConfigError(f"Give one title per image: {len(images)} images but {len(titles)} titles.")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    with projector_style():
        figure, axes = _new_figure(nrows, ncols, 1.4, 1.65 if titles is not None else 1.4)
        for i, image in enumerate(images):
            _show(axes.flat[i], image,
                  None if titles is None else titles[i],
                  None if colors is None else colors[i])
        _hide_unused(axes, len(images))
        if title:
            figure.suptitle(title)
    return figure


def _class_indices(ds, classes) -> list[int]:
    """Class numbers from names or numbers; all classes when `classes` is None."""
    if classes is None:
        return list(range(ds.num_classes))
    indices = []
    for c in classes:
        if isinstance(c, str):
            if c not in ds.classes:
                raise ConfigError(f"{c!r} is not a class of {ds.name}: pick from {', '.join(ds.classes[:10])}, ...")
            indices.append(ds.classes.index(c))
        else:
            indices.append(int(c))
    return indices


def class_samples(ds, per_class: int = 8, classes=None, seed: int = 0) -> list[tuple[int, list[int]]]:
    """The images `class_grid` shows: for each class (its number), up to `per_class` random image indices.

    The dashboard's data explorer shows the same images (the same seed gives the same ones).

    >>> from tl_lessons.data import load_dataset
    >>> class_samples(load_dataset("synthetic10", "test"), per_class=2, classes=["ring"], seed=0)
    [(5, [...])]
    """
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for c in _class_indices(ds, classes):
        members = torch.nonzero(ds.labels == c).flatten()
        samples.append((c, members[torch.randperm(len(members), generator=generator)[:per_class]].tolist()))
    return samples


def class_grid(ds, per_class: int = 8, classes=None, seed: int = 0, title: str | None = None) -> Figure:
    """One row per class, `per_class` random images of it (`class_samples`), the class name on the left.

    classes: names or numbers of the classes to show (default: all of them).

    >>> from tl_lessons.data import load_dataset
    >>> fig = class_grid(load_dataset("synthetic10", "test"), per_class=6, classes=["ring", "disc", "dots"])
    >>> fig.get_suptitle()
    'synthetic10 test: 6 images per class'

    Chapter 03 shows `class_grid(cifar100_train, per_class=6, classes=["leopard", "lion", "tiger"])`.
    """
    samples = class_samples(ds, per_class, classes, seed)
    with projector_style():
        figure, axes = _new_figure(len(samples), per_class, 1.15, 1.15)
        for row, (c, chosen) in enumerate(samples):
            for col in range(per_class):
                if col < len(chosen):
                    _show(axes[row, col], ds.images[chosen[col]])
                else:  # a class with fewer images than columns (the partial CIFAR-100 copy): an empty cell
                    axes[row, col].set_axis_off()
            # The row's name stays visible even when the class has no image at all.
            axes[row, 0].set_axis_on()
            axes[row, 0].set_frame_on(len(chosen) > 0)
            axes[row, 0].set_xticks([])
            axes[row, 0].set_yticks([])
            axes[row, 0].set_ylabel(ds.classes[c], rotation=0, ha="right", va="center")
        figure.suptitle(title or f"{ds.name} {ds.split}: {per_class} images per class")
    return figure


def superclass_members(ds) -> list[tuple[int, list[tuple[int, int]]]]:
    """The images `superclass_grid` shows: for each superclass (its number), (class, its first image) for each class.

    >>> from tl_lessons.imageset import ImageSet
    >>> four = ImageSet(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 2, 1]),
    ...                 ["maple", "oak", "lion"], "cifar100", "train", "four blank images", (0.5,) * 3, (0.25,) * 3,
    ...                 coarse_labels=torch.tensor([0, 0, 1, 0]), coarse_classes=["trees", "large carnivores"])
    >>> superclass_members(four)       # trees: maple (image 0) and oak (image 1); large carnivores: lion (image 2)
    [(0, [(0, 0), (1, 1)]), (1, [(2, 2)])]
    """
    if ds.coarse_labels is None:
        raise ConfigError(f"{ds.name} has no superclasses: superclass_grid needs CIFAR-100.")
    members = {}  # superclass -> its fine classes, in class order
    for fine, coarse in sorted(set(zip(ds.labels.tolist(), ds.coarse_labels.tolist()))):
        members.setdefault(coarse, []).append(fine)
    return [(coarse, [(fine, int(torch.nonzero(ds.labels == fine).flatten()[0])) for fine in members[coarse]])
            for coarse in sorted(members)]


def superclass_grid(ds, columns: int = 4, title: str | None = None) -> Figure:
    """CIFAR-100's 20 superclasses, each a block of one image of each of its 5 classes (`superclass_members`).

    Chapter 03 draws it for the real CIFAR-100 (after `make data`):

    fig = superclass_grid(load_dataset("cifar100", "train"))
    """
    members = superclass_members(ds)
    width = max(len(fines) for _, fines in members)
    rows = -(-len(members) // columns)
    with projector_style():
        figure = Figure(figsize=(columns * width * 0.95, rows * 1.75), layout="constrained")
        blocks = figure.subfigures(rows, columns, squeeze=False)
        for block, (coarse, fines) in zip(blocks.flat, members):
            axes = block.subplots(1, width, squeeze=False)[0]
            for axis, (fine, first) in zip(axes, fines):
                _show(axis, ds.images[first], ds.classes[fine].replace("_", "\n"))
            for axis in axes[len(fines):]:
                axis.axis("off")
            block.suptitle(ds.coarse_classes[coarse].replace("_", " "), fontweight="bold")
        figure.suptitle(title or f"{ds.name}: {len(members)} superclasses, one image of each of their classes")
    return figure


def enlarged(image, scale: int = 4) -> np.ndarray:
    """One image as an (H, W, 3) array with each pixel a `scale` x `scale` block: sharp when a page shows it large.

    >>> enlarged(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
    (128, 128, 3)
    """
    return to_display(image).repeat(scale, axis=0).repeat(scale, axis=1)


def data_uri(image) -> str:
    """An image (as `enlarged` gives it) as a PNG inside a data: URL, for a page that redraws often.

    Streamlit serves an array as a media file of the page's current redraw; a page that redraws twice a
    second may drop the file before the browser has fetched it (a broken image, an error in the browser's
    console). The image inside the URL has nothing to fetch.

    >>> data_uri(enlarged(torch.zeros(3, 32, 32, dtype=torch.uint8)))[:22]
    'data:image/png;base64,'
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def augmentation_grid(images, versions: int = 6, seed: int = 0, pad: int = 4, flip: bool = True,
                      titles=None) -> Figure:
    """Each row: an original image, then `versions` random augmentations of it (the training loader's own).

    >>> from tl_lessons.data import load_dataset
    >>> fig = augmentation_grid(load_dataset("synthetic10", "train").images[:2], versions=3)
    >>> len(fig.axes)          # each row: the original and 3 versions
    8
    """
    from tl_lessons.loader import augment_batch

    images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise ConfigError("augmentation_grid expects uint8 images, like ImageSet.images.")
    generator = torch.Generator().manual_seed(seed)
    # One call per column, like one epoch each: every image gets a fresh random crop and flip.
    augmented = [augment_batch(images, generator, pad=pad, flip=flip) for _ in range(versions)]
    with projector_style():
        figure, axes = _new_figure(len(images), versions + 1, 1.3, 1.45)
        for row, image in enumerate(images):
            _show(axes[row, 0], image, "original" if titles is None else titles[row])
            for col in range(versions):
                _show(axes[row, col + 1], augmented[col][row], f"version {col + 1}")
        figure.suptitle(f"Random crop (padding {pad}){' and horizontal flip' if flip else ''}: a new version every epoch")
    return figure


def epoch_events(run) -> list[dict]:
    """The epoch events of a run: a `History`, a list of events (any kinds), or a list of epoch dicts.

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> history = comparison_runs(load_reference_runs())[0]["epochs"]     # a recorded run's events
    >>> [event["epoch"] for event in epoch_events(history)]
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    events = run.epochs if hasattr(run, "epochs") else run
    return [e for e in events if e.get("kind", "epoch") == "epoch"]


def curves(runs, x: str = "epoch", title: str | None = None) -> Figure:
    """Loss and accuracy, training (solid) and validation (dashed), for one run or several.

    runs: a `History`, a list of events, or a dict {label: History or events} to compare.
    x: "epoch", or "seconds" (the wall-clock time each epoch ended) to compare speed.

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> scratch, probe = comparison_runs(load_reference_runs())[0::3][:2]      # two recorded runs, seed 0 each
    >>> fig = curves(scratch["epochs"])
    >>> fig = curves({"scratch": scratch["epochs"], "linear probe": probe["epochs"]}, x="seconds")
    >>> fig.axes[0].get_xlabel()
    'seconds of training'
    """
    if x not in ("epoch", "seconds"):
        raise ConfigError(f"x is 'epoch' or 'seconds', not {x!r}.")
    if not isinstance(runs, dict):
        runs = {"": runs}
    key = "epoch" if x == "epoch" else "elapsed"
    with projector_style():
        figure, axes = _new_figure(1, 2, 6.0, 4.2)
        loss_axis, acc_axis = axes[0]
        for index, (label, run) in enumerate(runs.items()):
            epochs = epoch_events(run)
            if not epochs:
                name = f"The run {label!r}" if label else "The run"
                raise ConfigError(f"{name} has no finished epoch to plot yet: train for at least one epoch.")
            color = f"C{index}"
            xs = [e[key] for e in epochs]
            prefix = f"{label} " if label else ""
            for axis, metric in ((loss_axis, "loss"), (acc_axis, "acc")):
                axis.plot(xs, [e[f"train_{metric}"] for e in epochs], "-o", color=color, label=f"{prefix}train")
                validation = [(x_value, e[f"val_{metric}"]) for x_value, e in zip(xs, epochs) if e.get(f"val_{metric}") is not None]
                if validation:
                    axis.plot(*zip(*validation), "--s", color=color, label=f"{prefix}validation")
        loss_axis.set_title("Loss (lower is better)")
        loss_axis.set_ylabel("cross-entropy")
        acc_axis.set_title("Accuracy (higher is better)")
        acc_axis.set_ylabel("fraction correct")
        for axis in (loss_axis, acc_axis):
            axis.set_xlabel("epoch" if x == "epoch" else "seconds of training")
            axis.grid(alpha=0.3)
        if len(runs) == 1:
            loss_axis.legend()
            acc_axis.legend()
        else:  # one shared legend under both plots, a column per run, so that no curve is hidden
            figure.legend(*loss_axis.get_legend_handles_labels(), loc="outside lower center", ncols=len(runs))
        if title:
            figure.suptitle(title)
    return figure


def per_class_bars(accuracies, classes, title: str | None = None, sort: bool = False) -> Figure:
    """A bar per class: its accuracy. Several runs side by side when given a dict {label: accuracies}.

    >>> fig = per_class_bars(torch.tensor([0.9, 0.55, 0.7]), ["cat", "dog", "ship"])   # e.g. `per_class_accuracy`'s
    >>> fig = per_class_bars({"before": torch.tensor([0.5, 0.5, 0.6]), "after": torch.tensor([0.9, 0.55, 0.7])},
    ...                      ["cat", "dog", "ship"], sort=True)
    """
    if not isinstance(accuracies, dict):
        accuracies = {"": accuracies}
    series = {label: torch.as_tensor(values, dtype=torch.float64) for label, values in accuracies.items()}
    for label, values in series.items():
        if len(values) != len(classes):
            raise ConfigError(f"{len(values)} accuracies {label} but {len(classes)} class names: give one per class.")
    order = list(range(len(classes)))
    if sort:  # weakest class first, by the first run
        order = torch.argsort(next(iter(series.values()))).tolist()
    width = 0.8 / len(series)
    positions = np.arange(len(classes))
    with projector_style():
        figure, axes = _new_figure(1, 1, max(7.0, 0.45 * len(classes) * max(1, len(series) / 2)), 4.5)
        axis = axes[0, 0]
        for index, (label, values) in enumerate(series.items()):
            axis.bar(positions + (index - (len(series) - 1) / 2) * width, values[order].numpy(), width,
                     label=label or None, color=f"C{index}")
        axis.set_xticks(positions, [classes[i] for i in order], rotation=45 if len(classes) > 6 else 0, ha="right")
        axis.set_ylim(0, 1)
        axis.set_ylabel("accuracy")
        axis.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            axis.legend()
        axis.set_title(title or "Accuracy on each class")
    return figure


def confusion(matrix, classes, normalise: bool = True, title: str | None = None) -> Figure:
    """The confusion matrix as a heat map: row = true class, column = predicted class.

    normalise: show each row as fractions of that class's images (its diagonal cell is the class's accuracy).

    >>> fig = confusion(torch.tensor([[8, 2], [1, 9]]), ["cat", "dog"])    # e.g. `inference.confusion_matrix`'s
    """
    counts = torch.as_tensor(matrix, dtype=torch.float64)
    if counts.shape != (len(classes), len(classes)):
        raise ConfigError(f"The matrix is {tuple(counts.shape)} but there are {len(classes)} classes: it must be square, one row per class.")
    shown = counts / counts.sum(1, keepdim=True).clamp(min=1) if normalise else counts
    size = max(6.0, 0.55 * len(classes))
    with projector_style():
        figure, axes = _new_figure(1, 1, size + 1.5, size)
        axis = axes[0, 0]
        picture = axis.imshow(shown.numpy(), cmap="Blues", vmin=0)
        figure.colorbar(picture, ax=axis, label="fraction of the true class" if normalise else "images")
        axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        axis.set_yticks(range(len(classes)), classes)
        axis.set_xlabel("predicted class")
        axis.set_ylabel("true class")
        if len(classes) <= 20:  # numbers in the cells only while they stay legible
            threshold = shown.max().item() / 2
            for row in range(len(classes)):
                for col in range(len(classes)):
                    value = shown[row, col].item()
                    text = f"{value:.2f}" if normalise else f"{int(value)}"
                    axis.text(col, row, text, ha="center", va="center", fontsize=9,
                              color="white" if value > threshold else "black")
        axis.set_title(title or "Confusion matrix (diagonal = correct)")
    return figure


def prediction_grid(images, probabilities, labels, classes, right: int = 8, wrong: int = 8,
                    ncols: int = 8, title: str | None = None) -> Figure:
    """The first `right` correctly and `wrong` wrongly classified images, with the model's confidence.

    Each title is the predicted class and its probability, green when right, red when wrong
    (then the true class follows). probabilities: (N, C), e.g. from `tl_lessons.inference.predict`.

    >>> images = torch.zeros(3, 3, 32, 32, dtype=torch.uint8)
    >>> probabilities = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])   # e.g. `inference.predict`'s
    >>> fig = prediction_grid(images, probabilities, [0, 1, 1], ["cat", "dog"])
    >>> fig.get_suptitle(), [axis.get_title() for axis in fig.axes]
    ('Predictions: 2 right (green), 1 wrong (red)', ['cat 90%', 'dog 70%', 'cat 60%\\n(true: dog)'])
    """
    probabilities = torch.as_tensor(probabilities)
    labels = torch.as_tensor(labels)
    confidence, predicted = probabilities.max(1)
    correct = predicted == labels
    picked = torch.cat([torch.nonzero(correct).flatten()[:right], torch.nonzero(~correct).flatten()[:wrong]])
    if len(picked) == 0:
        raise ConfigError("There is nothing to show: ask for at least one right or wrong prediction.")
    titles, colors = [], []
    for i in picked.tolist():
        text = f"{classes[predicted[i]]} {confidence[i]:.0%}"
        if not correct[i]:
            text += f"\n(true: {classes[labels[i]]})"
        titles.append(text)
        colors.append(RIGHT_COLOR if correct[i] else WRONG_COLOR)
    shown_right = int(correct[picked].sum())
    heading = title or f"Predictions: {shown_right} right (green), {len(picked) - shown_right} wrong (red)"
    return image_grid(torch.as_tensor(images)[picked], titles, ncols=ncols, title=heading, colors=colors)


def first_conv_weight(model_or_weight) -> torch.Tensor:
    """The weight (out, in, k, k) of a model's first Conv2d, or the tensor itself when given one.

    >>> from tl_lessons.models import FastNet
    >>> first_conv_weight(FastNet(10)).shape
    torch.Size([16, 3, 3, 3])
    """
    if isinstance(model_or_weight, torch.Tensor):
        return model_or_weight.detach()
    for module in model_or_weight.modules():
        if isinstance(module, torch.nn.Conv2d):
            return module.weight.detach()
    raise ConfigError("This model has no Conv2d layer, so it has no filters to show.")


def filters(model_or_weight, ncols: int = 8, title: str | None = None) -> Figure:
    """The first convolution's filters as small colour pictures (each stretched to its own full range).

    A trained network's first filters look like edges, colour blobs and stripes; a fresh one's look like noise.

    >>> from tl_lessons.checkpoints import load_source_model
    >>> fig = filters(load_source_model()[0])        # the shipped CIFAR-10 model's 16 first filters
    >>> fig.get_suptitle()
    'First-layer filters: 16 of size 3x3'
    """
    weight = first_conv_weight(model_or_weight).float().cpu()
    if weight.dim() != 4 or weight.shape[1] not in (1, 3):
        raise ConfigError(f"Filters are shown for a first layer with 1 or 3 input channels, not weight {tuple(weight.shape)}.")
    # Each filter gets its own min-max scaling: the pattern matters here, not the overall size.
    low = weight.amin(dim=(1, 2, 3), keepdim=True)
    high = weight.amax(dim=(1, 2, 3), keepdim=True)
    pictures = (weight - low) / (high - low).clamp(min=1e-12)
    out_channels, _, height, width = weight.shape
    return image_grid(pictures, ncols=ncols,
                      title=title or f"First-layer filters: {out_channels} of size {height}x{width}")
