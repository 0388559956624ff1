"""When does transfer help? Near and far targets against the no-knowledge baselines, and what a source is worth in labels.

Chapter 05's experiments, as thin loops over the same pieces chapter 04 uses (`analysis.train_setup`
for every trained run, `verdicts` for every "is it real"):

- **the arms**: on each target (`targets.NEAR`, `targets.FAR`), the trained strategies (scratch, the
  linear probe, fine-tuning), each with its own learning rate *and* its own augmentation choice,
  picked on validation images (`tune`); and three probes on frozen features that tell what the
  features alone know: raw pixels and a randomly initialised FastNet (the no-knowledge baselines)
  and the shipped CIFAR-10 FastNet (`feature_probes`);
- **the labels a source is worth**: scratch and transfer at 1, 2, 5, ... labelled images per class
  (`label_curve`), and the number of labels scratch needs to match transfer (`labels_saved`);
- **which classes gain**: per-class accuracy gained over scratch (`class_gains`);
- **how the verdicts were calibrated**: probes on cached features, run many times (`calibration`).

Every run gets the same number of optimiser steps (`BASE`'s, or `MIN_EPOCHS` passes over a larger
label budget), so a ranking here holds for this budget: a longer one can change it. Chapter 05 runs,
with minutes of training on CIFAR-100:

    tuned = tune(setups_for("near"))                       # validation images only
    results = analysis.compare_strategies(tuned.values(), seeds=SEEDS)
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from tl_lessons import analysis, data, models, targets, verdicts
from tl_lessons.imageset import ImageSet
from tl_lessons.plots import projector_style
from tl_lessons.transfer_setup import TransferSetup

MIN_EPOCHS = 4
"""A larger label budget gets at least this many passes over its images (so 50 per class is not 2 epochs)."""
BASE = TransferSetup(target="cifar100", classes="near", per_class=5, epochs=20, batch_size=32, seed=0, k=2)
"""The few-shot task of the chapter: 5 labelled images of each of the target's 15 classes, 20 epochs of 3
steps (batch 32): 60 optimiser steps."""
STRATEGIES = ("scratch", "linear_probe", "finetune")
"""The trained arms: no source, the source frozen under a new head, and the source adapted whole."""
TRANSFER = ("linear_probe", "finetune")
TUNING = {"lrs": (0.1, 0.3, 1.0), "augments": (True, False)}
"""What `tune` tries for every strategy on every target, on validation images (six runs each)."""
PROBES = ("raw pixels", "random FastNet", "shipped FastNet")
"""The frozen-feature probes: what a linear classifier reads off pixels, an untrained net, the source."""


def setups_for(classes: str, base: TransferSetup = BASE, strategies=STRATEGIES) -> list[TransferSetup]:
    """The trained arms on one target, before tuning: `base` with the target's classes and each strategy."""
    return [dataclasses.replace(base, classes=classes, strategy=name, lr=None) for name in strategies]


def with_augment(setup: TransferSetup, augment: bool) -> TransferSetup:
    """`setup` with augmentation (random crops and mirror images of every training batch) on or off."""
    return dataclasses.replace(setup, extra={**setup.extra, "augment": augment})


def augmented(setup: TransferSetup) -> bool:
    """Whether a setup trains on augmented images (the kit's default is yes)."""
    return setup.extra.get("augment", True)


def tune(setups, lrs=TUNING["lrs"], augments=TUNING["augments"], root=None, progress: bool = False,
         executor=None) -> dict:
    """Each setup's own learning rate and augmentation, chosen on its validation images (one seed).

    Returns {strategy: {"setup": the tuned setup, "scores": {(lr, augment): final validation accuracy}}}.
    A tie goes to the first choice tried (the smaller rate, augmentation on). The test split plays no part.
    `lrs` None: each setup keeps its own rate, and only the augmentation is chosen.
    executor: where the trials train (see `analysis.compare_strategies`).
    """
    trials = [with_augment(dataclasses.replace(setup, lr=lr), augment)
              for setup in setups for lr in (lrs or (setup.lr,)) for augment in augments]
    results = analysis.compare_strategies(trials, root=root, progress=progress, desc="tuning", test=False, curves=False,
                                          executor=executor)
    tuned = {}
    for trial, result in zip(trials, results):
        row = tuned.setdefault(trial.strategy, {"scores": {}, "trials": {}})
        row["scores"][(trial.lr, augmented(trial))] = result["final_val_acc"] or 0.0
        row["trials"][(trial.lr, augmented(trial))] = trial
    for row in tuned.values():
        best = max(row["scores"], key=row["scores"].get)
        row["setup"] = row.pop("trials")[best]
    return tuned


