"""Training: one plain loop that reports what it does as a stream of events.

`fit` is a generator. Each time the caller asks for the next event it trains a little and
says what happened, so a notebook can print, a dashboard can redraw a chart, and a learner
can step through the loop in a debugger:

    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)   # 50 images each
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=2, batch_size=25)
    >>> for event in fit(build_model("fastnet", 10), train_set, val_set, config):
    ...     if event["kind"] == "epoch":
    ...         print(event["epoch"], 0 <= event["val_acc"] <= 1)    # a chapter prints the accuracy itself
    1 True
    2 True

Events are plain dicts (JSON-serialisable, so the run store can keep them):

* ``start``: ``total_steps, epochs, trainable, frozen, device`` (parameter counts; + ``cached_stages,
  batch_size, train_images, bf16, channels_last``, and ``note``: a sentence to show, or None)
* ``features``: ``done, total, elapsed`` while the outputs of frozen stages are computed once (see `fit`)
* ``step``: ``step, epoch, loss, lr, images_per_s, elapsed``
* ``epoch``: ``epoch, train_loss, train_acc, val_loss, val_acc, elapsed, val_seconds, unfrozen``
* ``end``: ``status`` ("finished", "stopped" or "diverged"), ``message, elapsed, val_acc, best_val_acc``
* ``predictions`` (only with ``report_predictions=True``): ``epoch, predicted``, after each epoch event: the
  class the model predicts for every validation image, in the validation set's order

`follow` consumes a stream with a progress bar and returns a `History` (`train` = `fit` + `follow`). The
loop's helpers live beside it: `tl_lessons.hardware` (device, threads, bf16), `tl_lessons.feature_cache`
(frozen stages computed once), `tl_lessons.divergence` (a run that blew up), `tl_lessons.fast_recipe` (the
`full` preset's pieces, each switched on by a setting) and `tl_lessons.inference` (`evaluate`, `predict`,
`confusion_matrix`: looking at a trained model; kept reachable here as `train.evaluate` and so on).
"""

import dataclasses
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import fast_recipe, transfer
from tl_lessons.divergence import DivergenceWatch
from tl_lessons.errors import ConfigError, is_number, is_whole_number
from tl_lessons.feature_cache import FeatureBatches, compute_features, plan_cache
from tl_lessons.hardware import cpu_threads, keep_freed_memory, pick_device, use_bf16, use_channels_last
from tl_lessons.imageset import ImageSet
from tl_lessons.inference import INFERENCE_BATCH_SIZE, TEST_VIEWS, evaluate_batches
from tl_lessons.loader import Loader, batch_count
from tl_lessons.models import output_count

# Kept here for the chapters, the dashboard and the command line, which call them as train.<name>
# (their home is `tl_lessons.inference`: looking at a trained model).
from tl_lessons.inference import (confusion_counts, confusion_matrix, evaluate, evaluation_mode,  # noqa: F401
                                  model_device, per_class_accuracy, predict)


# The largest seed: every random generator the kit seeds (torch, numpy) takes it, and a browser's
# number field shows it exactly (a 30-digit seed would be rounded there).
MAX_SEED = 2**32 - 1


