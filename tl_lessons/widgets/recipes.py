"""Chapter 03's recipe ladder: from the PyTorch tutorial's recipe to the kit's, one rung at a time.

Pick a recipe (a name in `tl_lessons.train.PRESETS`) and see what it changes against the
tutorial's and how its recorded runs reach accuracy over time. (Which settings make the kit's
recipe faster, and does it get to the tutorial's accuracy sooner?)

A recorded run is a plain dict:

    {"label": "tutorial_fast, seed 0", "preset": "tutorial_fast", "test_acc": 0.658,
     "epochs": [{"epoch": 1, "val_acc": 0.41, "elapsed": 5.2}, ...]}

`epochs` hold validation accuracies (the curves, and every time to accuracy, come from them);
`test_acc` is the accuracy on the test split, measured once after training, or None when it was
not measured. The tables label each number by its images: a final validation accuracy is never
shown as a test accuracy. `run_from_history` makes one from a `History` the chapter has just trained.

    >>> runs = [{"label": "tutorial", "preset": "tutorial", "test_acc": 0.534,       # or run_from_history(...)
    ...          "epochs": [{"epoch": 1, "val_acc": 0.45, "elapsed": 30.0},
    ...                     {"epoch": 2, "val_acc": 0.53, "elapsed": 60.0}]},
    ...         {"label": "tutorial_fast", "preset": "tutorial_fast", "test_acc": 0.642,
    ...          "epochs": [{"epoch": 1, "val_acc": 0.48, "elapsed": 5.0},
    ...                     {"epoch": 2, "val_acc": 0.58, "elapsed": 10.0}]}]
    >>> view = recipe_view(runs, "tutorial_fast")
    >>> view.numbers["time_to_target"]       # seconds to the tutorial's best validation accuracy
    {'tutorial_fast': 10.0, 'tutorial': 60.0}
"""
from __future__ import annotations

import dataclasses

from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tl_lessons import plots, text
from tl_lessons.errors import ConfigError
from tl_lessons.widgets.explorer import Explorer, View

BASELINE = "tutorial"
X_AXES = {"seconds": ("elapsed", "seconds of training"), "epoch": ("epoch", "epoch")}


def run_from_history(history, preset: str, label: str | None = None, test_acc: float | None = None) -> dict:
    """A recorded run (the shape `recipe_view` reads) from a `tl_lessons.train.History`.

    test_acc: the trained model's accuracy on the test split, measured once after training
    (`inference.evaluate`); without it the run has none (None, shown as "-"). A History holds
    validation accuracies only, and those are never passed off as a test accuracy.

    >>> from tl_lessons.train import History
    >>> kit_history = History(epochs=[{"kind": "epoch", "epoch": 1, "train_loss": 1.6, "val_acc": 0.41, "elapsed": 5.2}])
    >>> run_from_history(kit_history, "tutorial_fast", test_acc=0.6)     # a History from `train.train`
    {'label': 'tutorial_fast', 'preset': 'tutorial_fast', 'epochs': [{'epoch': 1, 'val_acc': 0.41, 'elapsed': 5.2}],
     'test_acc': 0.6}
    """
    epochs = [{"epoch": e["epoch"], "val_acc": e["val_acc"], "elapsed": e["elapsed"]}
              for e in history.epochs if e.get("val_acc") is not None]
    return {"label": label or preset, "preset": preset, "epochs": epochs, "test_acc": test_acc}


def recipe_differences(recipe: str, baseline: str = BASELINE) -> list[dict]:
    """The settings in which `recipe` differs from `baseline`: [{"setting", baseline, recipe}].

    >>> recipe_differences("tutorial_fast")[0]
    {'setting': 'epochs', 'tutorial': '2', 'tutorial_fast': '6'}
    """
    from tl_lessons.train import PRESETS

    for name in (recipe, baseline):
        if name not in PRESETS:
            raise ConfigError(f"There is no recipe called {name!r}: choose one of {', '.join(PRESETS)}.")
    ours, theirs = dataclasses.asdict(PRESETS[recipe]), dataclasses.asdict(PRESETS[baseline])
    return [{"setting": key, baseline: str(theirs[key]), recipe: str(ours[key])}
            for key in theirs if theirs[key] != ours[key]]