def tuning_table(tuned_by_target: dict) -> list[dict]:
    """One row per target and strategy: the chosen rate, augmentation, and the validation accuracy of every choice."""
    rows = []
    for classes, tuned in tuned_by_target.items():
        for strategy, row in tuned.items():
            rows.append({"target": classes, "strategy": strategy, "chosen": choice(row["setup"]),
                         **{f"lr {lr:g}{' aug' if aug else ''}": f"{100 * acc:.1f}"
                            for (lr, aug), acc in row["scores"].items()}})
    return rows


def choice(setup: TransferSetup) -> str:
    """A tuned setting in words: 'lr 0.3, augmented' or 'lr 1, plain images'."""
    return f"lr {setup.lr:g}, {'augmented' if augmented(setup) else 'plain images'}"


# ---------------------------------------------------------------------------------------------
# Probes on frozen features: what pixels, an untrained network and the source know
# ---------------------------------------------------------------------------------------------


def probe_features(kind: str, images: ImageSet) -> torch.Tensor:
    """The features a probe of `kind` (one of PROBES) reads for every image: (N, features), float32.

    "raw pixels": the 3,072 pixel values; "random FastNet": the penultimate layer of a FastNet with
    random weights (seed 0); "shipped FastNet": the penultimate layer of the kit's CIFAR-10 model. Both
    networks see images normalised with CIFAR-10's statistics, as the source learnt them.
    """
    from tl_lessons.checkpoints import load_source_model

    source, meta = load_source_model()
    norm = {"mean": meta["mean"], "std": meta["std"]}
    if kind == "raw pixels":
        return images.images.flatten(1).float() / 255
    if kind == "random FastNet":
        torch.manual_seed(0)
        return analysis.penultimate_features(models.build_model(meta.get("arch", "fastnet"), 10), images, **norm)
    if kind == "shipped FastNet":
        return analysis.penultimate_features(source, images, **norm)
    raise ValueError(f"kind is one of {PROBES}, not {kind!r}")


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Every feature scaled to mean 0 and standard deviation 1 on the training images (the others alike)."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    return [(train - mean) / std] + [(x - mean) / std for x in others]


def probe_answers(train_f, train_y, eval_f, eval_y, num_classes: int, seeds=(0,), weight_decay: float = 1e-3,
                  epochs: int = 30, batch_size: int = 16, lr: float = 0.05) -> torch.Tensor:
    """Logistic-regression probes trained by mini-batch SGD, one per seed: (seeds, evaluation images) answers.

    Each answer is 1 (right) or 0 (wrong). The seed draws a probe's start and its batch order: as with a
    network, two seeds give two slightly different probes, which is the luck `verdicts` must see past.
    (The probes of all seeds train side by side as one batched matrix product; each only sees its own
    batches, so each is exactly the probe it would be alone.)
    """
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    weight = torch.stack([torch.randn(train_f.shape[1], num_classes, generator=g) * 0.01 for g in generators])
    weight.requires_grad_(True)
    bias = torch.zeros(len(seeds), 1, num_classes, requires_grad=True)
    optimizer = torch.optim.SGD([weight, bias], lr=lr, momentum=0.9, weight_decay=weight_decay)
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(len(train_y), generator=g) for g in generators])
        for start in range(0, len(train_y), batch_size):
            rows = orders[:, start:start + batch_size]                       # (seeds, batch)
            scores = torch.bmm(train_f[rows], weight) + bias                   # (seeds, batch, classes)
            loss = F.cross_entropy(scores.flatten(0, 1), train_y[rows].flatten()) * len(seeds)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        scores = torch.einsum("nd,sdc->snc", eval_f, weight) + bias
        return (scores.argmax(2) == eval_y).float()


PROBE_DECAYS = (1e-3, 1e-2, 1e-1)
"""The weight decays a feature probe chooses from, on validation images."""


