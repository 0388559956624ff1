"""Chapter 04's knob: pick strategies, k, BatchNorm mode and label budget; see the recorded runs.

Training every combination takes minutes to hours; looking one up takes milliseconds. The
chapter's runs are recorded once, several seeds per setting, in a file shaped like
`tl_lessons/assets/reference_runs.json`:

    {"data": ..., "machine": ..., "torch": ..., "recorded": ...,
     "runs": [{"label", "strategy", "config": {TransferSetup fields, "seed" among them},
               "status", "epochs": [{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "elapsed"}],
               "test_acc", "seconds", "trainable_params"}, ...]}

Runs whose configs differ only in the seed form one *setting*. A setting is drawn as the mean
of its seeds' validation accuracy per epoch, with a band from the lowest to the highest seed
(with 2 to 5 seeds, the honest spread is all of them, not a standard deviation of a handful).

`recorded_runs_explorer(train_now=True)` adds a button that trains the first shown setting on
this computer (`fit`, in a background thread, with a Stop button) and draws it over the record.

    >>> view = recorded_runs_view(load_recorded_runs(), strategies=("scratch", "linear_probe"), per_class=2)
    >>> print(view.text)
    setting                                    seeds  final val acc [lowest-highest]  test acc [lowest-highest]  seconds
    scratch · lr 0.3 · 2/class                     3  3.0% [2.0%-4.5%]                2.4% [2.0%-2.6%]               2.9
    linear probe · bn eval · lr 0.3 · 2/class      3  5.4% [4.3%-6.1%]                4.8% [4.1%-5.5%]               1.8
    Data: a rebuilt copy of CIFAR-100 ... by `python -m tl_lessons reference-runs`.
"""
from __future__ import annotations

import dataclasses
import json
import threading

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from tl_lessons import plots, reference_file, text, transfer
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.widgets.explorer import Explorer, View

# The strategies whose runs depend on k (how many stages are frozen), and those with frozen stages,
# where BatchNorm's mode matters: read from the one strategy table.
USES_K = tuple(name for name, row in transfer.STRATEGY_TABLE.items() if "k" in row.options)
USES_BN = tuple(name for name, row in transfer.STRATEGY_TABLE.items() if "bn" in row.options)
# Where the k and BatchNorm controls start: the options' defaults (`transfer.Strategy`).
START_K, START_BN = transfer.Strategy.k, transfer.Strategy.bn
LIVE_COLOR = "black"


# ---------------------------------------------------------------------------------------------
# Settings and their seeds
# ---------------------------------------------------------------------------------------------


def settings(runs: list[dict]) -> list[dict]:
    """The runs grouped by setting (their config without the seed), in the file's order.

    Returns [{"label", "config" (without "seed"), "runs"}]. A run recorded twice (two sweeps of a
    file can share a setting: the same config and seed train the same run) counts once, so a
    setting has as many runs as it has seeds.

    >>> runs = [{"label": "scratch · lr 0.3", "config": {"strategy": "scratch", "lr": 0.3, "seed": seed}}
    ...         for seed in (0, 1, 2, 0)]
    >>> [(s["label"], s["config"], len(s["runs"])) for s in settings(runs)]
    [('scratch · lr 0.3', {'strategy': 'scratch', 'lr': 0.3}, 3)]
    """
    groups, seen = {}, set()
    for run in runs:
        config = {key: value for key, value in run["config"].items() if key != "seed"}
        key = json.dumps(config, sort_keys=True)
        if (key, run["config"].get("seed")) in seen:
            continue
        seen.add((key, run["config"].get("seed")))
        groups.setdefault(key, {"label": run["label"], "config": config, "runs": []})["runs"].append(run)
    return list(groups.values())


def matches(config: dict, strategies, k: int, bn: str, per_class) -> bool:
    """Whether a setting is one the controls ask for; k and bn count only where the strategy uses them.

    >>> matches({"strategy": "finetune", "k": 2, "bn": "eval", "per_class": None}, ["finetune"], 0, "train", None)
    True
    """
    strategy = config["strategy"]
    return (strategy in strategies
            and config.get("per_class") == per_class
            and (strategy not in USES_K or config.get("k") == k)
            and (strategy not in USES_BN or config.get("bn") == bn))


