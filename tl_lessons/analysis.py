"""Chapter 04's experiments: transfer strategies side by side, and a look at what transfer did.

The sweeps here are thin loops over `tl_lessons.transfer_setup.prepare` and `tl_lessons.train.fit`,
so every number the chapter prints comes from the same code the dashboard and the command line
run. Results are plain dicts (JSON-ready, the shape `tl_lessons.reference_runs` records). Chapter 04
compares every strategy at its budget (minutes of training; `compare_strategies` shows a run of a second):

    results = compare_strategies(strategy_setups(), seeds=SEEDS)
    [(r["label"], r["final_val_acc"]) for r in results]

The second half holds the computations the chapter needs to look inside a transferred model:
shapes after each stage, copying weights by name, BatchNorm statistics, forgetting of the source
task, penultimate features and their PCA, linear maps on cached features, and joint training on
source and target. `tl_lessons.summaries` sums the results up and `tl_lessons.transfer_plots` draws them.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import budget, data, executors, inference, models, train, transfer, transfer_setup
from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader
from tl_lessons.transfer_setup import TransferSetup

# Kept here for the chapters, which call them as analysis.<name>: results are summed up in
# `tl_lessons.summaries`, drawn by `tl_lessons.transfer_plots`, and an epoch's steps counted by `train`.
from tl_lessons.summaries import mean_and_range, setting_of, short_label, short_name, spread, summary  # noqa: F401
from tl_lessons.train import steps_per_epoch
from tl_lessons.transfer_plots import (plot_comparison, plot_feature_space, plot_freeze_depth,  # noqa: F401
                                       plot_joint, plot_label_regimes)

TUNING_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
# How each strategy of chapter 04's comparison (10 epochs, batch 64, seed 0, the shipped source) did at
# each rate of TUNING_LRS on the few-shot task (`data.task_split`: 5 labelled images per class): final
# accuracy on the task's validation images, held out from the training split (423 on the development
# copy of CIFAR-100, whose smallest classes cannot give 5; the test split plays no part). Recorded on the
# 2-core development CPU, every run on augmented images (the kit's default);
# `transfer_gain.tune(strategy_setups(), TUNING_LRS, augments=(True,))` repeats it, and chapter 04 repeats
# three of its rows live, each rate also on plain images. Images are normalised with the source's own (CIFAR-10) statistics, as
# `transfer_setup.prepare` does. Each strategy's best rate (a tie goes to the smaller rate) is its `lr`
# in `transfer.STRATEGY_TABLE`. Neighbouring rates often differ by less than one seed's noise (a point
# or two on 423 images): the choice is a reasonable rate, not a precise optimum.
TUNING_RECORD = {
    "scratch": {0.01: 0.04, 0.03: 0.04, 0.1: 0.071, 0.3: 0.073, 1.0: 0.066},
    "linear_probe": {0.01: 0.014, 0.03: 0.035, 0.1: 0.066, 0.3: 0.106, 1.0: 0.099},
    "freeze": {0.01: 0.019, 0.03: 0.069, 0.1: 0.069, 0.3: 0.137, 1.0: 0.135},
    "finetune": {0.01: 0.021, 0.03: 0.066, 0.1: 0.08, 0.3: 0.151, 1.0: 0.13},
    "discriminative": {0.01: 0.076, 0.03: 0.111, 0.1: 0.161, 0.3: 0.123, 1.0: 0.095},
    "gradual": {0.01: 0.019, 0.03: 0.064, 0.1: 0.064, 0.3: 0.128, 1.0: 0.116},
    "head_first": {0.01: 0.019, 0.03: 0.061, 0.1: 0.08, 0.3: 0.147, 1.0: 0.135},
}
STRATEGY_LRS = {name: row.lr for name, row in transfer.STRATEGY_TABLE.items()}
"""The rates the chapter's runs start from: each strategy's `lr` in the strategy table."""
CHAPTER_SETUP = TransferSetup(target="cifar100", epochs=10, batch_size=64, seed=0)
"""The budget every strategy of chapter 04 gets: the same task (TransferSetup's few-shot default), epochs and batch size."""
SEEDS = (0, 1, 2)
"""The training seeds of every comparison: each setting runs once per seed, and a difference between
two settings is read as real only by the calibrated comparison of `tl_lessons.verdicts`."""


# ---------------------------------------------------------------------------------------------
# Running transfer setups
# ---------------------------------------------------------------------------------------------


def strategy_setups(base: TransferSetup = CHAPTER_SETUP, lrs: dict | None = None,
                    strategies=transfer.STRATEGIES) -> list[TransferSetup]:
    """One setup per strategy: `base` with only the strategy and its learning rate changed.

    >>> [s.label() for s in strategy_setups(strategies=("scratch", "finetune"))]
    ['scratch · lr 0.3 · 5/class', 'finetune · lr 0.3 · 5/class']
    """
    lrs = {**STRATEGY_LRS, **(lrs or {})}
    return [dataclasses.replace(base, strategy=name, lr=lrs[name]) for name in strategies]


def estimate_seconds(setup: TransferSetup, root=None, probe_steps: int = 6) -> float:
    """About how many seconds `train_setup(setup)` will take on this machine: measured, not guessed.

    Trains the first few optimiser steps of the run for real (then throws them away), takes the pace
    of the steps after the first (which pays for warming up), and scales it to the run's steps, its
    validation after every epoch and the one test pass (a forward pass costs about a third of a
    training step per image). Run it before a long sweep, for example with a larger label budget
    (chapter 04 asks about `dataclasses.replace(CHAPTER_SETUP, per_class=500)`, every official image):

    >>> seconds = estimate_seconds(TransferSetup(target="synthetic100", classes="far", per_class=10, epochs=10))
    >>> 0 < seconds < 600
    True
    """
    torch.manual_seed(setup.seed)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup, root=root)
    started = time.perf_counter()
    steps, total_steps = budget.first_steps(model, train_set, config, strategy, probe_steps)
    if len(steps) < 3:  # a run of a step or two: it was just measured whole
        return time.perf_counter() - started
    evaluated = config.epochs * (len(val_set) if val_set is not None else 0) + len(transfer_setup.load_test(setup, root=root))
    return extrapolate(steps, total_steps, config.batch_size, evaluated)