@dataclass
class TrainConfig:
    """Every setting of a training run, as plain values.

    >>> config = dataclasses.replace(PRESETS["quick"], epochs=3, lr=0.1)
    >>> config.arch, config.epochs, config.lr, config.batch_size
    ('fastnet', 3, 0.1, 512)
    """

    arch: str = "fastnet"          # the architecture this recipe is for (used to build the model)
    epochs: int = 6
    batch_size: int = 512
    lr: float = 0.4                # the peak learning rate (the one-cycle schedule rises to it, then falls)
    optimizer: str = "sgd"         # "sgd" or "adamw"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"     # "onecycle": linear warm-up then linear decay (to 0 unless decay_to); "constant"
    warmup: float = 0.2            # fraction of all steps spent warming up (one-cycle only)
    warmup_from: float = 0.0       # one-cycle: the rate starts at this share of its peak ...
    decay_to: float = 0.0          # ... and ends at this share (the full recipe: 0.2 and 0.07)
    augment: bool = True           # random crop (moved up to `shift` pixels) + horizontal flip of every training batch
    shift: int = 4                 # augment: the most pixels an image moves each way
    shift_fill: str = "zeros"      # what fills the border a shift uncovers: "zeros", or "reflect" (the image mirrored)
    flip: str = "random"           # augment: mirror at "random", or each image in every other epoch ("alternate")
    label_smoothing: float = 0.1
    mean: tuple | None = None      # normalisation; None = the training set's own statistics
    std: tuple | None = None
    seed: int = 0                  # model-independent randomness: batch order, augmentation, dropout
    eval_batch_size: int = INFERENCE_BATCH_SIZE  # validation batches (no backward pass, so larger ones fit)
    bf16: bool | str = "auto"      # bfloat16 autocast for the forward pass; "auto": where it is fast (`use_bf16`)
    channels_last: bool | str = "auto"  # NHWC memory layout for convolutions; "auto": on CPU and CUDA
    log_every_s: float = 0.25      # a "step" event at most this often ...
    log_every_steps: int = 0       # ... or, when > 0, exactly every this many steps instead
    diverge_factor: float = 3.0    # "diverged" when the smoothed loss exceeds this times its start (DivergenceWatch)
    memory_share: float = 1.0      # the share of the spare memory its feature cache may take (`plan_cache`)
    # The full recipe's pieces (tl_lessons.fast_recipe says what each one does and why); off by default.
    whiten_stem: bool = False      # set the stem's filters from the training images' patches, and keep them
    bn_scale_frozen: bool = False  # BatchNorm's scale stays at 1: only its shift learns ...
    bn_shift_lr_factor: float = 1.0  # ... this many times faster than the other weights
    lookahead_every: int = 0       # every this many steps, pull the weights onto their running average (0: never)
    lookahead_keep: float = 0.95   # the share of that average kept per step (fast_recipe.Lookahead)
    test_views: str = "image"      # what `evaluate` shows the model of each test image (inference.TEST_VIEWS)
    minutes: float | None = None   # a time budget: `budget.plan_run` picks the epochs that fit it (fit trains `epochs`)

    def problems(self) -> dict:
        """What cannot train in these settings, as {setting: sentence} (empty when all is well).

        The one home of the rules for the learning rate, epochs, batch size, seed and every other
        setting: `fit` and `TransferSetup.problems` (the dashboard, the command line) ask it.

        >>> TrainConfig(lr=0.0, epochs=2.5).problems()
        {'lr': 'The learning rate must be a number above 0: try 0.01.', 'epochs': 'Train for a whole number of epochs, at least 1.'}
        """
        problems = {}
        # Too large a rate is allowed on purpose: watching a run diverge is part of the lesson.
        if not (is_number(self.lr) and self.lr > 0):
            problems["lr"] = "The learning rate must be a number above 0: try 0.01."
        if not (is_whole_number(self.epochs) and self.epochs >= 1):
            problems["epochs"] = "Train for a whole number of epochs, at least 1."
        if not (is_whole_number(self.batch_size) and self.batch_size >= 1):
            problems["batch_size"] = "The batch size must be a whole number of images, at least 1."
        if not (is_whole_number(self.seed) and 0 <= self.seed <= MAX_SEED):
            problems["seed"] = f"The seed must be a whole number from 0 to {MAX_SEED:,}."
        for name, allowed in (("optimizer", ("sgd", "adamw")), ("schedule", ("onecycle", "constant")),
                              ("shift_fill", ("zeros", "reflect")), ("flip", ("random", "alternate")),
                              ("test_views", TEST_VIEWS)):
            if getattr(self, name) not in allowed:
                problems[name] = f"The {name} is {' or '.join(map(repr, allowed))}, not {getattr(self, name)!r}."
        for name in ("warmup_from", "decay_to", "lookahead_keep"):
            if not (is_number(getattr(self, name)) and 0 <= getattr(self, name) <= 1):
                problems[name] = f"{name} is a share of the whole: a number from 0 to 1."
        if not (is_whole_number(self.shift) and 0 <= self.shift <= 16):
            problems["shift"] = "The shift is a whole number of pixels from 0 to 16: try 4, or 2."
        if not (is_whole_number(self.lookahead_every) and self.lookahead_every >= 0):
            problems["lookahead_every"] = "lookahead_every is a whole number of steps: 0 (no lookahead) or more."
        if not (is_number(self.bn_shift_lr_factor) and self.bn_shift_lr_factor > 0):
            problems["bn_shift_lr_factor"] = ("bn_shift_lr_factor must be a number above 0: BatchNorm's shift learns "
                                              "that many times faster than the rest (1: as fast).")
        if self.minutes is not None and not (is_number(self.minutes) and self.minutes > 0):
            problems["minutes"] = "The time budget must be a number of minutes above 0, for example 10."
        return problems