def time_to_accuracy(run: dict, accuracy: float) -> float | None:
    """Seconds of training at the end of the first epoch whose validation accuracy reached `accuracy` (None: never).

    >>> time_to_accuracy({"epochs": [{"val_acc": 0.4, "elapsed": 5.0}, {"val_acc": 0.6, "elapsed": 9.0}]}, 0.5)
    9.0
    """
    from tl_lessons.train import seconds_to_reach

    return seconds_to_reach([(e["elapsed"], e["val_acc"]) for e in run["epochs"]], accuracy)


def baseline_target(runs: list[dict], baseline: str = BASELINE) -> float | None:
    """The accuracy every recipe is timed to: the best final validation accuracy of the baseline's runs."""
    finals = [run["epochs"][-1]["val_acc"] for run in runs if run["preset"] == baseline and run["epochs"]]
    return max(finals) if finals else None


def run_rows(runs: list[dict], target: float | None) -> list[dict]:
    """One table row per run, each number labelled by the images it was measured on.

    Columns: run, epochs, final val accuracy, test accuracy ("-": not measured), training seconds,
    and the seconds to `target` (a validation accuracy; "not reached" if no epoch got there).
    """
    to_target = "seconds to the baseline (val)" if target is None else f"seconds to {target:.1%} (val)"
    rows = []
    for run in runs:
        reached = time_to_accuracy(run, target) if target is not None else None
        rows.append({"run": run["label"], "epochs": len(run["epochs"]),
                     "final val accuracy": f"{run['epochs'][-1]['val_acc']:.1%}" if run["epochs"] else "-",
                     "test accuracy": "-" if run.get("test_acc") is None else f"{run['test_acc']:.1%}",
                     "training seconds": f"{run['epochs'][-1]['elapsed']:.0f}" if run["epochs"] else "-",
                     to_target: "not reached" if reached is None else f"{reached:.0f}"})
    return rows


def ladder_table(runs: list[dict], baseline: str = BASELINE) -> str:
    """Every run of the ladder side by side, as text (what the ladder's picture rests on, printable in a cell).

    >>> runs = [{"label": "tutorial", "preset": "tutorial", "test_acc": 0.534,
    ...          "epochs": [{"epoch": 1, "val_acc": 0.45, "elapsed": 30.0},
    ...                     {"epoch": 2, "val_acc": 0.53, "elapsed": 60.0}]},
    ...         {"label": "tutorial_fast", "preset": "tutorial_fast", "test_acc": None,
    ...          "epochs": [{"epoch": 1, "val_acc": 0.48, "elapsed": 5.0},
    ...                     {"epoch": 2, "val_acc": 0.58, "elapsed": 10.0}]}]
    >>> print(ladder_table(runs))
    run            epochs  final val accuracy  test accuracy  training seconds  seconds to 53.0% (val)
    tutorial            2               53.0%          53.4%                60                      60
    tutorial_fast       2               58.0%              -                10                      10
    """
    return text.table(run_rows(runs, baseline_target(runs, baseline)))