def extrapolate(steps: list[tuple[int, float]], total_steps: int, batch_size: int, evaluated: int) -> float:
    """`estimate_seconds`'s sum: (step, seconds since the start) of the first steps -> the whole run's seconds.

    The first step's time is kept as it is (it includes warming up); the pace between the first and
    the last measured step carries the remaining steps; `evaluated` images are each a third of a
    training image's cost.

    >>> round(extrapolate([(1, 2.0), (5, 6.0)], total_steps=100, batch_size=64, evaluated=640), 2)  # 2 + 99 + 10/3
    104.33
    """
    (first_step, first_at), per_step = steps[0], budget.seconds_per_step(steps)
    return first_at + per_step * (total_steps - first_step) + per_step / batch_size / 3 * evaluated


def train_setup(setup: TransferSetup, root=None, progress: bool = False, test: bool = True,
                test_per_class: int | None = None, curves: bool = True) -> dict:
    """Train one setup exactly as the dashboard does; returns its result, the trained model under "model".

    The result holds the setup ("config", its seed included), every epoch event, the final and
    best validation accuracy, the seconds `fit` took, the trainable and total parameter counts at
    the start, "test_acc": the accuracy on the target's test split, measured once after training,
    and "test_correct": each test image's answer, "1" right and "0" wrong (what `verdicts` compares);
    both None when `test` is False (runs that choose something, like the tuning, never look at the
    test split).

    test_per_class: score on up to this many test images per class (`data.at_most_per_class`: the
        same images for every run); None: the whole test split. The result's "test_images" says how many.
    curves: validate after every epoch (the curves), or, when False, once at the end: the same
        final validation accuracy (validating draws no randomness, so training is identical), without
        the cost of a check per epoch; "best_val_acc" is then None. Sweeps that read only the end use it.

    >>> result = train_setup(TransferSetup(target="synthetic100", classes="far", per_class=5, epochs=2))
    >>> result["status"], result["classes"], result["train_images"], len(result["epochs"]), result["test_images"]
    ('finished', 15, 75, 2, 300)
    >>> f"{result['test_acc']:.0%}"    # of 15 classes, after two epochs on 75 images
    '...%'
    """
    # The new head is drawn from torch's global random state: seed it, so a run repeats exactly
    # whatever ran before it in the same process.
    torch.manual_seed(setup.seed)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup, root=root)
    history = train.train(model, train_set, val_set if curves else None, config, strategy=strategy, progress=progress)
    final_val_acc, best_val_acc = history.end.get("val_acc"), history.end.get("best_val_acc")
    if not curves and val_set is not None and history.status == "finished":
        _, final_val_acc = inference.evaluate(model, val_set, mean=config.mean, std=config.std)
    test_acc, test_images, test_correct = None, 0, None
    if test and history.status == "finished":
        test_set = data.at_most_per_class(transfer_setup.load_test(setup, root=root), test_per_class)
        answers = []
        _, test_acc = inference.evaluate(model, test_set, mean=config.mean, std=config.std, predicted=answers)
        test_images = len(test_set)
        # Each test image right (1) or wrong (0), in the test set's order: what `verdicts` compares runs on.
        test_correct = "".join("1" if right else "0" for right in (torch.cat(answers) == test_set.labels).tolist())
    return {
        "label": setup.label(),
        "strategy": setup.strategy,
        "config": setup.to_dict(),
        "status": history.status,
        "message": history.end.get("message", ""),
        "epochs": history.epochs,
        "final_val_acc": final_val_acc,
        "best_val_acc": best_val_acc,
        "test_acc": test_acc,
        "test_per_class": test_per_class,
        "test_images": test_images,
        "test_correct": test_correct,
        "seconds": history.end.get("elapsed"),
        "trainable_params": history.start["trainable"],
        "total_params": history.start["trainable"] + history.start["frozen"],
        "train_images": len(train_set),
        "val_images": len(val_set) if val_set is not None else 0,
        "classes": train_set.num_classes,
        "model": model,
    }


