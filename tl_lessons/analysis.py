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
from collections import OrderedDict

import torch
import torch.nn.functional as F
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from tl_lessons import models, train, transfer, transfer_setup
from tl_lessons.errors import ConfigError
from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader
from tl_lessons.plots import projector_style
from tl_lessons.transfer_setup import TransferSetup

TUNING_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
# How each strategy of chapter 04's comparison (10 epochs, batch 64, seed 0, the shipped source) did at
# each rate of TUNING_LRS: final accuracy on a 20 % validation carve-out of the partial CIFAR-100 training
# split (218 images; the test split plays no part), recorded on the 2-core development CPU with
# `tune_learning_rates(strategy_setups(), TUNING_LRS)` (chapter 04 repeats it in full mode).
# Images are normalised with the source's own (CIFAR-10) statistics, as `transfer_setup.prepare` does.
# Each strategy's best rate (a tie goes to the smaller rate) is its `lr` in `transfer.STRATEGY_TABLE`.
TUNING_RECORD = {
    "scratch": {0.01: 0.032, 0.03: 0.055, 0.1: 0.073, 0.3: 0.069, 1.0: 0.064},
    "linear_probe": {0.01: 0.046, 0.03: 0.046, 0.1: 0.087, 0.3: 0.101, 1.0: 0.138},
    "freeze": {0.01: 0.05, 0.03: 0.06, 0.1: 0.119, 0.3: 0.128, 1.0: 0.101},
    "finetune": {0.01: 0.046, 0.03: 0.055, 0.1: 0.096, 0.3: 0.096, 1.0: 0.06},
    "discriminative": {0.01: 0.087, 0.03: 0.133, 0.1: 0.119, 0.3: 0.078, 1.0: 0.032},
    "gradual": {0.01: 0.046, 0.03: 0.064, 0.1: 0.078, 0.3: 0.101, 1.0: 0.073},
    "head_first": {0.01: 0.046, 0.03: 0.055, 0.1: 0.092, 0.3: 0.119, 1.0: 0.096},
}
STRATEGY_LRS = {name: row.lr for name, row in transfer.STRATEGY_TABLE.items()}
"""The rates the chapter's runs start from: each strategy's `lr` in the strategy table."""
CHAPTER_SETUP = TransferSetup(target="cifar100", epochs=10, batch_size=64, seed=0, k=2)
"""The budget every strategy of chapter 04 gets: the same epochs, batch size, seed and data."""


# ---------------------------------------------------------------------------------------------
# Running transfer setups
# ---------------------------------------------------------------------------------------------


def strategy_setups(base: TransferSetup = CHAPTER_SETUP, lrs: dict | None = None,
                    strategies=transfer.STRATEGIES) -> list[TransferSetup]:
    """One setup per strategy: `base` with only the strategy and its learning rate changed.

    >>> [s.label() for s in strategy_setups(strategies=("scratch", "finetune"))]
    ['scratch · lr 0.1', 'finetune · lr 0.3']
    """
    lrs = {**STRATEGY_LRS, **(lrs or {})}
    return [dataclasses.replace(base, strategy=name, lr=lrs[name]) for name in strategies]


def train_setup(setup: TransferSetup, root=None, progress: bool = False) -> dict:
    """Train one setup exactly as the dashboard does; returns its result, the trained model under "model".

    The result holds the setup ("config"), every epoch event, the final and best validation
    accuracy, the seconds `fit` took, and the trainable and total parameter counts at the start.

    >>> result = train_setup(TransferSetup(target="synthetic100", per_class=5, epochs=2))
    >>> result["best_val_acc"], result["model"]
    """
    # The new head is drawn from torch's global random state: seed it, so a run repeats exactly
    # whatever ran before it in the same process.
    torch.manual_seed(setup.seed)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup, root=root)
    history = train.train(model, train_set, val_set, config, strategy=strategy, progress=progress)
    return {
        "label": setup.label(),
        "strategy": setup.strategy,
        "config": setup.to_dict(),
        "status": history.status,
        "message": history.end.get("message", ""),
        "epochs": history.epochs,
        "final_val_acc": history.end.get("val_acc"),
        "best_val_acc": history.end.get("best_val_acc"),
        "seconds": history.end.get("elapsed"),
        "trainable_params": history.start["trainable"],
        "total_params": history.start["trainable"] + history.start["frozen"],
        "train_images": len(train_set),
        "classes": train_set.num_classes,
        "model": model,
    }


