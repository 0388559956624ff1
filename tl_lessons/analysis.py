"""Chapter 04's experiments: transfer strategies side by side, and a look at what transfer did.

The sweeps here are thin loops over `tl_lessons.transfer_setup.prepare` and `tl_lessons.train.fit`,
so every number the chapter prints comes from the same code the dashboard and the command line
run. Results are plain dicts (JSON-ready, the shape `tl_lessons.reference_runs` records):

    >>> results = compare_strategies(strategy_setups())       # every strategy, chapter 04's budget
    >>> [(r["label"], r["final_val_acc"]) for r in results]

The second half holds the computations the chapter needs to look inside a transferred model:
shapes after each stage, copying weights by name, BatchNorm statistics, forgetting of the source
task, penultimate features and their PCA, linear maps on cached features, and joint training on
source and target. The plots at the end draw these results.
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
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from tl_lessons import data, executors, models, train, transfer, transfer_setup
from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader
from tl_lessons.plots import projector_style
from tl_lessons.transfer_setup import TransferSetup

TUNING_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
# How each strategy of chapter 04's comparison (10 epochs, batch 64, seed 0, the shipped source) did at
# each rate of TUNING_LRS on the few-shot task (`data.task_split`: 5 labelled images per class): final
# accuracy on the task's validation images, held out from the training split (423 on the development
# copy of CIFAR-100, whose smallest classes cannot give 5; the test split plays no part). Recorded on the
# 2-core development CPU with `tune_learning_rates(strategy_setups(), TUNING_LRS)` in 595 s (chapter 04
# repeats two of its rows live). Images are normalised with the source's own (CIFAR-10) statistics, as
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
CHAPTER_SETUP = TransferSetup(target="cifar100", epochs=10, batch_size=64, seed=0, k=2)
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
    ['scratch · lr 0.3', 'finetune · lr 0.3']
    """
    lrs = {**STRATEGY_LRS, **(lrs or {})}
    return [dataclasses.replace(base, strategy=name, lr=lrs[name]) for name in strategies]