def seed_spread(setting: dict) -> dict:
    """Per epoch, the mean, lowest and highest validation accuracy over the setting's seeds; and the same for test accuracy.

    Returns {"seeds", "epochs", "mean", "low", "high", "test" ({"mean", "low", "high"} or None),
    "seconds"}. An epoch counts the seeds that reached it (a stopped run ends early).

    >>> runs = [{"label": "probe", "config": {"strategy": "linear_probe", "seed": seed}, "test_acc": None,
    ...          "seconds": 2.0, "epochs": [{"epoch": 1, "val_acc": accuracy}]} for seed, accuracy in ((0, 0.25), (1, 0.5))]
    >>> spread = seed_spread(settings(runs)[0])
    >>> spread["seeds"], spread["mean"], spread["low"], spread["high"], spread["test"]
    (2, [0.375], [0.25], [0.5], None)
    """
    by_epoch = {}
    for run in setting["runs"]:
        for event in run["epochs"]:
            if event.get("val_acc") is not None:
                by_epoch.setdefault(event["epoch"], []).append(event["val_acc"])
    epochs = sorted(by_epoch)
    tests = [run["test_acc"] for run in setting["runs"] if run.get("test_acc") is not None]
    return {
        "seeds": len(setting["runs"]),
        "epochs": epochs,
        "mean": [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs],
        "low": [min(by_epoch[e]) for e in epochs],
        "high": [max(by_epoch[e]) for e in epochs],
        "test": {"mean": sum(tests) / len(tests), "low": min(tests), "high": max(tests)} if tests else None,
        "seconds": sum(run.get("seconds") or 0 for run in setting["runs"]) / len(setting["runs"]),
    }


def _percent_spread(mean: float, low: float, high: float) -> str:
    return f"{mean:.1%}" if low == high else f"{mean:.1%} [{low:.1%}-{high:.1%}]"


def budget_name(per_class) -> str:
    """How a label budget reads: "all labels" or "5 per class"."""
    return "all labels" if per_class is None else f"{per_class} per class"


# ---------------------------------------------------------------------------------------------
# The view
# ---------------------------------------------------------------------------------------------