PRESETS = {
    # The PyTorch "Training a classifier" tutorial, exactly: its net, batch 4, SGD with lr 0.001 and
    # momentum 0.9, 2 epochs, no augmentation, no weight decay, constant rate, mean = std = 0.5.
    "tutorial": TrainConfig(
        arch="tutorialnet", epochs=2, batch_size=4, lr=0.001, momentum=0.9, nesterov=False,
        weight_decay=0.0, schedule="constant", augment=False, label_smoothing=0.0,
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), bf16=False,
    ),
    # The same small net with the kit's recipe: batches of 128, a one-cycle schedule up to a 100x
    # larger rate, label smoothing. Every choice below was made on validation images (5,000 held out
    # from CIFAR-10's training split, seed 0, as chapter 03 does; `docs/experiments/preset_choices.py`),
    # never on the test split. No augmentation: this net is too small to profit from it within a few
    # epochs (validation accuracy after 4 epochs: 58.1 % with, 62.2 % without). 6 epochs: 63.6 %
    # (5 epochs: 62.6 %). Its training time on the development machines: `docs/performance.md`.
    "tutorial_fast": TrainConfig(
        arch="tutorialnet", epochs=6, batch_size=128, lr=0.1, weight_decay=5e-4, label_smoothing=0.1,
        augment=False, bf16=False,
    ),
    # The kit's recipe for FastNet: a few minutes on a laptop CPU.
    # quick: 8 epochs, chosen on the same validation images: 80.1 % after 8 epochs (chapter 03's run),
    # 78.4 % after 6 (preset_choices.py). Its training time, with and without bf16: `docs/performance.md`.
    "quick": TrainConfig(arch="fastnet", epochs=8),
    # full: the best this CPU does in ten minutes. AirbenchNet with airbench93's recipe, each piece a setting
    # (tl_lessons.fast_recipe), for as many epochs as fit `minutes` on the machine at hand: the command line and
    # `bench` measure its pace and set them (`budget.plan_run`); `fit` alone trains `epochs`. The rates are
    # airbench93's, in the kit's terms (`budget.scaled_to_batch` says how); what it reaches: docs/performance.md.
    "full": TrainConfig(arch="airbench", epochs=10, batch_size=1024, lr=1.5, momentum=0.85, weight_decay=0.0153 / 11.5,
                        warmup=0.23, warmup_from=0.2, decay_to=0.07, label_smoothing=0.2, shift=2, shift_fill="reflect",
                        flip="alternate", whiten_stem=True, bn_scale_frozen=True, bn_shift_lr_factor=64,
                        lookahead_every=5, test_views="flip_and_shift", minutes=10),
}