def compare_strategies(setups, seeds=(0,), root=None, keep_models: bool = False, progress: bool = False,
                       desc: str = "runs", test: bool = True, known=(), test_per_class: int | None = None,
                       curves: bool = True, executor=None) -> list[dict]:
    """Train every setup once per seed; returns one plain result per run (see `train_setup`).

    The seed changes only the training's randomness (the new head's start, the batch order, the
    augmentation): every run of a setup sees the same images. The trained models are dropped
    unless `keep_models` (they are large and not plain data). `progress` shows one bar over the
    runs, naming the one in progress.

    known: results trained before (say, the comparison's), reused for a run whose setup and seed
    are the same: a run repeats exactly on the same machine, so training it again would only cost
    time. (A sweep that shares a setting with the comparison, like freeze k=2, reuses its runs;
    only a run scored on the same test images counts as the same.)

    test_per_class, curves: how each run is scored and validated (see `train_setup`). executor: None
    trains the runs here, one after another; any `concurrent.futures.Executor` (a Dask cluster's:
    `tl_lessons.executors`) trains them on its workers, with the same results in the same order.

    >>> tiny = TransferSetup(target="synthetic100", classes="far", per_class=5, epochs=1)
    >>> results = compare_strategies(strategy_setups(tiny, strategies=("scratch", "linear_probe")), seeds=(0, 1))
    >>> [(r["strategy"], r["config"]["seed"]) for r in results]
    [('scratch', 0), ('scratch', 1), ('linear_probe', 0), ('linear_probe', 1)]
    """
    trained = {setting_key(result["config"]): result for result in known}
    trials = [dataclasses.replace(setup, seed=seed) for setup in setups for seed in seeds]
    earlier = [trained.get(setting_key(setup.to_dict())) for setup in trials]
    earlier = [result if result is not None and (not test or (
        result["test_acc"] is not None and result.get("test_per_class") == test_per_class)) and (
        "model" in result or not keep_models) else None for result in earlier]
    work = functools.partial(train_setup, root=root, test=test, test_per_class=test_per_class, curves=curves)
    fresh = executors.in_order(work, [setup for setup, result in zip(trials, earlier) if result is None], executor,
                               describe=lambda s: f"{s.label()} · seed {s.seed}", drop=() if keep_models else ("model",))
    results = []
    for setup, result in zip(executors.each_run(trials, desc, progress), earlier):
        result = dict(result) if result is not None else next(fresh)
        if not keep_models:
            result.pop("model", None)
        results.append(result)
    return results


def setting_key(config: dict) -> str:
    """A run's setup, seed included, as one comparable string."""
    return json.dumps(config, sort_keys=True, default=str)