def compare_strategies(setups, root=None, keep_models: bool = False, progress: bool = False,
                       desc: str = "runs") -> list[dict]:
    """Train every setup in turn; returns one plain result per setup (see `train_setup`).

    The trained models are dropped unless `keep_models` (they are large and not plain data).
    `progress` shows one bar over the runs, naming the one in progress.

    >>> results = compare_strategies(strategy_setups(TransferSetup(target="synthetic100", epochs=2)))
    """
    results = []
    for setup in each_run(setups, desc, progress):
        result = train_setup(setup, root=root)
        if not keep_models:
            del result["model"]
        results.append(result)
    return results


def each_run(setups, desc: str, progress: bool):
    """The setups one by one, under a text progress bar when `progress` (its last state stays
    readable in a saved notebook, where a widget bar would not)."""
    setups = list(setups)
    if not progress:
        yield from setups
        return
    from tqdm import tqdm

    with tqdm(setups, desc=desc, unit="run", mininterval=1.0) as bar:
        for setup in bar:
            bar.set_postfix_str(setup.label(), refresh=False)
            yield setup


def summary(results) -> list[dict]:
    """The comparison table: one row per result (accuracies in %, seconds, trainable parameters).

    >>> pd.DataFrame(summary(results))
    """
    return [{
        "run": r["label"],
        "final val acc %": None if r["final_val_acc"] is None else round(100 * r["final_val_acc"], 1),
        "best val acc %": None if r["best_val_acc"] is None else round(100 * r["best_val_acc"], 1),
        "seconds": round(r["seconds"], 1),
        "trainable params at start": r["trainable_params"],
        "status": r["status"],
    } for r in results]


def tune_learning_rates(setups, lrs=TUNING_LRS, val_fraction: float = 0.2, root=None, progress: bool = False) -> dict:
    """For each setup's strategy, the learning rate with the best final accuracy on a validation carve-out.

    The carve-out comes from the training split, so the test split stays untouched by tuning.
    Returns {strategy: {"best_lr": lr, "scores": {lr: final val acc}}}.

    >>> tune_learning_rates(strategy_setups(strategies=("finetune",)))["finetune"]["best_lr"]
    """
    trials = [dataclasses.replace(setup, lr=lr, val=val_fraction) for setup in setups for lr in lrs]
    results = compare_strategies(trials, root=root, progress=progress, desc="tuning")
    tuned = {}
    for trial, result in zip(trials, results):
        tuned.setdefault(trial.strategy, {"scores": {}})["scores"][trial.lr] = result["final_val_acc"] or 0.0
    for row in tuned.values():
        row["best_lr"] = max(row["scores"], key=row["scores"].get)  # a tie goes to the smaller rate
    return tuned


def label_regimes(setups, per_class_values=(1, 2, 5, None), root=None, progress: bool = False) -> list[dict]:
    """Each setup trained on `n` labelled images per class, for every n (None: every training image).

    Returns one row per (n, setup): per_class, train_images, classes, strategy, label, final and best
    val acc, seconds.

    >>> rows = label_regimes(strategy_setups(strategies=("scratch", "linear_probe")), (1, 5))
    """
    trials = [dataclasses.replace(setup, per_class=n, fraction=None) for n in per_class_values for setup in setups]
    keys = ("train_images", "classes", "strategy", "label", "final_val_acc", "best_val_acc", "seconds")
    return [{"per_class": trial.per_class, **{key: result[key] for key in keys}}
            for trial, result in zip(trials, compare_strategies(trials, root=root, progress=progress, desc="labels"))]


def freeze_depth_curve(base: TransferSetup, ks, root=None, progress: bool = False) -> list[dict]:
    """The "freeze" strategy for every k in `ks` (k = 0 trains everything; the last k leaves only the head).

    >>> results = freeze_depth_curve(dataclasses.replace(CHAPTER_SETUP, lr=0.3), range(5))
    """
    trials = [dataclasses.replace(base, strategy="freeze", k=k) for k in ks]
    return compare_strategies(trials, root=root, progress=progress, desc="freeze depth")


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


def forgetting(source: nn.Module, transferred: dict, source_test: ImageSet, mean=None, std=None) -> dict:
    """Source-task accuracy before transfer, and after it with the source head re-attached, per model.

    transferred: {name: model trained on the target}. Returns {name: {"before": acc, "after": acc,
    "forgotten": before - after}}; "before" is the source model's own accuracy on `source_test`.
    `mean`/`std`: the normalisation the source learnt with (its checkpoint's); None: the test set's own.

    >>> forgetting(source, {"finetune": finetuned}, load_dataset("cifar10", "test"))["finetune"]["forgotten"]
    """
    _, before = train.evaluate(source, source_test, mean=mean, std=std)
    rows = {}
    for name, model in transferred.items():
        _, after = train.evaluate(with_head(model, copy.deepcopy(source.head)), source_test, mean=mean, std=std)
        rows[name] = {"before": before, "after": after, "forgotten": before - after}
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
    one-cycle rate, label smoothing. Special cases: source_weight=0 is plain sequential fine-tuning,
    and a negative target_weight *maximises* the target loss. Every image, of either task, is
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
            features = backbone(torch.cat([xs, xt]))
            source_loss = F.cross_entropy(source_model.head(features[:len(xs)]), ys,
                                          label_smoothing=config.label_smoothing)
            target_loss = F.cross_entropy(target_head(features[len(xs):]), yt, label_smoothing=config.label_smoothing)
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