def learning_rate(step: int, total_steps: int, config: TrainConfig) -> float:
    """The learning rate at `step` (0-based): constant, or one-cycle (linear up, then linear down to 0).

    >>> learning_rate(0, 100, PRESETS["quick"])   # the first step of the warm-up
    0.02
    """
    if config.schedule == "constant":
        return config.lr
    warmup_steps = max(1, round(config.warmup * total_steps))
    low = config.lr * (config.warmup_from if step < warmup_steps else config.decay_to)  # 0 unless asked
    if step < warmup_steps:
        return low + (config.lr - low) * (step + 1) / warmup_steps
    return low + (config.lr - low) * (total_steps - step) / max(1, total_steps - warmup_steps)


def drops_last_batch(images: int, batch_size: int) -> bool:
    """Whether `fit` leaves out an epoch's last batch: it does when that batch would hold a single image,
    which BatchNorm in training mode cannot normalise (one image has no spread to divide by).

    >>> drops_last_batch(129, 64), drops_last_batch(130, 64)
    (True, False)
    """
    return images % batch_size == 1 and images > 1


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of `fit` over `images` images (see `drops_last_batch`).

    >>> steps_per_epoch(500, 64), steps_per_epoch(100, 64), steps_per_epoch(129, 64)
    (8, 2, 2)
    """
    return batch_count(images, batch_size, drops_last_batch(images, batch_size))


def make_optimizer(model: nn.Module, strategy, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW with one parameter group per stage (see `transfer.param_groups`).

    Frozen stages are in the optimiser too: they get no gradient, so it skips them until a
    strategy unfreezes them.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet(10)
    >>> optimizer = make_optimizer(model, transfer.apply_strategy(model, "finetune"), PRESETS["quick"])
    >>> len(optimizer.param_groups)              # one per stage: stem, stage1, stage2, stage3, head
    5
    """
    groups = transfer.param_groups(model, strategy, config.lr)
    return optimizer_for(fast_recipe.recipe_param_groups(model, groups, config), config)  # the full recipe's rates