def equal_step_epochs(base: TransferSetup, per_class: int, num_classes: int) -> int:
    """The epochs that give a run on `per_class` images per class as many optimiser steps as `base` makes.

    With fewer images an epoch is shorter; equal epochs would give a 1-image-per-class run a handful
    of steps and measure the step budget instead of the labels. (Capped at the kit's epoch limit.)

    >>> equal_step_epochs(TransferSetup(per_class=5, epochs=10, batch_size=64), 1, 100)
    40
    """
    steps = base.epochs * steps_per_epoch(base.per_class * num_classes, base.batch_size)
    epochs = round(steps / steps_per_epoch(per_class * num_classes, base.batch_size))
    return max(1, min(transfer_setup.MAX_EPOCHS, epochs))


def label_regimes(setups, per_class_values=(1, 2, 5), seeds=SEEDS, root=None, progress: bool = False,
                  known=(), **scoring) -> list[dict]:
    """Each setup trained on `n` labelled images per class for every n, at equal optimiser steps, once per seed.

    Every regime gets the number of steps the setup itself makes (`equal_step_epochs`), so the
    regimes differ only in how many different images those steps see. Returns the runs' results
    (see `train_setup`), each with "per_class" and "train_images". `known`: earlier results to
    reuse where a run is the same (the setup's own budget is the comparison's run). `scoring`:
    `test_per_class`, `curves` and `executor`, as in `compare_strategies`.

    >>> few = TransferSetup(target="synthetic100", classes="far", per_class=5, epochs=2, batch_size=16)
    >>> rows = label_regimes([few], (1, 5), seeds=(0,))
    >>> [(r["per_class"], r["train_images"], r["config"]["epochs"]) for r in rows]   # 10 steps each
    [(1, 15, 10), (5, 75, 2)]
    """
    trials = []
    for setup in setups:
        classes = transfer_setup.load_target(setup, root=root)[0].num_classes
        for n in per_class_values:
            trials.append(dataclasses.replace(setup, per_class=n, fraction=None,
                                              epochs=equal_step_epochs(setup, n, classes)))
    results = compare_strategies(trials, seeds=seeds, root=root, progress=progress, desc="labels", known=known,
                                 **scoring)
    for result in results:
        result["per_class"] = result["config"]["per_class"]
    return results


def freeze_depth_curve(base: TransferSetup, ks, seeds=SEEDS, root=None, progress: bool = False,
                       known=(), **scoring) -> list[dict]:
    """The "freeze" strategy for every k in `ks` (k = 0 trains everything; the last k leaves only the head), per seed.

    `known`: earlier results to reuse where a run is the same (see `compare_strategies`); `scoring`:
    `test_per_class`, `curves` and `executor`, as in `compare_strategies`.

    >>> results = freeze_depth_curve(TransferSetup(target="synthetic100", classes="far", epochs=1), range(3), seeds=(0,))
    >>> [(r["config"]["k"], r["trainable_params"]) for r in results]
    [(0, 293599), (1, 293135), (2, 279183)]
    """
    trials = [dataclasses.replace(base, strategy="freeze", k=k) for k in ks]
    return compare_strategies(trials, seeds=seeds, root=root, progress=progress, desc="freeze depth", known=known,
                              **scoring)


# ---------------------------------------------------------------------------------------------
# Looking inside models
# ---------------------------------------------------------------------------------------------


def stage_output_shapes(model: nn.Module, image_size: int = 32) -> list[dict]:
    """What each stage hands to the next for one image_size x image_size colour image.

    Returns one row per stage: stage, shape (without the batch dimension) and flattened size,
    the number of inputs a Linear layer placed right after that stage would need.

    >>> stage_output_shapes(models.build_model("fastnet", 10))[-2]
    {'stage': 'stage3', 'shape': (128, 4, 4), 'flattened': 2048}
    """
    rows = []
    x = torch.zeros(1, 3, image_size, image_size)
    with inference.evaluation_mode(model), torch.no_grad():
        for name, stage in model.named_children():
            x = stage(x)
            rows.append({"stage": name, "shape": tuple(x.shape[1:]), "flattened": x[0].numel()})
    return rows