def estimate_seconds(setup: TransferSetup, root=None, probe_steps: int = 6) -> float:
    """About how many seconds `train_setup(setup)` will take on this machine: measured, not guessed.

    Trains the first few optimiser steps of the run for real (then throws them away), takes the pace
    of the steps after the first (which pays for warming up), and scales it to the run's steps, its
    validation after every epoch and the one test pass (a forward pass costs about a third of a
    training step per image). Run it before a long sweep, for example with a larger label budget:

    >>> estimate_seconds(dataclasses.replace(CHAPTER_SETUP, per_class=500))   # every official image
    """
    torch.manual_seed(setup.seed)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup, root=root)
    started = time.perf_counter()
    steps = []
    probe = dataclasses.replace(config, log_every_steps=1)
    for event in train.fit(model, train_set, None, probe, strategy=strategy):
        if event["kind"] == "start":
            total_steps = event["total_steps"]
        elif event["kind"] == "step":
            steps.append((event["step"], time.perf_counter() - started))
            if len(steps) > probe_steps:
                break
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
    (first_step, first_at), (last_step, last_at) = steps[0], steps[-1]
    per_step = (last_at - first_at) / (last_step - first_step)
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

    >>> result = train_setup(TransferSetup(target="synthetic100", per_class=5, epochs=2))
    >>> result["best_val_acc"], result["test_acc"], result["model"]
    """
    # The new head is drawn from torch's global random state: seed it, so a run repeats exactly
    # whatever ran before it in the same process.
    torch.manual_seed(setup.seed)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup, root=root)
    history = train.train(model, train_set, val_set if curves else None, config, strategy=strategy, progress=progress)
    final_val_acc, best_val_acc = history.end.get("val_acc"), history.end.get("best_val_acc")
    if not curves and val_set is not None and history.status == "finished":
        _, final_val_acc = train.evaluate(model, val_set, mean=config.mean, std=config.std)
    test_acc, test_images, test_correct = None, 0, None
    if test and history.status == "finished":
        test_set = data.at_most_per_class(transfer_setup.load_test(setup, root=root), test_per_class)
        answers = []
        _, test_acc = train.evaluate_batches(model, Loader(test_set, 500, device=train.model_device(model),
                                                           mean=config.mean, std=config.std), predicted=answers)
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

    >>> results = compare_strategies(strategy_setups(TransferSetup(target="synthetic100", epochs=2)), seeds=SEEDS)
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


def setting_of(result: dict) -> str:
    """What a run tried, without its seed: runs of the same setting differ only by chance.

    >>> setting_of(result)
    'freeze k=2 · bn eval · lr 0.3 · 5/class'
    """
    return result["label"]


def spread(results, key: str = "test_acc") -> list[dict]:
    """Each setting's runs summed up: the mean of `key` over its seeds and the range they span.

    Returns one row per setting, in the order the settings first appear: setting, strategy, n (runs),
    mean, low, high, values. A range is a summary, not a verdict: `verdicts.read` says which
    differences are real.

    >>> spread(compare_strategies(setups, seeds=SEEDS))[0]["mean"]
    """
    groups = {}
    for result in results:
        value = result.get(key)
        groups.setdefault(setting_of(result), {"strategy": result["strategy"], "results": [], "values": []})
        groups[setting_of(result)]["results"].append(result)
        if value is not None:
            groups[setting_of(result)]["values"].append(value)
    rows = []
    for name, group in groups.items():
        values = group["values"]
        rows.append({"setting": name, "strategy": group["strategy"], "n": len(values),
                     "mean": sum(values) / len(values) if values else None,
                     "low": min(values) if values else None, "high": max(values) if values else None,
                     "values": values, "config": group["results"][0].get("config")})
    return rows


def short_name(row: dict) -> str:
    """A setting's name without its learning rate and task: "freeze k=2 · bn eval" from its full label.

    >>> short_name({"setting": "freeze k=2 · bn eval · lr 0.3 · 5/class"})
    'freeze k=2 · bn eval'
    """
    return " · ".join(part for part in row["setting"].split(" · ")
                      if not part.startswith("lr ") and not part.endswith(("/class", "labels")))


def short_label(result: dict) -> str:
    """A run's setting without its learning rate and task (`short_name` of its label): how readings name it.

    >>> short_label({"label": "freeze k=2 · bn eval · lr 0.3 · 5/class"})
    'freeze k=2 · bn eval'
    """
    return short_name({"setting": result["label"]})


def summary(results) -> list[dict]:
    """The comparison table: one row per setting, its test and final validation accuracy as mean and
    range over its seeds (in %), its mean seconds and its trainable parameters at the start.

    >>> print(text.table(summary(results)))
    """
    rows = []
    for test_row, val_row in zip(spread(results, "test_acc"), spread(results, "final_val_acc")):
        seconds = [r["seconds"] for r in results if setting_of(r) == test_row["setting"] and r["seconds"] is not None]
        first = next(r for r in results if setting_of(r) == test_row["setting"])
        rows.append({"setting": test_row["setting"], "seeds": test_row["n"] or val_row["n"],
                     "test acc %": mean_and_range(test_row), "final val acc %": mean_and_range(val_row),
                     "seconds": f"{sum(seconds) / len(seconds):.1f}" if seconds else "-",
                     "trainable at start": f"{first['trainable_params']:,}"})
    return rows


def mean_and_range(row: dict) -> str:
    """'12.3 (11.0-13.1)': the mean and the range over seeds, in %."""
    if row["mean"] is None:
        return "-"
    if row["n"] == 1:
        return f"{100 * row['mean']:.1f}"
    return f"{100 * row['mean']:.1f} ({100 * row['low']:.1f}-{100 * row['high']:.1f})"


def tune_learning_rates(setups, lrs=TUNING_LRS, root=None, progress: bool = False, executor=None) -> dict:
    """For each setup's strategy, the learning rate with the best final accuracy on the validation images.

    The validation images are held out from the target's training split (`transfer_setup.load_target`);
    the test split plays no part. Returns {strategy: {"best_lr": lr, "scores": {lr: final val acc}}}.
    executor: where the trials train (see `compare_strategies`).

    >>> tune_learning_rates(strategy_setups(strategies=("finetune",)))["finetune"]["best_lr"]
    """
    trials = [dataclasses.replace(setup, lr=lr) for setup in setups for lr in lrs]
    results = compare_strategies(trials, seeds=(trials[0].seed,) if trials else (0,), root=root,
                                 progress=progress, desc="tuning", test=False, curves=False, executor=executor)
    tuned = {}
    for trial, result in zip(trials, results):
        tuned.setdefault(trial.strategy, {"scores": {}})["scores"][trial.lr] = result["final_val_acc"] or 0.0
    for row in tuned.values():
        row["best_lr"] = max(row["scores"], key=row["scores"].get)  # a tie goes to the smaller rate
    return tuned


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Optimiser steps in one epoch over `images` images (`fit` drops a last batch of a single image).

    >>> steps_per_epoch(500, 64), steps_per_epoch(100, 64), steps_per_epoch(129, 64)
    (8, 2, 2)
    """
    steps = -(-images // batch_size)
    return steps - 1 if images % batch_size == 1 and images > 1 else steps


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

    >>> rows = label_regimes(strategy_setups(strategies=("scratch", "linear_probe")), (1, 5))
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

    >>> results = freeze_depth_curve(dataclasses.replace(CHAPTER_SETUP, lr=0.3), range(5))
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
    with train.evaluation_mode(model), torch.no_grad():
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
    whether the most frequent answer is one of them.

    >>> rows = lookalike_votes(source, cifar100_train, meta["classes"], vocabulary.LOOKALIKES)
    """
    predicted = train.predict(model, ds.images, mean, std).argmax(1)
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

    >>> report = copy_matching_weights(source, models.build_model("fastnet", 100))
    >>> report["missing"]
    ['head.fc.weight', 'head.fc.bias']
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

    >>> cifar10_again = with_head(finetuned, copy.deepcopy(source.head))
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

    >>> forgetting(source, {"finetune": finetuned}, cifar10_test, cifar10_part)["finetune"]["probe after"]
    """
    def probe_accuracy(model):
        train_features = penultimate_features(model, source_train, mean=mean, std=std)
        test_features = penultimate_features(model, source_test, mean=mean, std=std)
        centre, scale = train_features.mean(0), train_features.std(0) + 1e-6
        linear = fit_linear_map((train_features - centre) / scale, source_train.labels, source_train.num_classes)
        return map_accuracy(linear, (test_features - centre) / scale, source_test.labels)

    _, before = train.evaluate(source, source_test, mean=mean, std=std)
    probe_before = probe_accuracy(source) if source_train is not None else None
    rows = {}
    for name, model in transferred.items():
        _, after = train.evaluate(with_head(model, copy.deepcopy(source.head)), source_test, mean=mean, std=std)
        rows[name] = {"before": before, "after": after, "forgotten": before - after}
        if source_train is not None:
            rows[name].update({"probe before": probe_before, "probe after": probe_accuracy(model)})
    return rows


def batchnorm_statistics(model: nn.Module) -> dict:
    """A copy of every BatchNorm layer's running mean and variance: {layer name: (mean, var)}.

    >>> before = batchnorm_statistics(model)
    """
    return {name: (module.running_mean.detach().clone().cpu(), module.running_var.detach().clone().cpu())
            for name, module in model.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)}