def optimizer_for(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """`config`'s optimiser over `parameters` (or parameter groups): SGD with its momentum, or AdamW.

    A group without a rate of its own starts at `config.lr`.

    >>> optimizer = optimizer_for(nn.Linear(4, 2).parameters(), PRESETS["quick"])
    >>> type(optimizer).__name__, optimizer.defaults["momentum"], optimizer.defaults["nesterov"]
    ('SGD', 0.9, True)
    """
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def fit_problems(model: nn.Module, train: ImageSet, val: ImageSet | None, config: TrainConfig,
                 strategy=None) -> list[str]:
    """Why `fit` cannot train this, as sentences: the settings', the strategy's schedule, the data's, the model's."""
    problems = list(config.problems().values()) + fast_recipe.recipe_problems(model, config, strategy)
    if strategy is not None and (problem := transfer.schedule_problem(strategy, config.epochs)):
        problems.append(problem)
    if len(train) == 0:
        problems.append("The training set is empty: pick at least one image per class.")
    if not any(p.requires_grad for p in model.parameters()):
        problems.append("Every parameter is frozen, so nothing can learn: unfreeze at least the head.")
    outputs = output_count(model)
    for ds in (train, val):
        if ds is not None and outputs is not None and outputs != ds.num_classes:
            problems.append(
                f"The model has {outputs} outputs but {ds.name} has {ds.num_classes} classes: "
                f"call replace_head(model, {ds.num_classes}) first."
            )
            break
    return problems


STOPPED = "Stopped by request: the epochs finished so far are kept."


def fit(model: nn.Module, train: ImageSet, val: ImageSet | None = None, config: TrainConfig = TrainConfig(),
        strategy=None, stop=None, device=None, cache_frozen: bool = True, report_predictions: bool = False):
    """Train `model` on `train`, yielding events as it goes (see the module docstring).

    strategy: a `transfer.Strategy` from `apply_strategy` (which stages train, their rates,
        BatchNorm), or None to train every parameter that has requires_grad.
    stop: anything with `is_set()` (a `threading.Event`): checked before every step; when set,
        the run ends with status "stopped" and keeps the epochs it finished.
    cache_frozen: when the first stages stay frozen for the whole run and the training images
        are not augmented (`config.augment` False), compute the frozen stages' outputs once for
        every image and train the rest on those features: the same run, much faster (a linear
        probe becomes a few seconds of work per epoch). With augmentation every epoch shows the
        frozen stages new crops, so there is nothing to cache: the cache never changes what a
        strategy trains on, and strategies compared at the same `config` see the same data.
        When the features would not fit in memory, the run trains without them and its start
        event's "note" says so (`plan_cache`).
    report_predictions: after each epoch, also yield a "predictions" event: what the model answers
        for each validation image, from the same validation pass (to look at its mistakes).

    The model is left in eval mode. The body names the phases; each is a function below.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import FastNet
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> model = FastNet(10)
    >>> strategy = transfer.apply_strategy(model, "linear_probe")
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=1, batch_size=25)
    >>> [event["kind"] for event in fit(model, train_set, val_set, config, strategy=strategy) if event["kind"] != "step"]
    ['start', 'epoch', 'end']
    """
    problems = fit_problems(model, train, val, config, strategy)
    if problems:
        raise ConfigError(" ".join(problems))
    keep_freed_memory()
    run = prepare_batches(model, train, val, config, strategy, device, cache_frozen)
    yield start_event(run)
    try:
        if run.cached_stages and not (yield from cache_frozen_features(run, stop)):
            yield end_event("stopped", STOPPED, run)
            return
        steps = StepReport(run)
        for epoch in range(1, config.epochs + 1):
            unfrozen = transfer.on_epoch_start(model, strategy, epoch - 1, run.optimizer)  # epochs count from 0 there
            totals = yield from train_one_epoch(run, epoch, steps, stop)
            if totals is None:  # stopped or diverged: the end event is out
                return
            if not (yield from cache_validation_features(run, stop)):
                yield end_event("stopped", STOPPED, run)
                return
            val_loss, val_seconds = validate(run)
            yield epoch_event(run, epoch, totals, val_loss, val_seconds, unfrozen)
            if report_predictions and run.val_predicted is not None:
                yield {"kind": "predictions", "epoch": epoch, "predicted": run.val_predicted}
        problem = run.divergence.at_end()
        yield end_event("diverged" if problem else "finished", problem or "", run)
    finally:
        # Also when the consumer stops reading early: the model is ready for evaluation.
        model.eval()


@dataclass
class Run:
    """What the training loop carries from one phase to the next (made by `prepare_batches`)."""

    model: nn.Module
    config: TrainConfig
    strategy: object               # a transfer.Strategy, or None
    device: torch.device
    bf16: bool
    channels_last: bool
    batches: object                # training batches: a Loader, or FeatureBatches once features are cached
    val_batches: object            # the same for validation; None without a validation set
    optimizer: torch.optim.Optimizer
    total_steps: int
    train_images: int
    drop_last: bool
    cached_stages: int             # leading stages computed once up front (0: none)
    note: str | None               # a sentence about how this run trains (why its cache was skipped), or None
    unaugmented: Loader | None     # the training images as they are, to compute the cached features from
    divergence: DivergenceWatch
    started: float                 # time.perf_counter() at the start event
    trained: nn.Module             # what each step runs: the whole model, or the stages after the cached ones
    frozen_part: nn.Module | None = None  # the cached stages (their outputs are computed once per image)
    step: int = 0
    val_acc: float | None = None
    best_val_acc: float | None = None
    val_predicted: list | None = None  # the class predicted for each validation image at the last validation
    lookahead: fast_recipe.Lookahead | None = None  # averages the weights every few steps (config.lookahead_every)


def prepare_batches(model, train, val, config, strategy, device, cache_frozen) -> Run:
    """Put the model on its device and set up the batches, the optimiser and the frozen-stage cache."""
    device = torch.device(device or pick_device())
    torch.manual_seed(config.seed)
    channels_last = use_channels_last(config, device)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    mean = config.mean if config.mean is not None else train.mean
    std = config.std if config.std is not None else train.std
    if config.whiten_stem:
        fast_recipe.whiten_stem(model, train, mean, std)
    drop_last = drops_last_batch(len(train), config.batch_size)
    batches = Loader(train, config.batch_size, shuffle=True, augment=config.augment, device=device,
                     channels_last=channels_last, seed=config.seed, drop_last=drop_last, mean=mean, std=std,
                     shift=config.shift, shift_fill=config.shift_fill, flip=config.flip)
    val_batches = None
    if val is not None:
        val_batches = Loader(val, config.eval_batch_size, device=device, channels_last=channels_last,
                             mean=mean, std=std)
    optimizer = make_optimizer(model, strategy, config)
    # Only an exact shortcut: augmented images differ every epoch, so their features cannot be reused.
    cached, note = 0, None
    if cache_frozen and not config.augment:
        cached, note = plan_cache(model, strategy, len(train) + (len(val) if val is not None else 0),
                                  share=config.memory_share)
    unaugmented = None
    if cached:
        unaugmented = Loader(train, config.eval_batch_size, device=device, channels_last=channels_last,
                             mean=mean, std=std)
    return Run(model, config, strategy, device, bf16=use_bf16(config, device), channels_last=channels_last,
               batches=batches, val_batches=val_batches, optimizer=optimizer,
               total_steps=config.epochs * len(batches), train_images=len(train), drop_last=drop_last,
               cached_stages=cached, note=note, unaugmented=unaugmented,
               divergence=DivergenceWatch(config, train.num_classes), started=time.perf_counter(), trained=model,
               lookahead=fast_recipe.lookahead_for(model, config))


def start_event(run: Run) -> dict:
    """The first event: how long the run is, how much of the model trains, and how it runs here."""
    trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    return {"kind": "start", "total_steps": run.total_steps, "epochs": run.config.epochs, "trainable": trainable,
            "frozen": sum(p.numel() for p in run.model.parameters()) - trainable, "device": str(run.device),
            "cached_stages": run.cached_stages, "batch_size": run.config.batch_size, "train_images": run.train_images,
            "bf16": run.bf16, "channels_last": run.channels_last, "note": run.note}


def cache_frozen_features(run: Run, stop=None):
    """Run the frozen leading stages once over every training image; from then on each step runs only the rest.

    The validation images follow just before the first validation (`cache_validation_features`),
    so that the first step, and the first point of a live curve, does not wait for them.
    Yields "features" events; returns False when `stop` was set meanwhile, else True.
    """
    run.frozen_part, run.trained = transfer.split_model(run.model, run.cached_stages)
    run.frozen_part.eval()
    cache = yield from compute_features(run.frozen_part, run.unaugmented, None, run.started, run.bf16, stop)
    if cache is None:
        return False
    (features, labels), _ = cache
    run.batches = FeatureBatches(features, labels, run.config.batch_size, shuffle=True, seed=run.config.seed,
                                 drop_last=run.drop_last)
    return True


def cache_validation_features(run: Run, stop=None):
    """The frozen stages' outputs for the validation images, computed once, before the first validation.

    Yields "features" events; returns False when `stop` was set meanwhile, else True (also when
    nothing is cached, or the validation features are there already).
    """
    if not run.cached_stages or run.val_batches is None or isinstance(run.val_batches, FeatureBatches):
        return True
    cache = yield from compute_features(run.frozen_part, None, run.val_batches, run.started, run.bf16, stop)
    if cache is None:
        return False
    run.val_batches = FeatureBatches(*cache[1], run.config.eval_batch_size)
    return True


class StepReport:
    """When a "step" event is due, and what it says: the average loss and the speed since the previous one."""

    def __init__(self, run: Run):
        self.run = run
        self.last_at, self.images, self.losses = time.perf_counter(), 0, []

    def after_step(self, loss: float, images: int, epoch: int, lr: float, now_anyway: bool) -> dict | None:
        """The step event, if one is due after this step (`now_anyway`: the run is about to end)."""
        self.images += images
        self.losses.append(loss)
        config, step, now = self.run.config, self.run.step, time.perf_counter()
        if config.log_every_steps > 0:
            due = step % config.log_every_steps == 0
        else:
            due = step == 1 or now - self.last_at >= config.log_every_s
        if not (due or now_anyway):
            return None
        # The loss shown is the average since the previous step event: nothing is hidden.
        event = {"kind": "step", "step": step, "epoch": epoch, "loss": sum(self.losses) / len(self.losses),
                 "lr": lr, "images_per_s": self.images / (now - self.last_at), "elapsed": now - self.run.started}
        self.last_at, self.images, self.losses = now, 0, []
        return event


def train_one_epoch(run: Run, epoch: int, steps: StepReport, stop=None):
    """One pass over the training batches, yielding "step" events.

    Returns (loss sum, correct, images) over the epoch, or None when the run ended inside it
    (stopped, or diverged), after yielding its end event.
    """
    transfer.set_train_mode(run.model, run.strategy)  # model.train(), but frozen BatchNorm stays in eval if asked
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in run.batches:
        if stop is not None and stop.is_set():
            yield end_event("stopped", STOPPED, run)
            return None
        loss, right, lr = train_step(run, x, y)
        loss_sum, correct, seen = loss_sum + loss * len(y), correct + right, seen + len(y)
        problem = run.divergence.update(loss, run.step)
        event = steps.after_step(loss, len(y), epoch, lr, now_anyway=problem is not None)
        if event is not None:
            yield event
        if problem is not None:
            yield end_event("diverged", problem, run)
            return None
    return loss_sum, correct, seen


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int, float]:
    """One optimiser step on a batch at the scheduled rate; returns (its loss, how many it got right, the rate)."""
    rate_factor = learning_rate(run.step, run.total_steps, run.config) / run.config.lr
    for group in run.optimizer.param_groups:
        # Each group keeps its own base rate (strategies give stages different rates).
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * rate_factor
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
        logits = run.trained(x)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=run.config.label_smoothing)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.step += 1
    if run.lookahead is not None:
        run.lookahead.after_step(run.step, run.total_steps)
    return loss.item(), (logits.argmax(1) == y).sum().item(), run.config.lr * rate_factor


