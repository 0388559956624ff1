"""One transfer run, described by plain values: `TransferSetup`, what is wrong with it, and `prepare`.

The chapters, the dashboard, the command line and the benchmark all run the same kind of
experiment: take a source model, give it a new head for the target classes, freeze some of
it, and train on a few target labels. `TransferSetup` holds those choices with their defaults;
`TransferSetup.problems` says what is wrong with them, beside the widget each sentence belongs
to; `prepare` turns them into the objects `tl_lessons.train.fit` needs, so every front end runs
the same code.

    >>> setup = TransferSetup(target="synthetic100", strategy="freeze", k=2, per_class=10)
    >>> setup.problems()
    {}
    >>> model, strategy, train_set, val_set, config = prepare(setup)
    >>> len(train_set), len(val_set), strategy.name, config.lr       # the freeze strategy's tuned rate
    (1000, 500, 'freeze', 0.3)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import data, models, targets, transfer
from .checkpoints import SOURCE_CHECKPOINT, load_checkpoint, load_source_model
from .data import per_class_problem
from .errors import ConfigError, is_whole_number
from .train import TrainConfig
from .transfer import Strategy

# A transfer run of the lessons needs far fewer epochs: more is a typo that would hold the CPU for hours.
MAX_EPOCHS = 100

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
    """Every choice of a transfer run, as plain values with their defaults (the dashboard keeps them in the URL).

    source: "shipped" (the CIFAR-10 FastNet that comes with the kit), "imagenet" (torchvision's
        ResNet-18 pre-trained on ImageNet; its weights must be downloaded once), a checkpoint
        path, or "scratch" (the shipped architecture, randomly initialised: the baseline
        transfer must beat).
    target: a dataset name from `tl_lessons.data.load_dataset` ("cifar100", "synthetic100", ...).
    classes: which of the target's classes the run learns (`tl_lessons.targets`): "all", or the 15
        "near" classes that look like CIFAR-10's, or 15 "far" ones that do not.
    per_class / fraction: how many labelled target images per class to train on, as a number or as
        a fraction of each class (fraction=1.0: every training image but the validation ones). With
        neither, the kit's few-shot task: `data.FEW_SHOT` images per class, drawn once and for all
        (`data.task_split`).
    val_per_class: validation images per class, held out from the *training* split: the curves,
        the tuning and every choice look at them. The test split is kept for the one reported
        number at the end (`load_test`).
    k ... head_epochs: the strategy's options, with `transfer.Strategy`'s defaults.
    lr: the peak learning rate; None starts from the strategy's tuned rate (`transfer.STRATEGY_TABLE`).
    """

    source: str = "shipped"
    target: str = "cifar100"
    classes: str = "all"
    per_class: int | None = None
    fraction: float | None = None
    strategy: str = "linear_probe"
    k: int = Strategy.k
    bn: str = Strategy.bn
    head_lr_factor: float = Strategy.head_lr_factor
    stage_decay: float = Strategy.stage_decay
    unfreeze_every: int = Strategy.unfreeze_every
    head_epochs: int = Strategy.head_epochs
    epochs: int = 8
    lr: float | None = None
    batch_size: int = 128
    seed: int = 0                  # the training run's randomness (new head, batch order, augmentation), not the task's
    val_per_class: int = data.VAL_PER_CLASS
    extra: dict = field(default_factory=dict)  # further TrainConfig fields, e.g. {"augment": False}

    def __post_init__(self):
        if self.per_class is None and self.fraction is None:
            self.per_class = data.FEW_SHOT
        if self.lr is None and self.strategy in transfer.STRATEGY_TABLE:
            self.lr = transfer.STRATEGY_TABLE[self.strategy].lr

    def label(self) -> str:
        """A short name for charts and tables, e.g. ``freeze k=2 · bn eval · lr 0.3 · 10/class``."""
        takes = self.options_taken()
        parts = [f"{self.strategy} k={self.k}" if "k" in takes else self.strategy.replace("_", " ")]
        if "bn" in takes:
            parts.append(f"bn {self.bn}")
        if "head_lr_factor" in takes:
            parts.append(f"head×{self.head_lr_factor:g} decay {self.stage_decay:g}")
        parts.append(f"lr {self.lr:g}")
        if self.extra.get("augment") is False:  # the kit trains on augmented images unless told otherwise
            parts.append("plain images")
        if self.per_class:
            parts.append(f"{self.per_class}/class")
        elif self.fraction == 1:
            parts.append("all labels")
        elif self.fraction:
            parts.append(f"{self.fraction:.0%} labels")
        if self.classes != "all":
            parts.append(f"{self.classes} classes")
        if self.source != "shipped":
            parts.append(f"from {Path(self.source).name}")
        return " · ".join(parts)

    def options_taken(self) -> tuple:
        """The strategy options that matter for this setup's strategy (its row of `transfer.STRATEGY_TABLE`)."""
        row = transfer.STRATEGY_TABLE.get(self.strategy)
        return row.options if row is not None else ()

    def as_strategy(self) -> Strategy:
        """The setup's strategy with its options, as `apply_strategy` takes it."""
        return Strategy(self.strategy, **{name: getattr(self, name) for name in transfer.OPTIONS})

    def to_dict(self) -> dict:
        """Plain values (for the run store, the URL, JSON)."""
        return dataclasses.asdict(self)

    def problems(self, stages=None, smallest_class=None, unavailable=None) -> dict:
        """What is wrong with this setup, as {field: sentence}, so each sentence can sit beside its widget.

        The one check of a transfer setup: `prepare` (so the chapters and the command line), and
        the dashboard ask it. Each argument adds what only the caller knows: `stages`, the stage
        names of the model (for the freeze depth k); `smallest_class`, the training images of the
        target's smallest class (the most images per class one can ask for); `unavailable`, the
        sources that cannot be used here, with the reason. An empty dict means it can be trained.

        >>> TransferSetup(strategy="freeze", k=7).problems(stages=["stem", "stage1", "head"])
        {'k': 'k must be between 0 and 2 for this model: it counts the frozen stages among stem, stage1, head, and the head always trains.'}
        """
        problems = {}
        if unavailable and self.source in unavailable:
            problems["source"] = unavailable[self.source]
        if self.target not in data.DATASETS:
            problems["target"] = f"Choose a target among {', '.join(data.DATASETS)}."
        if (problem := targets.target_problem(self.classes)) is not None:
            problems["classes"] = problem
        if transfer.strategy_problem(self.strategy) is not None:
            problems["strategy"] = transfer.strategy_problem(self.strategy)
        else:
            if self.source == "scratch" and self.strategy not in ("scratch", "finetune"):
                problems["strategy"] = (
                    "Random weights have nothing worth keeping frozen: choose the strategy 'scratch' "
                    "(train from scratch) or 'finetune', or pick a pre-trained source model.")
            problems.update(transfer.option_problems(self.as_strategy(), stages))
        if self.per_class is not None and self.fraction is not None:
            problems["fraction"] = "Choose either images per class or a label fraction, not both."
        elif self.per_class is not None:
            if (problem := per_class_problem(self.per_class, smallest_class)) is not None:
                problems["per_class"] = problem
        elif self.fraction is not None and (problem := data.fraction_problem(self.fraction)) is not None:
            problems["fraction"] = problem
        problems.update(TrainConfig(lr=self.lr, batch_size=self.batch_size, seed=self.seed).problems())
        if (problem := epochs_problem(self.epochs)) is not None:
            problems["epochs"] = problem
        elif (problem := transfer.schedule_problem(self.as_strategy(), self.epochs)) is not None:
            problems["head_epochs"] = problem  # the one strategy with a schedule rule: head_first
        if not (is_whole_number(self.val_per_class) and self.val_per_class >= 1):
            problems["val_per_class"] = ("Hold out a whole number of validation images per class, at least 1: "
                                         "the curves and every choice are made on them.")
        settings = {f.name for f in dataclasses.fields(TrainConfig)}
        if unknown := [name for name in self.extra if name not in settings]:
            problems["extra"] = f"extra holds TrainConfig settings, and {', '.join(unknown)} is not one of them."
        return problems