def feature_probes(train_set: ImageSet, val_set: ImageSet, test_set: ImageSet, seeds, kinds=PROBES) -> dict:
    """For each probe kind: {"decay": chosen on validation, "val_acc", "correct": (seeds, test images) answers}."""
    probes = {}
    for kind in kinds:
        train_f, val_f, test_f = standardise(*(probe_features(kind, ds) for ds in (train_set, val_set, test_set)))
        classes = train_set.num_classes
        scores = {decay: probe_answers(train_f, train_set.labels, val_f, val_set.labels, classes, (0,), decay).mean().item()
                  for decay in PROBE_DECAYS}
        decay = max(scores, key=scores.get)
        correct = probe_answers(train_f, train_set.labels, test_f, test_set.labels, classes, tuple(seeds), decay)
        probes[kind] = {"decay": decay, "val_acc": scores[decay], "correct": correct}
    return probes


# ---------------------------------------------------------------------------------------------
# The verdicts: every arm against scratch, on both targets, as one family
# ---------------------------------------------------------------------------------------------


def answer_tables(results) -> dict:
    """{strategy: (seeds, test images) answers} from trained runs (see `analysis.train_setup`), seeds in order."""
    tables = {}
    for result in sorted(results, key=lambda r: r["config"]["seed"]):
        tables.setdefault(result["strategy"], []).append(result["test_correct"])
    return {name: verdicts.as_table(rows) for name, rows in tables.items()}


def arms(trained_results, probes: dict) -> dict:
    """Every arm's answers on one target: the trained strategies by name and the probes as "probe: kind"."""
    return {**answer_tables(trained_results), **{f"probe: {kind}": row["correct"] for kind, row in probes.items()}}


def family(arms_by_target: dict, names=TRANSFER, baseline: str = "scratch") -> list[dict]:
    """`names` against `baseline` on every target, Holm-corrected together (one family of comparisons).

    The chapter's two families: the transfer strategies against scratch (the default), and the
    source's features against the no-knowledge ones (`PROBE_FAMILY`).
    """
    rows = []
    for classes, tables in arms_by_target.items():
        for row in verdicts.against(tables, baseline, names, correct=False):
            rows.append({**row, "target": classes})
    return verdicts.adjust(rows)


PROBE_FAMILY = {"names": ("probe: shipped FastNet",), "baselines": ("probe: raw pixels", "probe: random FastNet")}
"""What the source's features know: its probe against the probes on raw pixels and on an untrained FastNet."""


def probe_family(arms_by_target: dict) -> list[dict]:
    """The shipped FastNet's probe against each no-knowledge probe on every target, Holm-corrected together."""
    rows = []
    for classes, tables in arms_by_target.items():
        for baseline in PROBE_FAMILY["baselines"]:
            for row in verdicts.against(tables, baseline, PROBE_FAMILY["names"], correct=False):
                rows.append({**row, "target": classes})
    return verdicts.adjust(rows)


def verdict_table(rows) -> list[dict]:
    """A family as a printable table: target, arm, what it is compared with, both accuracies, the gain with
    its interval, the adjusted p-value and the verdict."""
    return [{"target": row["target"], "arm": row["name"], "against": row["baseline"],
             "accuracy %": f"{100 * row['accuracy_a']:.1f}", "against %": f"{100 * row['accuracy_b']:.1f}",
             "gain": verdicts.points(row["difference"]),
             "95 % interval": f"{100 * row['low']:+.1f} to {100 * row['high']:+.1f}",
             "adjusted p": f"{row['p_adjusted']:.3f}", "verdict": row["verdict"]} for row in rows]


def find(rows, target: str, name: str, baseline: str = "scratch") -> dict:
    """The family's row for one arm against `baseline` on one target."""
    return next(row for row in rows if row["target"] == target and row["name"] == name and row["baseline"] == baseline)


# ---------------------------------------------------------------------------------------------
# How many labels is the source worth?
# ---------------------------------------------------------------------------------------------


def epochs_for(setup: TransferSetup, per_class: int, classes: int) -> int:
    """The epochs of a run on `per_class` images per class: the few-shot run's steps, at least MIN_EPOCHS passes."""
    return max(MIN_EPOCHS, analysis.equal_step_epochs(setup, per_class, classes))


def label_setups(tuned_setups, per_class_values, classes: int = 15) -> list[TransferSetup]:
    """Every tuned setup at every label budget (its tuned rate and augmentation kept)."""
    return [dataclasses.replace(setup, per_class=n, epochs=epochs_for(setup, n, classes))
            for setup in tuned_setups for n in per_class_values]