def validate(run: Run) -> tuple[float | None, float]:
    """Loss and accuracy on the validation batches (kept in `run`); returns (loss or None, seconds it took)."""
    val_loss, started = None, time.perf_counter()
    if run.val_batches is not None:
        predicted = []
        val_loss, run.val_acc = evaluate_batches(run.trained, run.val_batches, predicted)
        run.val_predicted = torch.cat(predicted).tolist()
        run.best_val_acc = run.val_acc if run.best_val_acc is None else max(run.best_val_acc, run.val_acc)
    return val_loss, time.perf_counter() - started


def epoch_event(run: Run, epoch: int, totals: tuple, val_loss, val_seconds: float, unfrozen: list[str]) -> dict:
    """The event at the end of an epoch: its training loss and accuracy beside the validation ones."""
    loss_sum, correct, seen = totals
    return {"kind": "epoch", "epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
            "val_loss": val_loss, "val_acc": run.val_acc, "elapsed": time.perf_counter() - run.started,
            "val_seconds": val_seconds, "unfrozen": list(unfrozen)}


def end_event(status: str, message: str, run: Run) -> dict:
    """The last event of a run."""
    return {"kind": "end", "status": status, "message": message, "elapsed": time.perf_counter() - run.started,
            "val_acc": run.val_acc, "best_val_acc": run.best_val_acc}