def recorded_runs_view(reference: dict, strategies=transfer.STRATEGIES, k: int = START_K, bn: str = START_BN,
                       per_class=None, live: dict | None = None, teacher: bool = False) -> View:
    """Validation curves (mean over seeds, lowest-to-highest band) and a table of the matching settings.

    reference: the recorded file's contents; strategies: the ones to show; k, bn, per_class: the
    setting (k only counts for "freeze", bn only for strategies with frozen stages; per_class None:
    every label). live: optionally a run trained now, {"label", "epochs", "status"}, drawn in black.
    numbers: "shown", {label: seed_spread(...)} of every matching setting.

    >>> reference = load_recorded_runs()
    >>> view = recorded_runs_view(reference, strategies=["freeze"], k=2, bn="eval", per_class=5)
    >>> f'{view.numbers["shown"]["freeze k=2 · bn eval · lr 0.3 · 5/class"]["high"][-1]:.1%}'    # the best seed's end
    '13.5%'
    """
    strategies = tuple(strategies)
    shown = {}
    for setting in settings(reference.get("runs", [])):
        if matches(setting["config"], strategies, k, bn, per_class):
            # Two settings can share a label (it names the options that usually differ, not every one).
            label = setting["label"] if setting["label"] not in shown else f"{setting['label']} (setting {len(shown) + 1})"
            shown[label] = seed_spread(setting)
    asked = f"{', '.join(s.replace('_', ' ') for s in strategies) or 'no strategy'}; {budget_name(per_class)}"
    if any(s in USES_K for s in strategies):
        asked += f"; k = {k}"
    if any(s in USES_BN for s in strategies):
        asked += f"; bn {bn}"
    columns = 1 if teacher else 2  # of the legend: the teacher's type is wider
    legend_rows = -(-(len(shown) + (live is not None)) // columns)
    with plots.teacher_view(teacher):
        figure = Figure(figsize=(10.5, 3.8 + (0.4 if teacher else 0.3) * legend_rows), layout="constrained")
        axis = figure.subplots()
        for index, (label, spread) in enumerate(shown.items()):
            colour = f"C{index % 10}"
            axis.plot(spread["epochs"], spread["mean"], "-o", color=colour,
                      label=f"{label} ({spread['seeds']} seed{'s' if spread['seeds'] > 1 else ''})")
            axis.fill_between(spread["epochs"], spread["low"], spread["high"], color=colour, alpha=0.2)
        if live is not None and live["epochs"]:
            axis.plot([e["epoch"] for e in live["epochs"]], [e["val_acc"] for e in live["epochs"]], "-s",
                      color=LIVE_COLOR, linewidth=3, label=f"trained now: {live['label']} ({live['status']})")
        if not shown and not (live and live["epochs"]):
            axis.text(0.5, 0.5, "No recorded run matches these controls.", ha="center", va="center",
                      transform=axis.transAxes)
        axis.set(xlabel="epoch", ylabel="validation accuracy", title="Mean over seeds; band: lowest to highest seed")
        axis.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            figure.legend(loc="outside lower center", ncols=columns)
    rows = [{"setting": label, "seeds": spread["seeds"],
             "final val acc [lowest-highest]": _percent_spread(spread["mean"][-1], spread["low"][-1], spread["high"][-1])
             if spread["epochs"] else "-",
             "test acc [lowest-highest]": _percent_spread(**spread["test"]) if spread["test"] else "not recorded",
             "seconds": f"{spread['seconds']:.1f}"}
            for label, spread in shown.items()]
    lines = [text.table(rows) if rows else f"No recorded run matches: {asked}. {_what_is_recorded(reference)}"]
    if live is not None:
        final = live["epochs"][-1]["val_acc"] if live["epochs"] else None
        lines.append(f"trained now: {live['label']}: {live['status']}"
                     + (f", validation accuracy {final:.1%} after {len(live['epochs'])} epochs" if final is not None else ""))
    lines.append(reference_file.reference_provenance(reference))
    return View(figure, f"Recorded validation accuracy per epoch for: {asked}", "\n".join(lines), {"shown": shown})


def _what_is_recorded(reference: dict) -> str:
    configs = [run["config"] for run in reference.get("runs", [])]
    ks = sorted({c.get("k") for c in configs if c["strategy"] in USES_K})
    budgets = sorted({c.get("per_class") for c in configs}, key=lambda n: (n is None, n or 0))
    parts = [f"label budgets recorded: {', '.join(budget_name(n) for n in budgets)}"]
    if ks:
        parts.append(f"k recorded for freeze: {', '.join(map(str, ks))}")
    return "; ".join(parts) + "."


# ---------------------------------------------------------------------------------------------
# The explorer, and a run trained now
# ---------------------------------------------------------------------------------------------


def load_recorded_runs(path=None) -> dict:
    """The recorded runs in `path` (default: the kit's reference runs); a missing file is an error here.

    >>> reference = load_recorded_runs()
    >>> len(reference["runs"])
    63
    """
    reference = reference_file.load_reference_runs(path)
    if reference is None:
        raise LessonError(f"There is no file of recorded runs at {path or reference_file.REFERENCE_RUNS}: "
                          "record them with `make reference-runs`, or pass the right path.")
    return reference


class LiveRun:
    """One setting trained now by `fit` in a background thread; `stop()` ends it after the current batch.

    `on_epoch()` is called (in the thread) after every epoch and at the end: the explorer redraws.

    >>> from tl_lessons.transfer_setup import TransferSetup
    >>> run = LiveRun(TransferSetup(target="synthetic100", classes="far", epochs=2), on_epoch=lambda: None).start()
    >>> run.join()                        # the explorer's Stop button calls run.stop() instead
    >>> run.state["status"], len(run.state["epochs"])
    ('finished', 2)
    """

    def __init__(self, setup, on_epoch):
        self.setup, self.on_epoch = setup, on_epoch
        self.state = {"label": setup.label(), "epochs": [], "status": "starting"}
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._train, name=f"training {setup.label()}", daemon=True)

    def start(self) -> LiveRun:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _train(self):
        from tl_lessons import train, transfer_setup

        try:
            model, strategy, train_set, val_set, config = transfer_setup.prepare(self.setup)
            self.state["status"] = "training"
            self.on_epoch()
            for event in train.fit(model, train_set, val_set, config, strategy=strategy, stop=self._stop):
                if event["kind"] == "epoch":
                    self.state["epochs"].append(event)
                    self.on_epoch()
                elif event["kind"] == "end":
                    self.state["status"] = event["status"]
        except LessonError as error:  # e.g. the target data is missing: say so in the view
            self.state["status"] = "failed"
            self.error = str(error)
        self.on_epoch()


def setup_of(config: dict, **changes):
    """The `TransferSetup` of a recorded config (its unknown keys left out), with `changes` applied.

    >>> run = load_recorded_runs()["runs"][0]
    >>> setup_of(run["config"], epochs=1, target="synthetic100").label(), setup_of(run["config"]).target
    ('scratch · lr 0.3 · 5/class', 'cifar100')
    """
    from tl_lessons.transfer_setup import TransferSetup

    known = {f.name for f in dataclasses.fields(TransferSetup)}
    return TransferSetup(**{**{key: value for key, value in config.items() if key in known}, **changes})