def lookalike_votes(model: nn.Module, ds: ImageSet, model_classes: list[str], lookalikes: dict,
                    mean=None, std=None) -> list[dict]:
    """For each CIFAR-100 class of a resemblance table, which of its own classes a CIFAR-10 model calls it most.

    lookalikes: {CIFAR-10 class: [CIFAR-100 classes that look like it]} (`vocabulary.LOOKALIKES`).
    Returns one row per CIFAR-100 class: the class, what it looks like, its images in `ds`, the
    model's most frequent answer and its share, the share answered with a lookalike class, and
    whether the most frequent answer is one of them. Chapter 04 asks it of the shipped source model
    and the real CIFAR-100 photos:

    rows = lookalike_votes(source, cifar100_train, meta["classes"], vocabulary.LOOKALIKES)
    """
    predicted = inference.predict(model, ds.images, mean, std).argmax(1)
    rows = []
    for name in dict.fromkeys(n for names in lookalikes.values() for n in names):
        looks_like = [source for source, targets in lookalikes.items() if name in targets]
        votes = torch.bincount(predicted[ds.labels == ds.classes.index(name)], minlength=len(model_classes))
        top = model_classes[int(votes.argmax())]
        share = sum(votes[model_classes.index(c)] for c in looks_like) / max(int(votes.sum()), 1)
        rows.append({"CIFAR-100 class": name, "looks like": " or ".join(looks_like), "images": int(votes.sum()),
                     "most often predicted": top, "share": f"{votes.max() / max(int(votes.sum()), 1):.0%}",
                     "predicted as a lookalike": f"{share:.0%}", "agrees": top in looks_like})
    return rows


def copy_matching_weights(source: nn.Module, target: nn.Module) -> dict:
    """Copy every tensor of `source` whose name and shape match one in `target`; report what happened.

    `load_state_dict(strict=False)` only forgives *missing or extra names*; a tensor with the
    right name and the wrong shape (the old 10-way head in a 100-way model) still raises. So the
    matching is done here first, and `strict=False` then lists the names that stayed as they were.

    Returns {"copied": names, "skipped": source names not copied, "missing": target names left
    untouched, "unexpected": []}.

    >>> source = models.build_model("fastnet", 10)                   # a CIFAR-10 model
    >>> report = copy_matching_weights(source, models.build_model("fastnet", 100))
    >>> report["skipped"], report["missing"]
    (['head.fc.weight', 'head.fc.bias'], ['head.fc.weight', 'head.fc.bias'])
    """
    wanted = target.state_dict()
    matching = {name: tensor for name, tensor in source.state_dict().items()
                if name in wanted and wanted[name].shape == tensor.shape}
    outcome = target.load_state_dict(matching, strict=False)
    return {"copied": list(matching), "skipped": [n for n in source.state_dict() if n not in matching],
            "missing": list(outcome.missing_keys), "unexpected": list(outcome.unexpected_keys)}


def with_head(model: nn.Module, head: nn.Module) -> nn.Sequential:
    """`model`'s stages, sharing their weights, followed by another `head` stage.

    Re-attaching the source model's CIFAR-10 head to a backbone fine-tuned on CIFAR-100 shows
    how much of CIFAR-10 the backbone still knows.

    >>> source = models.build_model("fastnet", 10)
    >>> finetuned = models.replace_head(copy.deepcopy(source), num_classes=100)   # then trained on CIFAR-100
    >>> cifar10_again = with_head(finetuned, copy.deepcopy(source.head))
    >>> models.output_count(finetuned), models.output_count(cifar10_again)
    (100, 10)
    """
    stages = OrderedDict((name, stage) for name, stage in model.named_children() if name != "head")
    stages["head"] = head
    return nn.Sequential(stages)