def label_budgets(dataset: str, classes=("near", "far"), wanted=(1, 2, 5, 10, 50), at: int = BASE.per_class,
                  root=None) -> tuple:
    """The label budgets of `wanted` that every class of every target can give (one image each stays to
    validate on), and always the task's own budget `at`.

    A partial copy of CIFAR-100 stops the curve early; the official files (500 per class) give all of them.
    """
    full = data.load_dataset(dataset, "train", root=root)
    smallest = min(min(targets.restrict(full, name).class_counts()) for name in classes)
    return tuple(n for n in wanted if n < smallest or n == at)


def best_transfer(tuned: dict, strategies=TRANSFER) -> str:
    """The transfer strategy whose tuned setting scored best on the validation images (never the test images)."""
    def score(name):
        row = tuned[name]
        return row["scores"][(row["setup"].lr, augmented(row["setup"]))]
    return max(strategies, key=score)


def curve(results) -> dict:
    """{strategy: {labels per class: mean test accuracy over the seeds}} from label-curve runs."""
    table = {}
    for result in results:
        table.setdefault(result["strategy"], {}).setdefault(result["config"]["per_class"], []).append(result["test_acc"])
    return {name: {n: sum(v) / len(v) for n, v in sorted(points.items())} for name, points in table.items()}


def curve_table(points: dict) -> list[dict]:
    """A label curve as a printable table: one row per label budget, each strategy's accuracy and the gap."""
    names = list(points)
    rows = []
    for n in sorted(set().union(*(points[name] for name in names))):
        row = {"labels per class": n, **{name: f"{100 * points[name][n]:.1f}" for name in names if n in points[name]}}
        if len(names) == 2 and all(n in points[name] for name in names):
            row["gap"] = verdicts.points(points[names[1]][n] - points[names[0]][n])
        rows.append(row)
    return rows


def labels_to_reach(points: dict, accuracy: float) -> float | None:
    """How many labels per class a curve needs to reach `accuracy`: interpolated on a log scale of labels.

    None when the curve never reaches it within the labels measured (it needs more than the largest).

    >>> labels_to_reach({1: 0.10, 5: 0.20, 20: 0.30}, 0.25)
    10.0
    """
    ordered = sorted(points.items())
    if ordered[0][1] >= accuracy:
        return float(ordered[0][0])
    for (n0, a0), (n1, a1) in zip(ordered, ordered[1:]):
        if a0 < accuracy <= a1:
            share = (accuracy - a0) / (a1 - a0)
            return round(math.exp(math.log(n0) + share * (math.log(n1) - math.log(n0))), 1)
    return None


def labels_saved(points: dict, transfer: str, at: int = 5, scratch: str = "scratch", real: bool = True) -> dict:
    """What the source is worth at `at` labels per class: the labels scratch needs to match transfer there.

    real: whether transfer's gain over scratch at `at` labels was called real by a calibrated comparison
    (`family`); when it was not, the sentence says the source is not shown to save labels, whatever the
    curves' means (they are a few seeds each, with no verdict of their own). Returns transfer's accuracy
    at `at`, the labels scratch needs (None: more than measured), the largest label budget measured, and
    the sentence.
    """
    goal = points[transfer][at]
    needed = labels_to_reach(points[scratch], goal)
    most = max(points[scratch])
    if not real:
        words = (f"at {at} labels per class {transfer} is not shown to beat scratch (section 4's verdict), so the "
                 f"source is not shown to save any labels here")
    elif needed is None:
        words = (f"with {at} labels per class, {transfer} reaches {100 * goal:.1f} %; scratch stays below that "
                 f"even with {most} labels per class (the most measured here)")
    elif needed <= at:
        words = f"with {at} labels per class, scratch already matches {transfer} ({100 * goal:.1f} %): the source saves no labels"
    else:
        words = (f"with {at} labels per class, {transfer} reaches {100 * goal:.1f} %; scratch needs about "
                 f"{needed:g} labels per class for that, so the source is worth about {needed / at:.1f} times the labels")
    return {"accuracy": goal, "needed": needed, "most": most, "sentence": words}


# ---------------------------------------------------------------------------------------------
# Which classes gain?
# ---------------------------------------------------------------------------------------------


