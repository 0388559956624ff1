"""Chapter 04's figures: one panel per projection, target and source side by side, bands over seeds."""

import pytest
import torch
from matplotlib.figure import Figure

from tl_lessons import transfer_plots


def test_plot_feature_space_draws_one_panel_per_projection():
    points = torch.randn(40, 2)
    figure = transfer_plots.plot_feature_space({"before": points, "after": points}, torch.arange(40) % 4, list("abcd"))
    assert isinstance(figure, Figure) and len(figure.axes) == 2


def test_plot_joint_draws_target_and_source_panels():
    history = [{"epoch": 1, "source_acc": 0.5, "target_acc": 0.1}, {"epoch": 2, "source_acc": 0.4, "target_acc": 0.2}]
    figure = transfer_plots.plot_joint({"joint": history}, chance=0.01)
    assert len(figure.axes) == 2 and figure.axes[0].get_lines()[0].get_ydata().tolist() == [0.1, 0.2]


def run(strategy, seed, test_acc, val_accs, **config):
    return {"label": f"{strategy} · lr 0.3", "strategy": strategy, "test_acc": test_acc, "final_val_acc": val_accs[-1],
            "config": {"seed": seed, **config}, "epochs": [{"epoch": i + 1, "val_acc": a} for i, a in enumerate(val_accs)]}


def test_the_comparison_draws_the_mean_of_the_seeds_and_their_range():
    results = [run("scratch", 0, 0.1, [0.1, 0.2]), run("scratch", 1, 0.3, [0.3, 0.4]), run("finetune", 0, 0.5, [0.5, 0.6])]
    figure = transfer_plots.plot_comparison(results)
    curves, tests = figure.axes
    assert [line.get_ydata().tolist() for line in curves.get_lines()] == [pytest.approx([0.2, 0.3]), [0.5, 0.6]]
    assert len(curves.collections) == 1   # a band only where there are several seeds
    assert [label.get_text() for label in tests.get_yticklabels()] == ["scratch", "finetune"]


def test_freeze_depth_and_label_regimes_draw_one_point_per_setting():
    depth = [run("freeze", seed, 0.1 * k + seed, [0.1], k=k) for k in (0, 2) for seed in (0, 1)]
    axis = transfer_plots.plot_freeze_depth(depth, ["stem", "stage1", "head"]).axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["k=0\nnone", "k=2\nto stage1"]
    regimes = [{**run("scratch", 0, 0.1 * n, [0.1], per_class=n), "per_class": n} for n in (1, 5)]
    axis = transfer_plots.plot_label_regimes(regimes).axes[0]
    assert axis.get_lines()[0].get_ydata().tolist() == [0.1, 0.5]