@dataclass
class History:
    """What `train` saw: the start event, every epoch and step event, and the end event.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=2, batch_size=25)
    >>> history = train(build_model("fastnet", 10), train_set, val_set, config, progress=False)
    >>> history.status, len(history.epochs), history.best_val_acc == max(e["val_acc"] for e in history.epochs)
    ('finished', 2, True)
    """

    start: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    steps: list = dataclasses.field(default_factory=list)
    end: dict = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> str:
        """"finished", "stopped" or "diverged" ("running" before the end event)."""
        return self.end.get("status", "running")

    @property
    def final(self) -> dict | None:
        """The last finished epoch (None if not even one finished)."""
        return self.epochs[-1] if self.epochs else None

    @property
    def best_val_acc(self) -> float | None:
        """The highest validation accuracy of any epoch (None without validation)."""
        accuracies = [e["val_acc"] for e in self.epochs if e["val_acc"] is not None]
        return max(accuracies) if accuracies else None

    def to_frame(self):
        """The epochs as a pandas DataFrame (pandas is imported only here)."""
        import pandas as pd

        return pd.DataFrame(self.epochs)


def seconds_to_reach(curve, accuracy: float) -> float | None:
    """The seconds at the first point of `curve`, (seconds, accuracy) pairs, at or above `accuracy` (None: never).

    How the kit times a recipe against another: the first check at which it got there (an epoch's
    end, or a test during the epoch), not a guess between two checks.

    >>> seconds_to_reach([(1.0, 0.30), (2.0, 0.55), (3.0, 0.52)], 0.5)
    2.0
    """
    return next((seconds for seconds, reached in curve if reached >= accuracy), None)