def epochs_problem(epochs) -> str | None:
    """Why a transfer run cannot train for `epochs` (None when it can): `TrainConfig`'s rule, and MAX_EPOCHS.

    >>> epochs_problem(500)
    'Train for at most 100 epochs: a transfer run of the lessons needs far fewer.'
    """
    problem = TrainConfig(epochs=epochs).problems().get("epochs")
    if problem is None and epochs > MAX_EPOCHS:
        problem = f"Train for at most {MAX_EPOCHS} epochs: a transfer run of the lessons needs far fewer."
    return problem


def load_source(source: str):
    """The source model and its checkpoint metadata.

    "imagenet" raises `WeightsUnavailableError` (saying what to do) when torchvision's weights
    are neither cached nor downloadable.

    >>> model, meta = load_source("shipped")
    >>> meta["arch"], meta["dataset"], models.output_count(model)
    ('fastnet', 'cifar10', 10)
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
    """The target's training and validation images for `setup`, both from the target's training split.

    The draw is the task's (`data.task_split`, fixed seed), not the run's: every run of a task, whatever
    its seed, trains and validates on the same images.

    >>> train_set, val_set = load_target(TransferSetup(target="synthetic100", per_class=5))
    >>> len(train_set), len(val_set)            # 5 and 5 images of each of the 100 classes
    (500, 500)
    """
    full_train = data.load_dataset(setup.target, "train", root=root)
    return _task_images(full_train, setup.classes, setup.per_class, setup.fraction, setup.val_per_class)


# Runs of one task share its images: thirty learners trying thirty strategies on the five-shot task hold one
# copy of its training and validation images, not thirty. Keyed by the very dataset object (a reloaded or
# restricted dataset is another key), and never changed in place by anything in the kit.
_TASKS: dict[tuple, tuple] = {}
_TASKS_KEPT = 8


def _task_images(full_train, classes, per_class, fraction, val_per_class):
    key = (id(full_train), classes, per_class, fraction, val_per_class)
    kept = _TASKS.get(key)
    if kept is not None and kept[0] is full_train:  # the id of a dataset since freed may be reused
        return kept[1]
    task = data.task_split(targets.restrict(full_train, classes), per_class=per_class, fraction=fraction,
                           val_per_class=val_per_class)
    if len(_TASKS) >= _TASKS_KEPT:
        _TASKS.pop(next(iter(_TASKS)))  # the oldest
    _TASKS[key] = (full_train, task)
    return task


def load_test(setup: TransferSetup, root=None):
    """The target's test split: touched once per reported number, after every choice was made on validation.

    A run's reported number: `inference.evaluate(model, load_test(setup), mean=config.mean, std=config.std)`.

    >>> len(load_test(TransferSetup(target="synthetic100", classes="far")))     # 20 test images of 15 classes
    300
    """
    return targets.restrict(data.load_dataset(setup.target, "test", root=root), setup.classes)


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


def source_stages(source: str) -> list[str]:
    """The stage names of a source's architecture, head last: what the freeze depth k counts.

    Only the architecture is built, with the global random state left as it was, so that asking
    changes no later result.

    >>> source_stages("imagenet")
    ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'head']
    """
    meta = source_meta(source)
    with torch.random.fork_rng(devices=[]):
        model = models.build_model(meta["arch"], meta.get("num_classes", 10), **meta.get("arch_options", {}))
    return models.stage_names(model)


def prepare(setup: TransferSetup, root=None):
    """Everything `fit` needs for `setup`: (model, strategy, train_set, val_set, config).

    The setup is checked first, before any data is read: a setup with problems raises one
    `ConfigError` with every sentence of `setup.problems`.

    >>> model, strategy, train_set, val_set, config = prepare(TransferSetup(target="synthetic100"))
    >>> models.output_count(model), strategy.name, config.mean    # a new head; the source's normalisation
    (100, 'linear_probe', (0.4914, 0.4822, 0.4465))
    """
    problems = setup.problems(stages=source_stages(setup.source))
    if problems:
        raise ConfigError(" ".join(problems.values()))
    train_set, val_set = load_target(setup, root=root)
    model, strategy, config = prepare_model(setup, train_set.num_classes)
    return model, strategy, train_set, val_set, config


def prepare_model(setup: TransferSetup, num_classes: int):
    """`prepare` without the data: (model, strategy, config) of `setup` for a target of `num_classes` classes.

    For images the caller has already (chapter 04's ImageNet probe trains on the task's images).
    The new head is drawn from torch's global random state: seed it first for a run that repeats.

    Chapter 04 asks for `prepare_model(TransferSetup(source="imagenet"), num_classes=100)`, whose weights
    are downloaded once; a scratch run needs nothing:

    >>> model, strategy, config = prepare_model(TransferSetup(source="scratch", strategy="scratch"), num_classes=100)
    >>> models.output_count(model), strategy.name, config.mean      # None: the target's own statistics
    (100, 'scratch', None)
    """
    model, meta = build_target_model(setup, num_classes)
    strategy = transfer.apply_strategy(model, setup.as_strategy())
    config = dataclasses.replace(
        TrainConfig(),
        epochs=setup.epochs,
        lr=setup.lr,
        batch_size=setup.batch_size,
        seed=setup.seed,
        arch=meta.get("arch", TrainConfig().arch),
        **{**normalisation(setup, meta), **setup.extra},  # `extra` may still set mean and std itself
    )
    return model, strategy, config


def normalisation(setup: TransferSetup, meta: dict) -> dict:
    """{"mean", "std"} for the run's TrainConfig: the source's own for a pre-trained source.

    A pre-trained network expects its inputs scaled as in its own training (ImageNet's statistics
    for the ImageNet ResNet, CIFAR-10's for the shipped model). A scratch run has no such
    expectation and uses the target's own statistics (None).
    """
    if setup.source == "scratch" or setup.strategy == "scratch":
        return {"mean": None, "std": None}
    return {"mean": meta.get("mean"), "std": meta.get("std")}
