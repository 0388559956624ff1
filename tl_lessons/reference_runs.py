"""The recorded reference runs (`tl_lessons/assets/reference_runs.json`): trained and written here.

Chapter 04's strategies, trained once on the real CIFAR-100 and kept as plain JSON, so that the
dashboard and chapter 01 can show what each strategy does without waiting for it to train.
`make reference-runs` (`python -m tl_lessons reference-runs`) records them again; the file is read
by `tl_lessons.reference_file`, which needs none of the training this module does.

    >>> reference = load_reference_runs()
    >>> list(dict.fromkeys(run["label"] for run in reference["runs"]))[:2]      # each setting has three seeds
    ['scratch · lr 0.3 · 5/class', 'linear probe · bn eval · lr 0.3 · 5/class']
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from tl_lessons import analysis, environment, summaries, transfer_setup, verdicts
from tl_lessons.data import data_dir
# load_reference_runs is not used here: chapter 01 reads the file through this module.
from tl_lessons.reference_file import REFERENCE_RUNS, comparison_runs, load_reference_runs  # noqa: F401

SWEEPS = ("comparison", "labels", "freeze depth")
"""What the file holds: chapter 04's comparison of every strategy, its label regimes and its freeze-depth curve."""


def chapter_runs(base=None, seeds=None, progress: bool = True, executor=None) -> list[dict]:
    """Chapter 04's three sweeps on `base` (its setup), every setting once per seed, each run tagged with its "sweep".

    The comparison trains every strategy at its tuned rate; the label regimes train scratch, the
    linear probe and fine-tuning on 1, 2 and 5 images per class at equal optimiser steps; the
    freeze-depth curve trains `freeze` for every k. Each result is `analysis.train_setup`'s. executor:
    where the runs train, here by default (see `analysis.compare_strategies` and `tl_lessons.executors`).

    It trains for an hour and more on CIFAR-100, so `make reference-runs` runs it, not a doctest:

    runs = chapter_runs(seeds=(0,))
    """
    base = analysis.CHAPTER_SETUP if base is None else base
    seeds = analysis.SEEDS if seeds is None else seeds
    setups = analysis.strategy_setups(base)
    comparison = analysis.compare_strategies(setups, seeds=seeds, progress=progress, desc="comparison",
                                             executor=executor)
    sweeps = {
        "comparison": comparison,
        # Settings the comparison already ran (5 per class, freeze k=2) are its runs, not trained again.
        "labels": analysis.label_regimes([s for s in setups if s.strategy in ("scratch", "linear_probe", "finetune")],
                                         seeds=seeds, progress=progress, known=comparison, executor=executor),
        "freeze depth": analysis.freeze_depth_curve(next(s for s in setups if s.strategy == "freeze"),
                                                    range(len(transfer_setup.source_stages(base.source))),
                                                    seeds=seeds, progress=progress, known=comparison,
                                                    executor=executor),
    }
    return [{**run, "sweep": sweep} for sweep, runs in sweeps.items() for run in runs]


def record_reference_runs(out=REFERENCE_RUNS, base=None, seeds=None, executor=None) -> Path:
    """Train chapter 04's sweeps (`chapter_runs`, on `executor`'s workers if one is given) and write
    them, with where they come from, to `out`.

    record_reference_runs("tl_lessons/assets/reference_runs.json")   # what `make reference-runs` does
    """
    base = analysis.CHAPTER_SETUP if base is None else base
    runs = chapter_runs(base, seeds, executor=executor)
    train_set, val_set = transfer_setup.load_target(base)
    test_set = transfer_setup.load_test(base)
    reference = {"data": portable_source(train_set.source, data_dir()),
                 "task": (f"{base.per_class} training images per class ({len(train_set):,}), {len(val_set):,} "
                          f"validation images held out from the training split, {len(test_set):,} test images"),
                 "machine": environment.cpu_name(), "torch": torch.__version__,
                 "recorded": time.strftime("%Y-%m-%d"), "recorded_with": "python -m tl_lessons reference-runs",
                 "runs": runs}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(reference, indent=1), encoding="utf-8")
    print(f"wrote {out}: {len(runs)} runs")
    return out


NO_ANSWERS = "not recorded with answers: no verdict"
"""What the verdict column says for runs recorded before the kit kept each test image's answer."""
VERDICT_WORDS = {"above": "above, beyond the noise", "below": "below, beyond the noise",
                 "within the noise": "within the noise"}


def comparison_table(reference: dict) -> list[dict]:
    """The recorded strategy comparison, one row per strategy: its test accuracy over the seeds and its gap to scratch.

    Rows hold: setting, seeds, test acc % (mean and range), and "vs scratch": the gap between the
    means in points with the verdict of `verdicts.against` (every strategy against scratch on the
    runs' recorded answers, "test_correct", seed by seed and image by image, Holm-corrected): "above,
    beyond the noise", "below, beyond the noise" or "within the noise" (not shown to differ). A run
    recorded without its answers (files recorded before the kit kept them) gets no verdict: `NO_ANSWERS`.

    >>> from tl_lessons import text
    >>> print(text.table(comparison_table(load_reference_runs())[:3]))    # the best three of the recorded runs
    setting                                                seeds  test acc %        vs scratch (points)
    discriminative · head×10 decay 0.5 · lr 0.1 · 5/class      3  13.5 (12.8-14.3)  +7.8 (above, beyond the noise)
    gradual · bn eval · lr 0.3 · 5/class                       3  11.8 (11.0-13.0)  +6.1 (above, beyond the noise)
    freeze k=2 · bn eval · lr 0.3 · 5/class                    3  11.6 (10.9-12.1)  +5.9 (above, beyond the noise)
    """
    runs = comparison_runs(reference)
    rows = summaries.spread(runs, "test_acc")
    scratch = next((row for row in rows if row["strategy"] == "scratch" and row["mean"] is not None), None)
    verdict_of = {}
    if scratch is not None:
        tables = verdicts.answers_by_setting(runs, name=summaries.setting_of)
        others = [name for name in tables if name != scratch["setting"]]
        if scratch["setting"] in tables and others:
            verdict_of = {row["name"]: VERDICT_WORDS[row["verdict"]]
                          for row in verdicts.against(tables, scratch["setting"], others)}
    table = []
    for row in sorted((row for row in rows if row["mean"] is not None), key=lambda row: -row["mean"]):
        gap = ""
        if scratch is not None and row is not scratch:
            gap = f"{100 * (row['mean'] - scratch['mean']):+.1f} ({verdict_of.get(row['setting'], NO_ANSWERS)})"
        table.append({"setting": row["setting"], "seeds": row["n"], "test acc %": summaries.mean_and_range(row),
                      "vs scratch (points)": gap})
    return table


def portable_source(source: str, root) -> str:
    """`source` without the recording machine's data folder: reference runs are shipped to other machines.

    >>> portable_source("a copy of CIFAR-100 in /home/ada/data/cifar-100-python", "/home/ada/data")
    "a copy of CIFAR-100 in the data folder's cifar-100-python"
    """
    return source.replace(f"{root}{os.sep}", "the data folder's ")