def class_gains(transfer_correct: torch.Tensor, scratch_correct: torch.Tensor, test_set: ImageSet) -> list[dict]:
    """Per class: accuracy of transfer and scratch (mean over seeds) and the gain, largest gain first."""
    rows = []
    for label, name in enumerate(test_set.classes):
        mask = test_set.labels == label
        gain = (transfer_correct[:, mask].mean() - scratch_correct[:, mask].mean()).item()
        rows.append({"class": name, "transfer": transfer_correct[:, mask].mean().item(),
                     "scratch": scratch_correct[:, mask].mean().item(), "gain": gain, "images": int(mask.sum())})
    return sorted(rows, key=lambda row: -row["gain"])


# ---------------------------------------------------------------------------------------------
# Calibrating the verdicts on cheap probes
# ---------------------------------------------------------------------------------------------


def probe_pair(features: torch.Tensor, labels: torch.Tensor, num_classes: int, repeat: int, seeds: int = 3,
               per_class=(2, 2), eval_per_class: int = 6) -> tuple:
    """Two settings' (seeds, images) answers on a fresh draw of a few-shot probe task.

    Each repeat draws new training and evaluation images from the pool (`features`, `labels`). Setting
    A trains on `per_class[0]` images per class with seeds 0..seeds-1; setting B on `per_class[1]`
    with seeds seeds..2*seeds-1. With equal `per_class` the two are the *same* setting: any verdict of
    "real" is a false positive.
    """
    generator = torch.Generator().manual_seed(10_000 + repeat)
    order = torch.randperm(len(labels), generator=generator)
    train_rows = {0: [], 1: []}
    eval_rows = []
    for c in range(num_classes):
        rows = order[labels[order] == c]
        most = max(per_class)
        for side in (0, 1):
            train_rows[side].append(rows[:per_class[side]])
        eval_rows.append(rows[most:most + eval_per_class])
    eval_rows = torch.cat(eval_rows)
    tables = []
    for side in (0, 1):
        train_idx = torch.cat(train_rows[side])
        train_f, eval_f = standardise(features[train_idx], features[eval_rows])
        tables.append(probe_answers(train_f, labels[train_idx], eval_f, labels[eval_rows], num_classes,
                                    seeds=range(side * seeds, side * seeds + seeds), epochs=5, batch_size=32))
    return tuple(tables)


def calibration(features: torch.Tensor, labels: torch.Tensor, num_classes: int, repeats: int = 100,
                seeds: int = 5) -> dict:
    """Each rule of `verdicts.RULES` measured: {situation: {rule: share of the repeats it called real}}.

    The first three situations compare a setting with itself (other seeds), so every "real" is a false
    positive: probes on the real features with 3 seeds (chapter 04's count) and with `seeds`, and
    simulated runs whose seed moves every answer of a run together (`verdicts.simulated_pair`: the
    luck of a network's start, which a probe barely has). The last is a real gap (2 labels per class
    against 1, probes, `seeds` seeds): its share is the rule's power.
    """
    def probes(seed_count, per_class=(2, 2)):
        return lambda r: probe_pair(features, labels, num_classes, r, seed_count, per_class)

    situations = {
        "same setting, probes, 3 seeds": probes(3),
        f"same setting, probes, {seeds} seeds": probes(seeds),
        "same setting, simulated run luck, 3 seeds": lambda r: verdicts.simulated_pair(r, seeds=3),
        f"2 labels per class against 1, {seeds} seeds": probes(seeds, (2, 1)),
    }
    return {name: verdicts.calibrate(draw, repeats) for name, draw in situations.items()}


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------