def forgetting(source: nn.Module, transferred: dict, source_test: ImageSet, source_train: ImageSet | None = None,
               mean=None, std=None) -> dict:
    """What each transferred model still knows of the source task, measured two ways.

    "after": the source's own head re-attached to the transferred backbone: does the old head
    still fit the features? "probe after": a fresh linear probe (`fit_linear_map`) trained on the
    transferred backbone's features of `source_train` images: are the features themselves gone,
    or only the old head's fit to them? "before" and "probe before" are the same two numbers for
    the source model itself. Every accuracy is on `source_test`. `mean`/`std`: the normalisation
    the source learnt with (its checkpoint's); None: each set's own. Without `source_train` the
    two probe numbers are left out.

    >>> source = models.build_model("fastnet", 10)
    >>> untrained = models.replace_head(copy.deepcopy(source), num_classes=100)   # a new head, the same backbone
    >>> source_test = data.per_class_subset(data.load_dataset("synthetic10", "test"), 5)
    >>> forgetting(source, {"new head only": untrained}, source_test)["new head only"]["forgotten"]
    0.0
    """
    def probe_accuracy(model):
        train_features = penultimate_features(model, source_train, mean=mean, std=std)
        test_features = penultimate_features(model, source_test, mean=mean, std=std)
        centre, scale = train_features.mean(0), train_features.std(0) + 1e-6
        linear = fit_linear_map((train_features - centre) / scale, source_train.labels, source_train.num_classes)
        return map_accuracy(linear, (test_features - centre) / scale, source_test.labels)

    _, before = inference.evaluate(source, source_test, mean=mean, std=std)
    probe_before = probe_accuracy(source) if source_train is not None else None
    rows = {}
    for name, model in transferred.items():
        _, after = inference.evaluate(with_head(model, copy.deepcopy(source.head)), source_test, mean=mean, std=std)
        rows[name] = {"before": before, "after": after, "forgotten": before - after}
        if source_train is not None:
            rows[name].update({"probe before": probe_before, "probe after": probe_accuracy(model)})
    return rows


def batchnorm_statistics(model: nn.Module) -> dict:
    """A copy of every BatchNorm layer's running mean and variance: {layer name: (mean, var)}.

    >>> before = batchnorm_statistics(models.build_model("fastnet", 10))
    >>> mean, var = before["stem.bn"]
    >>> mean.shape, var.shape
    (torch.Size([16]), torch.Size([16]))
    """
    return {name: (module.running_mean.detach().clone().cpu(), module.running_var.detach().clone().cpu())
            for name, module in model.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)}


def running_stats_shift(before: dict, after: dict) -> list[dict]:
    """How far each BatchNorm layer's running statistics moved between two `batchnorm_statistics`.

    mean_shift: the average |change of a channel's mean|, in units of that channel's old standard
    deviation (1.0 = the mean moved by a whole standard deviation). var_ratio: the average
    new/old variance (1.0 = unchanged).

    >>> model = models.build_model("fastnet", 10)
    >>> before = batchnorm_statistics(model)
    >>> running_stats_shift(before, batchnorm_statistics(model))[0]         # nothing trained in between
    {'layer': 'stem.bn', 'mean_shift': 0.0, 'var_ratio': 1.0}
    >>> _ = model.train()(torch.rand(8, 3, 32, 32))                        # one batch in training mode
    >>> running_stats_shift(before, batchnorm_statistics(model))[0]["mean_shift"] > 0
    True
    """
    rows = []
    for name, (mean, var) in before.items():
        new_mean, new_var = after[name]
        rows.append({"layer": name,
                     "mean_shift": ((new_mean - mean).abs() / var.sqrt().clamp_min(1e-5)).mean().item(),
                     "var_ratio": (new_var / var.clamp_min(1e-5)).mean().item()})
    return rows


def penultimate_features(model: nn.Module, ds: ImageSet, batch_size: int = inference.INFERENCE_BATCH_SIZE, mean=None,
                         std=None) -> torch.Tensor:
    """The inputs of the model's final Linear layer for every image of `ds`: (N, features), float32.

    These are the features a linear probe sees. Images are normalised with `mean`/`std` (pass the
    ones the model learnt with); None means `ds`'s own statistics.

    >>> images = data.per_class_subset(data.load_dataset("synthetic10", "test"), 5)
    >>> penultimate_features(models.build_model("fastnet", 10), images).shape    # 128 features for FastNet
    torch.Size([50, 128])
    """
    caught = []
    hook = models.classifier(model).register_forward_hook(lambda module, inputs, output: caught.append(inputs[0]))
    try:
        with inference.evaluation_mode(model), torch.no_grad():
            for x, _ in Loader(ds, batch_size, device=inference.model_device(model), mean=mean, std=std):
                model(x)
    finally:
        hook.remove()
    return torch.cat(caught).float().cpu()


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """The features projected on their first two principal components, (N, 2) (via `torch.pca_lowrank`).

    >>> pca_2d(torch.randn(50, 128)).shape
    torch.Size([50, 2])
    """
    torch.manual_seed(0)  # pca_lowrank uses random projections: fix them so the picture repeats
    _, _, directions = torch.pca_lowrank(features, q=2, center=True)
    return (features - features.mean(0)) @ directions[:, :2]