def recipe_view(runs: list[dict], recipe: str, x: str = "seconds", baseline: str = BASELINE, teacher: bool = False) -> View:
    """`recipe`'s differences from `baseline` and the recorded curves: its runs in colour, the baseline's dashed.

    numbers: "differences" (see `recipe_differences`), "highlighted" (labels of the recipe's runs),
    "target" (the baseline's best final validation accuracy), "time_to_target" {label: seconds or None}.

    >>> runs = [{"label": "tutorial", "preset": "tutorial", "test_acc": 0.534,
    ...          "epochs": [{"epoch": 1, "val_acc": 0.45, "elapsed": 30.0},
    ...                     {"epoch": 2, "val_acc": 0.53, "elapsed": 60.0}]}]
    >>> recipe_view(runs, "quick").numbers["differences"][0]      # no run of "quick" yet: its settings still show
    {'setting': 'arch', 'tutorial': 'tutorialnet', 'quick': 'fastnet'}
    """
    if x not in X_AXES:
        raise ConfigError(f"x is 'seconds' or 'epoch', not {x!r}.")
    differences = recipe_differences(recipe, baseline)
    key, x_label = X_AXES[x]
    chosen = [run for run in runs if run["preset"] == recipe]
    baseline_runs = [run for run in runs if run["preset"] == baseline]
    target = baseline_target(runs, baseline)
    with plots.teacher_view(teacher):
        figure = Figure(figsize=(9.5, 5.0), layout="constrained")
        axis = figure.subplots()
        colour = 0
        for run in runs:
            xs, ys = [e[key] for e in run["epochs"]], [e["val_acc"] for e in run["epochs"]]
            if run["preset"] == recipe:
                axis.plot(xs, ys, "-o", color=f"C{colour}", label=run["label"], zorder=3)
                colour += 1
            elif run["preset"] == baseline:
                axis.plot(xs, ys, "--s", color="black", label=f"{run['label']} (baseline)", zorder=2)
            else:  # the other rungs of the ladder, for context
                axis.plot(xs, ys, "-", color="#afb8c1", linewidth=1.5, label=run["label"], zorder=1)
        if target is not None:
            axis.axhline(target, color="black", linewidth=1, linestyle=":", label=f"the {baseline}'s final validation accuracy")
        if not chosen:
            axis.text(0.5, 0.5, f"no recorded run of the recipe {recipe!r}", ha="center", va="center", transform=axis.transAxes)
        if x == "seconds" and runs:
            axis.set_xscale("log")  # the tutorial's epochs take far longer than the kit's: a log axis shows both
        axis.set(xlabel=x_label, ylabel="validation accuracy", title=f"{recipe} against the {baseline}")
        axis.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        axis.grid(alpha=0.3)
        if runs:
            figure.legend(loc="outside lower center", ncols=2)
    times = {run["label"]: time_to_accuracy(run, target) for run in chosen + baseline_runs} if target is not None else {}
    lines = [f"{recipe} is the baseline itself." if recipe == baseline else
             f"{recipe} changes {len(differences)} settings of the {baseline} recipe:", text.table(differences)]
    if chosen or baseline_runs:
        lines += ["", text.table(run_rows(baseline_runs + [run for run in chosen if run not in baseline_runs], target))]
    return View(figure, f"Validation accuracy against {x_label}: recipe {recipe} and the {baseline}", "\n".join(lines),
                {"differences": differences, "highlighted": [run["label"] for run in chosen], "target": target,
                 "time_to_target": times})


def recipe_ladder(runs: list[dict], recipe: str = "tutorial_fast", teacher: bool = False) -> Explorer:
    """Chapter 03: step through the recipes (tutorial -> kit) and see each one's changes and recorded curves.

    runs: recorded runs (see the module docstring), e.g. `[run_from_history(tutorial_history, "tutorial"), ...]`.

    >>> runs = [{"label": "tutorial", "preset": "tutorial", "test_acc": 0.534,
    ...          "epochs": [{"epoch": 1, "val_acc": 0.45, "elapsed": 30.0},
    ...                     {"epoch": 2, "val_acc": 0.53, "elapsed": 60.0}]}]
    >>> explorer = recipe_ladder(runs)       # chapter 03's cell ends with `widgets.recipe_ladder(runs)`
    >>> list(explorer.controls)
    ['recipe', 'x']
    """
    import ipywidgets as widgets

    from tl_lessons.train import PRESETS

    controls = {
        "recipe": widgets.Dropdown(options=list(PRESETS), value=recipe, description="recipe"),
        "x": widgets.ToggleButtons(options=list(X_AXES), value="seconds", description="x axis"),
    }
    return Explorer(lambda recipe, x: recipe_view(runs, recipe, x, teacher=teacher), controls, teacher=teacher)