def running_stats_shift(before: dict, after: dict) -> list[dict]:
    """How far each BatchNorm layer's running statistics moved between two `batchnorm_statistics`.

    mean_shift: the average |change of a channel's mean|, in units of that channel's old standard
    deviation (1.0 = the mean moved by a whole standard deviation). var_ratio: the average
    new/old variance (1.0 = unchanged).

    >>> running_stats_shift(before, batchnorm_statistics(model))[0]
    {'layer': 'stem.bn', 'mean_shift': 0.0, 'var_ratio': 1.0}
    """
    rows = []
    for name, (mean, var) in before.items():
        new_mean, new_var = after[name]
        rows.append({"layer": name,
                     "mean_shift": ((new_mean - mean).abs() / var.sqrt().clamp_min(1e-5)).mean().item(),
                     "var_ratio": (new_var / var.clamp_min(1e-5)).mean().item()})
    return rows


def penultimate_features(model: nn.Module, ds: ImageSet, batch_size: int = 1000, mean=None, std=None) -> torch.Tensor:
    """The inputs of the model's final Linear layer for every image of `ds`: (N, features), float32.

    These are the features a linear probe sees. Images are normalised with `mean`/`std` (pass the
    ones the model learnt with); None means `ds`'s own statistics.

    >>> features = penultimate_features(source, cifar100_test)   # (916, 128) for FastNet
    """
    caught = []
    hook = models.classifier(model).register_forward_hook(lambda module, inputs, output: caught.append(inputs[0]))
    try:
        with train.evaluation_mode(model), torch.no_grad():
            for x, _ in Loader(ds, batch_size, device=train.model_device(model), mean=mean, std=std):
                model(x)
    finally:
        hook.remove()
    return torch.cat(caught).float().cpu()


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """The features projected on their first two principal components, (N, 2) (via `torch.pca_lowrank`).

    >>> points = pca_2d(penultimate_features(model, test_set))
    """
    torch.manual_seed(0)  # pca_lowrank uses random projections: fix them so the picture repeats
    _, _, directions = torch.pca_lowrank(features, q=2, center=True)
    return (features - features.mean(0)) @ directions[:, :2]


