"""Which CIFAR-100 classes a transfer run learns: all 100, or a "near" or "far" target of 15.

Whether a source model helps depends on how much its target resembles what it learnt. The kit's
source learnt CIFAR-10 (planes, cars, birds, cats, deer, dogs, frogs, horses, ships, trucks), so it
offers two targets of fifteen CIFAR-100 classes each, chosen before any run by looking at the
pictures, not by any accuracy:

- **near**: the CIFAR-100 classes that look like a CIFAR-10 class at 32x32 pixels
  (`vocabulary.LOOKALIKES`: rocket, pickup truck, bus, leopard, ...);
- **far**: flowers, fruit, furniture and household objects, which no CIFAR-10 class resembles.

A target is only a class list: the labelled images are drawn from it by `data.task_split`'s rules
(k per class, a fixed draw, validation images held out of the training split), and its test images
are the target classes' images of the test split. `TransferSetup(classes="near")` trains on one.

    >>> from tl_lessons.data import load_dataset
    >>> [TARGETS[name].size() for name in ("near", "far")]
    [15, 15]
    >>> train_set = restrict(load_dataset("synthetic100", "train"), NEAR)   # CIFAR-100's after `make data`
    >>> train_set.num_classes, len(train_set)
    (15, 1500)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tl_lessons import vocabulary
from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet


@dataclass(frozen=True)
class Target:
    """A named list of CIFAR-100 classes (None: every class of the dataset) and why it was chosen."""

    name: str
    classes: tuple[str, ...] | None
    why: str

    def size(self) -> int | None:
        """How many classes the target has (None: all of the dataset's)."""
        return None if self.classes is None else len(self.classes)


# dict.fromkeys keeps the table's order and drops repeats (pickup_truck and cattle resemble two classes).
NEAR = Target("near", tuple(dict.fromkeys(name for names in vocabulary.LOOKALIKES.values() for name in names)),
              "the CIFAR-100 classes that look like a CIFAR-10 class (chapter 01's lookalike table)")
FAR = Target("far", ("orchid", "poppy", "rose", "sunflower", "tulip", "apple", "orange", "pear", "sweet_pepper",
                     "bed", "chair", "couch", "table", "clock", "lamp"),
             "flowers, fruit and vegetables, furniture and household objects: nothing CIFAR-10 shows")
ALL = Target("all", None, "every class of the dataset")
TARGETS = {target.name: target for target in (ALL, NEAR, FAR)}
"""The targets by name: what `TransferSetup.classes` and the dashboard's target menu offer."""


def target_problem(name) -> str | None:
    """Why `name` is not a target (None when it is).

    >>> target_problem("nearby")
    "Choose the target classes among all, near, far, not 'nearby'."
    """
    if name in TARGETS:
        return None
    return f"Choose the target classes among {', '.join(TARGETS)}, not {name!r}."


def named_in(ds: ImageSet, target: Target) -> bool:
    """Whether `ds` has the target's classes by name (CIFAR-100 has; the synthetic sets and the stand-in have not)."""
    return target.classes is None or all(name in ds.classes for name in target.classes)


def class_indices(ds: ImageSet, target: Target) -> list[int]:
    """The labels of `ds` that make up `target`, in the target's order.

    A dataset without CIFAR-100's class names (the synthetic practice sets and the full-size stand-in)
    cannot show near or far: there the target takes the same number of classes, the first ones for
    "near" and the last ones for "far", so every cell runs and costs what it costs on CIFAR-100 (the
    description says it is a stand-in).
    """
    if target.classes is None:
        return list(range(ds.num_classes))
    if named_in(ds, target):
        return [ds.classes.index(name) for name in target.classes]
    n = len(target.classes)
    if n > ds.num_classes:
        raise ConfigError(f"The {target.name} target needs {n} classes and {ds.name} has {ds.num_classes}: "
                          "use CIFAR-100 or Synthetic-100.")
    return list(range(n)) if target is not FAR else list(range(ds.num_classes - n, ds.num_classes))


def restrict(ds: ImageSet, target: Target | str) -> ImageSet:
    """The images of `ds` whose class is in `target`, labelled 0..n-1 in the target's order.

    >>> from tl_lessons.data import load_dataset
    >>> restrict(load_dataset("synthetic100", "test"), "far").num_classes
    15
    """
    target = TARGETS[target] if isinstance(target, str) else target
    if target.classes is None:
        return ds
    keep = class_indices(ds, target)
    relabel = torch.full((ds.num_classes,), -1, dtype=torch.long)
    relabel[keep] = torch.arange(len(keep))
    rows = (relabel[ds.labels] >= 0).nonzero().squeeze(1)
    part = ds.take(rows)
    named = named_in(ds, target)
    part.labels = relabel[part.labels]
    part.classes = [ds.classes[c] for c in keep]
    part.source = f"{ds.source}; the {target.name} target's {len(keep)} classes" + (
        "" if named else f" (not CIFAR-100: {len(keep)} of its classes stand in for the {target.name} ones)")
    return part
