"""One transfer experiment, described by plain values and assembled in one place.

The chapters, the dashboard, the command line and the benchmark all run the same kind of
experiment: take a source model, give it a new head for the target classes, freeze some of
it, and train on a few target labels. `TransferSetup` holds those choices; `prepare` turns
them into the objects `tl_lessons.train.fit` needs, so every front end runs the same code.

    >>> setup = TransferSetup(target="synthetic100", strategy="freeze", k=2, per_class=10)
    >>> model, strategy, train_set, val_set, config = prepare(setup)   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import data, models, transfer
from .checkpoints import SOURCE_CHECKPOINT, load_checkpoint, load_source_model
from .errors import ConfigError
from .train import TrainConfig

SOURCES = ("shipped", "imagenet", "scratch")  # or a path to a checkpoint file

# What the kit knows about torchvision's ImageNet ResNet-18, in the shape of a checkpoint's metadata.
IMAGENET_META = {
    "arch": "imagenet_resnet18",
    "arch_options": {"pretrained": False},  # a scratch run builds the architecture without weights
    "num_classes": 1000,
    "mean": models.IMAGENET_MEAN,
    "std": models.IMAGENET_STD,
    "dataset": "imagenet",
    "source": "torchvision's ResNet18_Weights.IMAGENET1K_V1: ImageNet-1k, 1.28 million photos at 224x224",
}


@dataclass
class TransferSetup:
    """Every choice of a transfer run, as plain values (the dashboard keeps them in the URL).

    source: "shipped" (the CIFAR-10 FastNet that comes with the kit), "imagenet" (torchvision's
        ResNet-18 pre-trained on ImageNet; its weights must be downloaded once), a checkpoint
        path, or "scratch" (the shipped architecture, randomly initialised: the baseline
        transfer must beat).
    target: a dataset name from `tl_lessons.data.load_dataset` ("cifar100", "synthetic100", ...).
    per_class / fraction: how many target labels to train on (at most one of them).
    val: "test" evaluates on the target's test split; a float carves that fraction off the
        training labels instead (the honest choice when you tune settings on it).
    """

    source: str = "shipped"
    target: str = "cifar100"
    per_class: int | None = None
    fraction: float | None = None
    strategy: str = "linear_probe"
    k: int = 0
    bn: str = "eval"
    head_lr_factor: float = 10.0
    stage_decay: float = 0.5
    unfreeze_every: int = 1
    head_epochs: int = 1
    epochs: int = 8
    lr: float = 0.05
    batch_size: int = 128
    seed: int = 0
    val: str | float = "test"
    extra: dict = field(default_factory=dict)  # further TrainConfig fields, e.g. {"augment": False}

    def label(self) -> str:
        """A short name for charts and tables, e.g. ``freeze k=2 · bn eval · lr 0.05 · 10/class``."""
        name = {"freeze": f"freeze k={self.k}"}.get(self.strategy, self.strategy.replace("_", " "))
        parts = [name]
        if self.strategy in ("freeze", "linear_probe", "gradual", "head_first"):
            parts.append(f"bn {self.bn}")
        if self.strategy == "discriminative":
            parts.append(f"head×{self.head_lr_factor:g} decay {self.stage_decay:g}")
        parts.append(f"lr {self.lr:g}")
        if self.per_class:
            parts.append(f"{self.per_class}/class")
        elif self.fraction:
            parts.append(f"{self.fraction:.0%} labels")
        if self.source not in ("shipped",):
            parts.append(f"from {Path(self.source).name}")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        """Plain values (for the run store, the URL, JSON)."""
        return dataclasses.asdict(self)


def load_source(source: str):
    """The source model and its checkpoint metadata.

    "imagenet" raises `WeightsUnavailableError` (saying what to do) when torchvision's weights
    are neither cached nor downloadable.

    >>> model, meta = load_source("shipped")   # doctest: +SKIP
    """
    if source == "shipped":
        return load_source_model()
    if source == "imagenet":
        return models.imagenet_resnet18(1000), IMAGENET_META
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"There is no checkpoint at {path}: choose 'shipped' or the path of a saved checkpoint.")
    return load_checkpoint(path)


def load_target(setup: TransferSetup, root=None):
    """The target training and validation sets chosen by `setup` (subset and split applied).

    >>> train_set, val_set = load_target(TransferSetup(target="synthetic100", per_class=5))  # doctest: +SKIP
    """
    if setup.per_class and setup.fraction:
        raise ConfigError("Choose either images per class or a label fraction, not both.")
    full_train = data.load_dataset(setup.target, "train", root=root, seed=setup.seed)
    if isinstance(setup.val, float):
        train_set, val_set = data.split_validation(full_train, val_fraction=setup.val, seed=setup.seed)
    elif setup.val == "test":
        train_set, val_set = full_train, data.load_dataset(setup.target, "test", root=root, seed=setup.seed)
    else:
        raise ConfigError(f"val must be 'test' or a fraction such as 0.1, not {setup.val!r}.")
    if setup.per_class:
        train_set = data.per_class_subset(train_set, setup.per_class, seed=setup.seed)
    elif setup.fraction:
        train_set = data.label_fraction(train_set, setup.fraction, seed=setup.seed)
    return train_set, val_set


def source_meta(source: str) -> dict:
    """A source's metadata (architecture, normalisation, provenance) without loading more than needed.

    "scratch" describes the shipped model's architecture (or the default one in a copy of the kit
    without it); "imagenet" needs no download.
    """
    if source == "imagenet":
        return IMAGENET_META
    if source == "scratch":
        if not SOURCE_CHECKPOINT.is_file():  # a copy of the kit without the shipped model
            return {"arch": TrainConfig().arch, "arch_options": {}}
        source = "shipped"
    return load_source(source)[1]


def build_target_model(setup: TransferSetup, num_classes: int):
    """The model to train: the source's weights with a new head, or a fresh one for "scratch".

    Returns (model, source metadata). A "scratch" run uses the shipped model's architecture so
    that the comparison with transfer is fair (same network, same budget, no copied weights).
    """
    if setup.source == "scratch" or setup.strategy == "scratch":
        meta = source_meta(setup.source)
        model = models.build_model(meta["arch"], num_classes, **meta.get("arch_options", {}))
        torch.manual_seed(setup.seed)
        transfer.reset_parameters(model, seed=setup.seed)
        return model, meta
    model, meta = load_source(setup.source)
    return models.replace_head(model, num_classes), meta


def check(setup: TransferSetup, num_stages: int) -> list[str]:
    """Reasons why `setup` cannot run, as sentences for the learner (empty when it can).

    >>> check(TransferSetup(strategy="freeze", k=9), num_stages=5)[0]
    'Freeze the first k stages: k must be between 0 and 4 (the head always trains).'
    """
    problems = []
    if setup.strategy not in transfer.STRATEGIES:
        problems.append(f"Unknown strategy {setup.strategy!r}: choose one of {', '.join(transfer.STRATEGIES)}.")
    if setup.strategy == "freeze" and not 0 <= setup.k <= num_stages - 1:
        problems.append(
            f"Freeze the first k stages: k must be between 0 and {num_stages - 1} (the head always trains)."
        )
    if setup.source == "scratch" and setup.strategy not in ("scratch", "finetune"):
        problems.append("A scratch model has nothing worth freezing: pick the strategy 'scratch' or a pre-trained source.")
    if setup.lr <= 0:
        problems.append("The learning rate must be positive: try 0.01.")
    if setup.epochs < 1:
        problems.append("Train for at least one epoch.")
    if setup.batch_size < 1:
        problems.append("The batch size must be at least 1.")
    if setup.per_class is not None and setup.per_class < 1:
        problems.append("Use at least one image per class.")
    if setup.fraction is not None and not 0 < setup.fraction <= 1:
        problems.append("The label fraction must be between 0 and 1 (for example 0.1 for 10 %).")
    if setup.bn not in ("eval", "train"):
        problems.append("The BatchNorm option is 'eval' (keep running statistics) or 'train'.")
    return problems


def prepare(setup: TransferSetup, root=None):
    """Everything `fit` needs for `setup`: (model, strategy, train_set, val_set, config).

    Raises `ConfigError` with a learner-facing sentence when the setup cannot run.

    >>> model, strategy, train_set, val_set, config = prepare(TransferSetup(target="synthetic100"))  # doctest: +SKIP
    """
    train_set, val_set = load_target(setup, root=root)
    model, meta = build_target_model(setup, train_set.num_classes)
    problems = check(setup, num_stages=len(models.stage_names(model)))
    if problems:
        raise ConfigError(" ".join(problems))
    strategy = transfer.apply_strategy(
        model,
        setup.strategy,
        k=setup.k,
        bn=setup.bn,
        head_lr_factor=setup.head_lr_factor,
        stage_decay=setup.stage_decay,
        unfreeze_every=setup.unfreeze_every,
        head_epochs=setup.head_epochs,
    )
    config = dataclasses.replace(
        TrainConfig(),
        epochs=setup.epochs,
        lr=setup.lr,
        batch_size=setup.batch_size,
        seed=setup.seed,
        arch=meta.get("arch", TrainConfig().arch),
        **{**normalisation(setup, meta), **setup.extra},  # `extra` may still set mean and std itself
    )
    return model, strategy, train_set, val_set, config


def normalisation(setup: TransferSetup, meta: dict) -> dict:
    """{"mean", "std"} for the run's TrainConfig: the source's own for a pre-trained source.

    A pre-trained network expects its inputs scaled as in its own training (ImageNet's statistics
    for the ImageNet ResNet, CIFAR-10's for the shipped model). A scratch run has no such
    expectation and uses the target's own statistics (None).
    """
    if setup.source == "scratch" or setup.strategy == "scratch":
        return {"mean": None, "std": None}
    return {"mean": meta.get("mean"), "std": meta.get("std")}