def class_separation(features: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of the features' variance explained by their class means (0: classes overlap; 1: tight clusters).

    It is trace(between-class scatter) / trace(total scatter), a one-number summary of how well
    a feature space separates the classes.

    >>> class_separation(features, test_set.coarse_labels)
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

    >>> probe = fit_linear_map(train_features, train_labels, 100, loss="mse")
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

    >>> map_accuracy(probe, test_features, test_labels)
    """
    with torch.no_grad():
        return (linear(features).argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------------------------------------
# Joint training: one backbone, two heads
# ---------------------------------------------------------------------------------------------


def joint_train(source: nn.Module, source_train: ImageSet, target_train: ImageSet, source_val: ImageSet,
                target_val: ImageSet, source_weight: float = 1.0, target_weight: float = 1.0, epochs: int = 5,
                lr: float = 0.3, batch_size: int = 64, seed: int = 0, mean=None, std=None) -> dict:
    """Train a copy of `source` on `source_weight * L_s + target_weight * L_t`, with a head per task.

    The backbone is shared; the source head starts as the source model's, the target head is new.
    Each step takes one batch of each set (an epoch ends with the smaller set) and runs them through
    the backbone together. The recipe is `fit`'s: SGD with Nesterov momentum and weight decay, the
    one-cycle rate, label smoothing. Special cases: source_weight=0 is plain sequential fine-tuning
    (the source images are then not run at all: even unweighted, they would move BatchNorm's
    running statistics towards the source), and a negative target_weight *maximises* the target loss. Every image, of either task, is
    normalised with `mean`/`std` (the source's own, as in `transfer_setup.prepare`); None: each set's own.

    Returns {"history": one row per epoch (epoch, source_loss, target_loss, source_acc, target_acc),
    "source_model", "target_model"} (the two models share the backbone).

    >>> joint = joint_train(source, cifar10_part, cifar100_train, cifar10_test, cifar100_test, target_weight=1.0)
    """
    config = dataclasses.replace(train.TrainConfig(), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    if problems := config.problems():
        raise ConfigError(" ".join(problems.values()))
    torch.manual_seed(seed)
    source_model = copy.deepcopy(source)
    target_head = copy.deepcopy(source.head)
    target_head[-1] = nn.Linear(target_head[-1].in_features, target_train.num_classes)
    target_model = with_head(source_model, target_head)
    backbone = with_head(source_model, nn.Identity())
    parameters = list(source_model.parameters()) + list(target_head.parameters())
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay)
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
        source_loss, source_acc = train.evaluate(source_model, source_val, mean=mean, std=std)
        target_loss, target_acc = train.evaluate(target_model, target_val, mean=mean, std=std)
        history.append({"epoch": epoch, "source_loss": source_loss, "target_loss": target_loss,
                        "source_acc": source_acc, "target_acc": target_acc})
    return {"history": history, "source_model": source_model, "target_model": target_model}


# ---------------------------------------------------------------------------------------------
# An ImageNet source
# ---------------------------------------------------------------------------------------------


def imagenet_transfer(train_set: ImageSet, val_set: ImageSet, strategy: str = "linear_probe", epochs: int = 10,
                      lr: float = 0.3, batch_size: int = 64, seed: int = 0) -> dict:
    """Transfer torchvision's ImageNet ResNet-18 to `train_set` at 32x32 pixels; a result like `train_setup`'s.

    The images are normalised with ImageNet's statistics, the ones the weights were learnt with.
    Raises `WeightsUnavailableError` (with what to do) when the weights cannot be downloaded.

    >>> result = imagenet_transfer(cifar100_train, cifar100_test)
    """
    setup = TransferSetup(source="imagenet", strategy=strategy, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    torch.manual_seed(seed)  # the new head's initial weights
    model, meta = transfer_setup.build_target_model(setup, train_set.num_classes)
    chosen = transfer.apply_strategy(model, strategy)
    config = dataclasses.replace(train.TrainConfig(), arch=meta["arch"], epochs=epochs, lr=lr, batch_size=batch_size,
                                 seed=seed, **transfer_setup.normalisation(setup, meta))
    history = train.train(model, train_set, val_set, config, strategy=chosen, progress=False)
    return {"label": f"ImageNet ResNet-18 · {strategy.replace('_', ' ')} · lr {lr:g}", "strategy": strategy,
            "status": history.status, "epochs": history.epochs, "final_val_acc": history.end.get("val_acc"),
            "best_val_acc": history.end.get("best_val_acc"), "seconds": history.end.get("elapsed"),
            "trainable_params": history.start["trainable"],
            "total_params": history.start["trainable"] + history.start["frozen"], "model": model}


# ---------------------------------------------------------------------------------------------
# Plots of these results
# ---------------------------------------------------------------------------------------------


def _by_setting(results) -> dict:
    """{setting: its runs}, in the order the settings first appear."""
    groups = {}
    for result in results:
        groups.setdefault(setting_of(result), []).append(result)
    return groups


def _band(axis, xs, runs_values, colour, label, marker="-o"):
    """The mean over seeds as a line, and the range the seeds span as a shaded band around it."""
    columns = list(zip(*runs_values))
    means = [sum(column) / len(column) for column in columns]
    axis.plot(xs, means, marker, color=colour, label=label)
    if len(runs_values) > 1:
        axis.fill_between(xs, [min(column) for column in columns], [max(column) for column in columns],
                          color=colour, alpha=0.18, linewidth=0)


def plot_comparison(results, title: str = "Strategies at the same budget") -> Figure:
    """Validation accuracy per epoch (mean over seeds, their range shaded), and each setting's test
    accuracy (mean, with the range of its seeds as a bar).

    >>> fig = plot_comparison(compare_strategies(strategy_setups(), seeds=SEEDS))
    """
    groups = _by_setting(results)
    with projector_style():
        figure = Figure(figsize=(14, 5), layout="constrained")
        curve_axis, test_axis = figure.subplots(1, 2, width_ratios=(3, 2))
        for index, (name, runs) in enumerate(groups.items()):
            epochs = [e["epoch"] for e in runs[0]["epochs"]]
            finished = [run for run in runs if len(run["epochs"]) == len(epochs)]
            if finished and epochs:
                _band(curve_axis, epochs, [[e["val_acc"] for e in run["epochs"]] for run in finished],
                      f"C{index}", name.split(" · ")[0])
        rows = spread(results, "test_acc")
        for index, row in enumerate(rows):
            if row["mean"] is None:
                continue
            test_axis.errorbar(row["mean"], index, xerr=[[row["mean"] - row["low"]], [row["high"] - row["mean"]]],
                               fmt="o", color=f"C{index}", capsize=6, markersize=9, linewidth=3)
        test_axis.set_yticks(range(len(rows)), [row["setting"].split(" · ")[0] for row in rows])
        test_axis.invert_yaxis()
        seeds = max((row["n"] for row in rows), default=0)
        curve_axis.set(title=f"Validation accuracy (mean of {seeds} seeds, range shaded)", xlabel="epoch",
                       ylabel="fraction correct")
        test_axis.set(title="Test accuracy, once at the end (mean and range)", xlabel="fraction correct")
        for axis in (curve_axis, test_axis):
            axis.grid(alpha=0.3)
        curve_axis.legend(loc="upper left", fontsize=11)
        figure.suptitle(title)
    return figure


def plot_label_regimes(results, title: str = "Where transfer helps most: few labels") -> Figure:
    """Test accuracy against labelled images per class, one line per strategy (mean over seeds, range shaded).

    >>> fig = plot_label_regimes(label_regimes(setups))
    """
    with projector_style():
        figure = Figure(figsize=(8, 5), layout="constrained")
        axis = figure.subplots()
        for index, strategy in enumerate(dict.fromkeys(r["strategy"] for r in results)):
            mine = [r for r in results if r["strategy"] == strategy and r["test_acc"] is not None]
            budgets = sorted({r["per_class"] for r in mine})
            seeds = sorted({r["config"]["seed"] for r in mine})
            table = [[next(r["test_acc"] for r in mine if r["per_class"] == n and r["config"]["seed"] == seed)
                      for n in budgets] for seed in seeds]
            _band(axis, budgets, table, f"C{index}", strategy.replace("_", " "))
        axis.set_xscale("log")
        axis.set_xticks(sorted({r["per_class"] for r in results}), [str(n) for n in sorted({r["per_class"] for r in results})])
        axis.set(title=title, xlabel="labelled images per class (equal optimiser steps)", ylabel="test accuracy")
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def plot_freeze_depth(results, stages, title: str = "How many stages to freeze") -> Figure:
    """Test and final validation accuracy against the number of frozen stages k (mean over seeds, range shaded).

    >>> fig = plot_freeze_depth(freeze_depth_curve(setup, range(5)), models.stage_names(model))
    """
    with projector_style():
        figure = Figure(figsize=(8, 5), layout="constrained")
        axis = figure.subplots()
        ks = sorted({r["config"]["k"] for r in results})
        seeds = sorted({r["config"]["seed"] for r in results})
        for index, (key, name) in enumerate((("test_acc", "test"), ("final_val_acc", "validation (final)"))):
            table = [[next(r[key] for r in results if r["config"]["k"] == k and r["config"]["seed"] == seed)
                      for k in ks] for seed in seeds]
            _band(axis, ks, table, f"C{index}", name, marker="-o" if index == 0 else "--s")
        axis.set_xticks(ks, [f"k={k}\n{'none' if k == 0 else 'to ' + stages[k - 1]}" for k in ks])
        axis.set(title=title, xlabel="frozen stages (input side first)", ylabel="accuracy")
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def plot_feature_space(panels: dict, coarse_labels, coarse_classes, title: str | None = None,
                       shown=None) -> Figure:
    """Scatter plots of 2-D feature projections side by side, coloured by superclass.

    panels: {panel title: (N, 2) points}, every panel for the same N images. shown: the indices of
    the superclasses to colour (default: all); the others are drawn in light grey behind them, so that
    a few groups stay readable on a projector instead of twenty colours no one can tell apart.

    >>> fig = plot_feature_space({"before": pca_2d(f0), "after": pca_2d(f1)}, test.coarse_labels, test.coarse_classes, shown=[0, 5, 8])
    """
    shown = list(range(len(coarse_classes))) if shown is None else list(shown)
    colours = colormaps["tab10" if len(shown) <= 10 else "tab20"]
    with projector_style():
        figure = Figure(figsize=(6.5 * len(panels) + 3.5, 6), layout="constrained")
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for axis, (name, points) in zip(axes, panels.items()):
            others = ~torch.isin(coarse_labels, torch.tensor(shown))
            if others.any():
                axis.scatter(points[others, 0], points[others, 1], s=8, color="0.85", label="other superclasses")
            for index, c in enumerate(shown):
                rows = coarse_labels == c
                axis.scatter(points[rows, 0], points[rows, 1], s=22, color=colours(index), label=coarse_classes[c])
            axis.set(title=name, xlabel="principal component 1", ylabel="principal component 2")
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=13, markerscale=2)
        if title:
            figure.suptitle(title)
    return figure


def plot_joint(histories: dict, chance: float, title: str = "One backbone, two tasks") -> Figure:
    """Target and source validation accuracy per epoch for several `joint_train` runs.

    histories: {label: joint_train(...)["history"]}; chance: the target's chance accuracy (1/classes).

    >>> fig = plot_joint({"joint": joint["history"], "sequential": sequential["history"]}, chance=0.01)
    """
    with projector_style():
        figure = Figure(figsize=(13, 4.8), layout="constrained")
        target_axis, source_axis = figure.subplots(1, 2)
        for index, (label, history) in enumerate(histories.items()):
            epochs = [row["epoch"] for row in history]
            target_axis.plot(epochs, [row["target_acc"] for row in history], "-o", color=f"C{index}", label=label)
            source_axis.plot(epochs, [row["source_acc"] for row in history], "-o", color=f"C{index}", label=label)
        target_axis.axhline(chance, color="grey", linestyle=":", label="chance")
        target_axis.set(title="Target task (new head)", xlabel="epoch", ylabel="validation accuracy")
        source_axis.set(title="Source task (original head)", xlabel="epoch", ylabel="validation accuracy")
        for axis in (target_axis, source_axis):
            axis.grid(alpha=0.3)
        target_axis.legend()
        figure.suptitle(title)
    return figure