def class_separation(features: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of the features' variance explained by their class means (0: classes overlap; 1: tight clusters).

    It is trace(between-class scatter) / trace(total scatter), a one-number summary of how well
    a feature space separates the classes.

    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> class_separation(torch.tensor([[0.0], [0.0], [1.0], [1.0]]), labels)   # each class on one point
    1.0
    >>> class_separation(torch.tensor([[0.0], [1.0], [0.0], [1.0]]), labels)   # both classes alike
    0.0
    """
    centred = features - features.mean(0)
    between = torch.zeros(())
    for c in labels.unique():
        rows = centred[labels == c]
        between = between + len(rows) * rows.mean(0).pow(2).sum()
    return (between / centred.pow(2).sum()).item()


def fit_linear_map(features: torch.Tensor, labels: torch.Tensor, num_classes: int, loss: str = "cross_entropy",
                   steps: int = 300, lr: float = 0.01, weight_decay: float = 1e-4, seed: int = 0) -> nn.Linear:
    """A linear map from features to class scores, learnt with full-batch Adam on cross-entropy or MSE.

    loss="mse" regresses the one-hot targets (the "learned mapping f" of regression); loss=
    "cross_entropy" treats the outputs as logits. Both are linear probes: only the loss differs.

    >>> features, labels = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.9, 0.2]]), torch.tensor([1, 0, 0])
    >>> probe = fit_linear_map(features, labels, 2, loss="mse")
    >>> probe
    Linear(in_features=2, out_features=2, bias=True)
    """
    if loss not in ("cross_entropy", "mse"):
        raise ValueError(f"loss is 'cross_entropy' or 'mse', not {loss!r}")
    torch.manual_seed(seed)
    linear = nn.Linear(features.shape[1], num_classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    one_hot = F.one_hot(labels, num_classes).float()
    for _ in range(steps):
        outputs = linear(features)
        value = F.cross_entropy(outputs, labels) if loss == "cross_entropy" else F.mse_loss(outputs, one_hot)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return linear


def map_accuracy(linear: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose highest score is the true class.

    >>> features, labels = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.9, 0.2]]), torch.tensor([1, 0, 0])
    >>> map_accuracy(fit_linear_map(features, labels, 2), features, labels)
    1.0
    """
    with torch.no_grad():
        return (linear(features).argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------------------------------------
# Joint training: one backbone, two heads
# ---------------------------------------------------------------------------------------------


def joint_train(source: nn.Module, source_train: ImageSet, target_train: ImageSet, source_val: ImageSet,
                target_val: ImageSet, source_weight: float = 1.0, target_weight: float = 1.0, epochs: int = 5,
                lr: float | None = None, batch_size: int = 64, seed: int = 0, mean=None, std=None) -> dict:
    """Train a copy of `source` on `source_weight * L_s + target_weight * L_t`, with a head per task.

    The backbone is shared; the source head starts as the source model's, the target head is new.
    Each step takes one batch of each set (an epoch ends with the smaller set) and runs them through
    the backbone together. The recipe is `fit`'s: SGD with Nesterov momentum and weight decay, the
    one-cycle rate, label smoothing. Special cases: source_weight=0 is plain sequential fine-tuning
    (the source images are then not run at all: even unweighted, they would move BatchNorm's
    running statistics towards the source), and a negative target_weight *maximises* the target loss. Every image, of either task, is
    normalised with `mean`/`std` (the source's own, as in `transfer_setup.prepare`); None: each set's own.
    `lr`: None starts from fine-tuning's rate (`transfer.STRATEGY_TABLE`), since every stage trains here too.

    Returns {"history": one row per epoch (epoch, source_loss, target_loss, source_acc, target_acc),
    "source_model", "target_model"} (the two models share the backbone).

    Chapter 04 trains the shipped source on a part of CIFAR-10 and the task's CIFAR-100 images; here
    a fresh FastNet, on a few synthetic images (one step of 64 images from each set):

    >>> source = models.build_model("fastnet", 10)
    >>> source_part = data.per_class_subset(data.load_dataset("synthetic10", "test"), 7)      # 70 images
    >>> target_part = data.per_class_subset(data.load_dataset("synthetic100", "test"), 1)     # 100 images
    >>> joint = joint_train(source, source_part, target_part, source_part, target_part, epochs=1)
    >>> list(joint["history"][0])
    ['epoch', 'source_loss', 'target_loss', 'source_acc', 'target_acc']
    >>> models.output_count(joint["source_model"]), models.output_count(joint["target_model"])
    (10, 100)
    """
    lr = transfer.STRATEGY_TABLE["finetune"].lr if lr is None else lr
    config = dataclasses.replace(train.TrainConfig(), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    if problems := config.problems():
        raise ConfigError(" ".join(problems.values()))
    torch.manual_seed(seed)
    source_model = copy.deepcopy(source)
    # The target model shares the source model's stages; its head is a copy of the source's with a new classifier.
    target_model = models.replace_head(with_head(source_model, copy.deepcopy(source.head)), target_train.num_classes)
    target_head, backbone = target_model.head, with_head(source_model, nn.Identity())
    optimizer = train.optimizer_for(list(source_model.parameters()) + list(target_head.parameters()), config)
    sources = Loader(source_train, batch_size, shuffle=True, augment=True, seed=seed, drop_last=True, mean=mean, std=std)
    targets = Loader(target_train, batch_size, shuffle=True, augment=True, seed=seed + 1, drop_last=True,
                     mean=mean, std=std)
    total_steps, step, history = epochs * min(len(sources), len(targets)), 0, []
    for epoch in range(1, epochs + 1):
        source_model.train()
        target_head.train()
        for (xs, ys), (xt, yt) in zip(sources, targets):
            for group in optimizer.param_groups:
                group["lr"] = train.learning_rate(step, total_steps, config)
            if source_weight == 0:  # sequential: only target images go through the backbone
                target_loss = F.cross_entropy(target_head(backbone(xt)), yt, label_smoothing=config.label_smoothing)
                loss = target_weight * target_loss
            else:
                features = backbone(torch.cat([xs, xt]))
                source_loss = F.cross_entropy(source_model.head(features[:len(xs)]), ys,
                                              label_smoothing=config.label_smoothing)
                target_loss = F.cross_entropy(target_head(features[len(xs):]), yt,
                                              label_smoothing=config.label_smoothing)
                loss = source_weight * source_loss + target_weight * target_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
        source_loss, source_acc = inference.evaluate(source_model, source_val, mean=mean, std=std)
        target_loss, target_acc = inference.evaluate(target_model, target_val, mean=mean, std=std)
        history.append({"epoch": epoch, "source_loss": source_loss, "target_loss": target_loss,
                        "source_acc": source_acc, "target_acc": target_acc})
    return {"history": history, "source_model": source_model, "target_model": target_model}


# ---------------------------------------------------------------------------------------------
# An ImageNet source
# ---------------------------------------------------------------------------------------------


def imagenet_transfer(train_set: ImageSet, val_set: ImageSet, strategy: str = "linear_probe", epochs: int = 10,
                      lr: float | None = None, batch_size: int = 64, seed: int = 0) -> dict:
    """Transfer torchvision's ImageNet ResNet-18 to `train_set` at 32x32 pixels; a result like `train_setup`'s.

    The run is `transfer_setup.prepare`'s for the source "imagenet" (so the images are normalised with
    ImageNet's statistics, the ones the weights were learnt with), trained on the images given.
    `lr`: None starts from the strategy's rate (`transfer.STRATEGY_TABLE`). Raises
    `WeightsUnavailableError` (with what to do) when the weights cannot be downloaded, as chapter 04
    does on the few-shot task's images:

    result = imagenet_transfer(cifar100_train, cifar100_test)
    """
    setup = TransferSetup(source="imagenet", strategy=strategy, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    torch.manual_seed(seed)  # the new head's initial weights
    model, chosen, config = transfer_setup.prepare_model(setup, train_set.num_classes)
    history = train.train(model, train_set, val_set, config, strategy=chosen, progress=False)
    return {"label": f"ImageNet ResNet-18 · {strategy.replace('_', ' ')} · lr {setup.lr:g}", "strategy": strategy,
            "status": history.status, "epochs": history.epochs, "final_val_acc": history.end.get("val_acc"),
            "best_val_acc": history.end.get("best_val_acc"), "seconds": history.end.get("elapsed"),
            "trainable_params": history.start["trainable"],
            "total_params": history.start["trainable"] + history.start["frozen"], "model": model}