def follow(stream, progress: bool = True) -> History:
    """Consume a `fit` stream (or one wrapped by `recording.record`) with a progress bar; returns its History.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.recording import RunStore, record
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=1, batch_size=25)
    >>> history = follow(record(fit(build_model("fastnet", 10), train_set, val_set, config), RunStore(":memory:"),
    ...                         config, "probe"), progress=False)
    >>> history.status, history.end["run_id"]
    ('finished', 1)
    """
    from tqdm.auto import tqdm

    history = History()
    bar, features_computed = None, False
    for event in stream:
        kind = event["kind"]
        if kind == "start":
            history.start = event
            if progress and event.get("note"):
                print(event["note"])
            bar = tqdm(total=event["total_steps"], unit="step", disable=not progress)
        elif kind == "features":
            bar.set_postfix_str(f"computing the frozen stages' outputs once: {event['split']} "
                                f"{event['done']:,}/{event['total']:,} images")
            features_computed = True
        elif kind == "step":
            history.steps.append(event)
            if features_computed:
                # The bar's clock restarts at the first step: the time spent on the features would
                # otherwise make the steps look slow and the time left read as hours.
                bar.reset(total=bar.total)
                features_computed = False
            bar.update(event["step"] - bar.n)
            bar.set_postfix(loss=f"{event['loss']:.3f}")
        elif kind == "epoch":
            history.epochs.append(event)
            if event["val_acc"] is not None:
                bar.set_postfix(loss=f"{event['train_loss']:.3f}", val_acc=f"{event['val_acc']:.3f}")
        elif kind == "end":
            history.end = event
    if bar is not None:
        bar.close()
    if progress and history.status != "finished":
        print(history.end.get("message", ""))
    return history


def train(model: nn.Module, train_set: ImageSet, val: ImageSet | None = None, config: TrainConfig = TrainConfig(),
          strategy=None, progress: bool = True, **fit_options) -> History:
    """Train to the end with a progress bar (`fit` + `follow`) and return the `History`.

    Also sets torch's CPU threads to `cpu_threads()` first.

    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> config = dataclasses.replace(PRESETS["tutorial_fast"], epochs=1)      # the tutorial net, the kit's recipe
    >>> history = train(build_model("tutorialnet", 10), train_set, val_set, config, progress=False)
    >>> sorted(history.final)       # the last epoch's event
    ['elapsed', 'epoch', 'kind', 'train_acc', 'train_loss', 'unfrozen', 'val_acc', 'val_loss', 'val_seconds']
    """
    torch.set_num_threads(cpu_threads())
    return follow(fit(model, train_set, val, config, strategy, **fit_options), progress)