class TrainNow:
    """The "train now" and "stop" buttons: train the first setting the explorer shows, here, seed 0.

    changes: TransferSetup fields changed for the run (e.g. {"epochs": 2}). `run` is the last
    `LiveRun` (None before the first click); the explorer draws its epochs over the record.

    >>> explorer = recorded_runs_explorer(train_now=True, train_changes={"target": "synthetic100", "classes": "far",
    ...                                                                  "epochs": 1})
    >>> explorer.train_now.start.click()
    >>> explorer.train_now.run.join()
    >>> explorer.view.text.splitlines()[-2]
    'trained now: scratch · lr 0.3 · 5/class · far classes: finished, validation accuracy ...% after 1 epochs'
    """

    def __init__(self, reference: dict, changes: dict | None = None):
        import ipywidgets as widgets

        self.reference, self.changes = reference, changes or {}
        self.run = None
        self.explorer = None  # set by recorded_runs_explorer once the explorer exists
        self.start = widgets.Button(description="train now", icon="play", tooltip="train the first shown setting here, seed 0")
        self.stop = widgets.Button(description="stop", icon="stop", disabled=True)
        self.buttons = widgets.HBox([self.start, self.stop])
        self.start.on_click(self._start)
        self.stop.on_click(lambda _button: self.run.stop())

    def _start(self, _button):
        shown = [s for s in settings(self.reference["runs"]) if s["label"] in self.explorer.view.numbers["shown"]]
        if not shown:
            self.explorer.say("Choose controls that show a recorded setting first: the button trains the first one shown.")
            return
        self.run = LiveRun(setup_of(shown[0]["config"], seed=0, **self.changes), self._after_epoch)
        self.start.disabled, self.stop.disabled = True, False
        self.run.start()

    def _after_epoch(self):
        self.explorer.redraw()
        if self.run.state["status"] not in ("starting", "training"):
            self.start.disabled, self.stop.disabled = False, True


def recorded_runs_explorer(reference=None, train_now: bool = False, train_changes: dict | None = None,
                           teacher: bool = False) -> Explorer:
    """Chapter 04: strategies, k, BatchNorm mode and label budget over the recorded runs; instant, no training.

    reference: the recorded file's contents or path (default: the kit's reference runs).
    train_now: add "train now" and "stop" buttons (`explorer.train_now`, a `TrainNow`) that train
    the first shown setting here, seed 0, drawn over the record; train_changes: TransferSetup
    fields changed for that run (e.g. {"epochs": 2} or {"target": "synthetic100"}).

    >>> explorer = recorded_runs_explorer()    # chapter 04's cell ends with `widgets.recorded_runs_explorer()`
    >>> list(explorer.controls)
    ['strategies', 'k', 'bn', 'per_class']
    """
    import ipywidgets as widgets

    if not isinstance(reference, dict):
        reference = load_recorded_runs(reference)
    configs = [run["config"] for run in reference["runs"]]
    if not configs:
        raise ConfigError("The file of recorded runs holds no run: record them first (`make reference-runs`).")
    present = [s for s in transfer.STRATEGIES if any(c["strategy"] == s for c in configs)]
    ks = sorted({c.get("k", START_K) for c in configs if c["strategy"] in USES_K}) or [START_K]
    bns = sorted({c.get("bn", START_BN) for c in configs if c["strategy"] in USES_BN}) or [START_BN]
    budgets = sorted({c.get("per_class") for c in configs}, key=lambda n: (n is None, n or 0))
    # Dropdown values cannot be None (that means "nothing chosen"): "all" stands for every label.
    budget_options = [(budget_name(n), "all" if n is None else n) for n in budgets]
    controls = {
        "strategies": widgets.SelectMultiple(options=[(s.replace("_", " "), s) for s in present], value=tuple(present),
                                             rows=len(present), description="strategies"),
        "k": widgets.Dropdown(options=ks, value=START_K if START_K in ks else ks[0], description="freeze k"),
        "bn": widgets.Dropdown(options=bns, value=START_BN if START_BN in bns else bns[0], description="BatchNorm"),
        "per_class": widgets.Dropdown(options=budget_options, value=budget_options[-1][1], description="labels"),
    }
    trainer = TrainNow(reference, train_changes) if train_now else None

    def draw(strategies, k, bn, per_class):
        run = trainer.run if trainer else None
        view = recorded_runs_view(reference, strategies, k, bn, None if per_class == "all" else per_class,
                                  live=None if run is None else run.state, teacher=teacher)
        if run is not None and run.error:
            view.text += f"\n{run.error}"
        return view

    explorer = Explorer(draw, controls, teacher=teacher, extra=(trainer.buttons,) if trainer else ())
    if trainer:
        trainer.explorer = explorer
        explorer.train_now = trainer
    return explorer
