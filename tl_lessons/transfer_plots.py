"""Chapter 04's figures: strategies compared, label regimes, freeze depth, feature spaces, joint training.

Each function draws results of `tl_lessons.analysis` (a sweep's runs, or `joint_train`'s history)
as a `matplotlib.figure.Figure` in the kit's projector style (`tl_lessons.plots`). Where a setting
ran with several seeds, a line is their mean and a shaded band the range they span. The recorded
reference runs (`tl_lessons.reference_file`) are such results, tagged with their sweep:

    >>> from tl_lessons.reference_file import load_reference_runs
    >>> runs = load_reference_runs()["runs"]
    >>> fig = plot_freeze_depth([run for run in runs if run["sweep"] == "freeze depth"],
    ...                         ["stem", "stage1", "stage2", "stage3", "head"])
"""
from __future__ import annotations

import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from tl_lessons.plots import projector_style
from tl_lessons.summaries import by_setting, spread


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

    Chapter 04 draws `plot_comparison(compare_strategies(strategy_setups(), seeds=SEEDS))`; as recorded:

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> fig = plot_comparison(comparison_runs(load_reference_runs()))
    >>> [axis.get_title() for axis in fig.axes]
    ['Validation accuracy (mean of 3 seeds, range shaded)', 'Test accuracy, once at the end (mean and range)']
    """
    groups = by_setting(results)
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

    >>> from tl_lessons.reference_file import load_reference_runs
    >>> regimes = [run for run in load_reference_runs()["runs"] if run["sweep"] == "labels"]   # `label_regimes`'s
    >>> fig = plot_label_regimes(regimes)
    >>> [label.get_text() for label in fig.axes[0].get_xticklabels()]
    ['1', '2', '5']
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

    >>> from tl_lessons.reference_file import load_reference_runs
    >>> depths = [run for run in load_reference_runs()["runs"] if run["sweep"] == "freeze depth"]
    >>> fig = plot_freeze_depth(depths, ["stem", "stage1", "stage2", "stage3", "head"])   # models.stage_names(model)
    >>> [label.get_text() for label in fig.axes[0].get_xticklabels()][:2]
    ['k=0\\nnone', 'k=1\\nto stem']
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

    Chapter 04 shows `pca_2d` of the test images' features before and after transfer; any points will do:

    >>> coarse_labels = torch.arange(60) % 3                         # 60 images of three superclasses
    >>> panels = {"before": torch.randn(60, 2), "after": torch.randn(60, 2) + coarse_labels[:, None]}
    >>> fig = plot_feature_space(panels, coarse_labels, ["trees", "flowers", "insects"], shown=[0, 2])
    >>> [axis.get_title() for axis in fig.axes]
    ['before', 'after']
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

    >>> joint = [{"epoch": 1, "target_acc": 0.05, "source_acc": 0.70},
    ...          {"epoch": 2, "target_acc": 0.09, "source_acc": 0.72}]
    >>> sequential = [{"epoch": 1, "target_acc": 0.06, "source_acc": 0.40},
    ...               {"epoch": 2, "target_acc": 0.10, "source_acc": 0.30}]
    >>> fig = plot_joint({"joint": joint, "sequential": sequential}, chance=0.01)     # joint_train(...)["history"]
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