def plot_comparison(results, title: str = "Strategies at the same budget") -> Figure:
    """Training loss and validation accuracy per epoch, one line per result.

    >>> fig = plot_comparison(compare_strategies(strategy_setups()))
    """
    with projector_style():
        figure = Figure(figsize=(13, 4.8), layout="constrained")
        loss_axis, acc_axis = figure.subplots(1, 2)
        for index, result in enumerate(results):
            epochs = [e["epoch"] for e in result["epochs"]]
            name = result["label"].split(" · ")[0]
            loss_axis.plot(epochs, [e["train_loss"] for e in result["epochs"]], "-o", color=f"C{index}", label=name)
            acc_axis.plot(epochs, [e["val_acc"] for e in result["epochs"]], "-o", color=f"C{index}", label=name)
        loss_axis.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy (with label smoothing)")
        acc_axis.set(title="Validation accuracy", xlabel="epoch", ylabel="fraction correct")
        for axis in (loss_axis, acc_axis):
            axis.grid(alpha=0.3)
        acc_axis.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
        figure.suptitle(title)
    return figure


def plot_label_regimes(rows, title: str = "Where transfer helps most: few labels") -> Figure:
    """Final validation accuracy against labelled images per class, one line per strategy.

    >>> fig = plot_label_regimes(label_regimes(setups))
    """
    with projector_style():
        figure = Figure(figsize=(8, 5), layout="constrained")
        axis = figure.subplots()
        for index, strategy in enumerate(dict.fromkeys(row["strategy"] for row in rows)):
            mine = [row for row in rows if row["strategy"] == strategy]
            # "Every image" (per_class None) is plotted at its average number of images per class.
            per_class = [row["train_images"] / row["classes"] if row["per_class"] is None else row["per_class"]
                         for row in mine]
            axis.plot(per_class, [row["final_val_acc"] for row in mine], "-o", color=f"C{index}",
                      label=strategy.replace("_", " "))
        axis.set_xscale("log")
        axis.set(title=title, xlabel="labelled images per class (log scale)", ylabel="final validation accuracy")
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def plot_freeze_depth(results, stages, title: str = "How many stages to freeze") -> Figure:
    """Final and best validation accuracy against the number of frozen stages k (stage names under the ticks).

    >>> fig = plot_freeze_depth(freeze_depth_curve(setup, range(5)), models.stage_names(model))
    """
    with projector_style():
        figure = Figure(figsize=(8, 5), layout="constrained")
        axis = figure.subplots()
        ks = [r["config"]["k"] for r in results]
        axis.plot(ks, [r["best_val_acc"] for r in results], "-o", label="best")
        axis.plot(ks, [r["final_val_acc"] for r in results], "--s", label="final")
        axis.set_xticks(ks, [f"k={k}\n{'none' if k == 0 else 'to ' + stages[k - 1]}" for k in ks])
        axis.set(title=title, xlabel="frozen stages (input side first)", ylabel="validation accuracy")
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def plot_feature_space(panels: dict, coarse_labels, coarse_classes, title: str | None = None) -> Figure:
    """Scatter plots of 2-D feature projections side by side, coloured by CIFAR-100 superclass.

    panels: {panel title: (N, 2) points}, every panel for the same N images.

    >>> fig = plot_feature_space({"before": pca_2d(f0), "after": pca_2d(f1)}, test.coarse_labels, test.coarse_classes)
    """
    colours = colormaps["tab20"]
    with projector_style():
        figure = Figure(figsize=(6.5 * len(panels) + 3, 6), layout="constrained")
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for axis, (name, points) in zip(axes, panels.items()):
            for c, superclass in enumerate(coarse_classes):
                rows = coarse_labels == c
                axis.scatter(points[rows, 0], points[rows, 1], s=12, color=colours(c % 20), label=superclass)
            axis.set(title=name, xlabel="principal component 1", ylabel="principal component 2")
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9, markerscale=2)
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