def plot_family(rows, title: str = "Gain over scratch, near and far (95 % intervals)") -> Figure:
    """One bar per arm and target: its gain over scratch with the 95 % interval; filled bars are real gains."""
    with projector_style():
        figure = Figure(figsize=(10, 4.2))
        axis = figure.subplots()
        names = list(dict.fromkeys(row["name"] for row in rows))
        colours = {"near": "#1f77b4", "far": "#d62728"}
        width = 0.38
        for offset, classes in zip((-width / 2, width / 2), ("near", "far")):
            for x, name in enumerate(names):
                row = find(rows, classes, name)
                filled = row["verdict"] != "within the noise"
                axis.bar(x + offset, 100 * row["difference"], width, color=colours[classes] if filled else "white",
                         edgecolor=colours[classes], linewidth=2, label=classes if x == 0 else None)
                axis.errorbar(x + offset, 100 * row["difference"], color="black", capsize=4,
                              yerr=[[100 * (row["difference"] - row["low"])], [100 * (row["high"] - row["difference"])]])
        axis.axhline(0, color="grey", linewidth=1)
        axis.set_xticks(range(len(names)), [name.replace("_", " ") for name in names])
        axis.set_ylabel("accuracy gained over scratch (points)")
        axis.set_title(title + "\nfilled: real after calibration; hollow: within the noise")
        axis.legend(title="target")
        figure.tight_layout()
    return figure


def plot_curves(curves_by_target: dict, title: str = "Accuracy against labels per class") -> Figure:
    """Test accuracy against labels per class (log scale), one panel per target, one line per strategy."""
    with projector_style():
        figure = Figure(figsize=(10, 4))
        axes = figure.subplots(1, len(curves_by_target), sharey=True, squeeze=False)[0]
        for axis, (classes, points) in zip(axes, curves_by_target.items()):
            for name, marker in zip(points, ("o", "s", "^")):
                xs = list(points[name])
                axis.plot(xs, [100 * points[name][n] for n in xs], marker=marker, label=name.replace("_", " "))
            axis.set_xscale("log")
            axis.set_xticks(xs, [str(n) for n in xs])
            axis.set_xlabel("labelled images per class")
            axis.set_title(f"{classes} target")
        axes[0].set_ylabel("test accuracy (%)")
        axes[0].legend()
        figure.suptitle(title)
        figure.tight_layout()
    return figure


def plot_class_gains(gains_by_target: dict, lookalikes: dict, title: str = "Which classes gain from the source") -> Figure:
    """Per-class gain over scratch, one panel per target; a near class's bar names its CIFAR-10 lookalike."""
    with projector_style():
        figure = Figure(figsize=(11, 4.6))
        axes = figure.subplots(1, len(gains_by_target), sharey=True, squeeze=False)[0]
        for axis, (classes, rows) in zip(axes, gains_by_target.items()):
            names = [row["class"] for row in rows]
            axis.bar(range(len(rows)), [100 * row["gain"] for row in rows],
                     color=["#1f77b4" if lookalikes.get(name) else "#d62728" for name in names])
            axis.set_xticks(range(len(rows)), [name.replace("_", " ") + (f" ({lookalikes[name]})" if lookalikes.get(name)
                                                                           else "") for name in names],
                            rotation=70, ha="right", fontsize=8)
            axis.axhline(0, color="grey", linewidth=1)
            axis.set_title(f"{classes} target")
        axes[0].set_ylabel("accuracy gained over scratch (points)")
        figure.suptitle(title + " (blue: looks like a CIFAR-10 class, named in brackets)")
        figure.tight_layout()
    return figure


def plot_calibration(measured: dict, alpha: float = verdicts.ALPHA,
                     title: str = "How often each rule calls a difference real") -> Figure:
    """Bars per situation and rule; the dashed line is the 5 % a false-positive rate may reach."""
    with projector_style():
        figure = Figure(figsize=(10, 4))
        axis = figure.subplots()
        situations = list(measured)
        rules = list(next(iter(measured.values())))
        width = 0.8 / len(rules)
        for r, rule in enumerate(rules):
            axis.bar([s + (r - (len(rules) - 1) / 2) * width for s in range(len(situations))],
                     [100 * measured[situation][rule] for situation in situations], width, label=rule)
        axis.axhline(100 * alpha, color="black", linestyle="--", linewidth=1, label=f"{alpha:.0%}")
        axis.set_xticks(range(len(situations)), [name.replace(", ", "\n", 1) for name in situations], fontsize=8)
        axis.set_ylabel("called real (% of repeats)")
        axis.set_title(title + "\n\"same setting\": every call is a false positive; the last: a real gap")
        axis.legend(fontsize=8)
        figure.tight_layout()
    return figure


def lookalike_of() -> dict:
    """{CIFAR-100 class: the CIFAR-10 classes it looks like, as words} for every near class."""
    from tl_lessons import vocabulary

    return {name: " / ".join(vocabulary.resembled_by(name)) for name in targets.NEAR.classes}

