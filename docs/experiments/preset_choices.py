"""The runs behind the presets' choices in `tl_lessons.train.PRESETS`, made on validation images only.

Every choice a preset makes (how many epochs, whether to augment) is scored on a tenth of the
CIFAR-10 *training* split held out from training (`data.split_validation`, seed 0, as chapter 03
does); the test split plays no part. Not part of the kit or its tests; one-off measurements kept
so that anyone can repeat them (about 10 minutes on the 2-core development machine, real CIFAR-10):

    python docs/experiments/preset_choices.py                    # every candidate, one line each
    python docs/experiments/preset_choices.py quick-6 quick-8    # only these

A candidate run with the preset's own settings is the run chapter 03 makes (same split, same seed):
its validation accuracy there is the same number.
"""
import dataclasses
import json
import sys
import time

import torch

from tl_lessons import data, environment, models, train

# name: (preset, what is being chosen, the change to try)
CANDIDATES = {
    "tutorial_fast-4-augment": ("tutorial_fast", "augmentation (4 epochs)", {"epochs": 4, "augment": True}),
    "tutorial_fast-4-plain": ("tutorial_fast", "augmentation (4 epochs)", {"epochs": 4, "augment": False}),
    "tutorial_fast-5": ("tutorial_fast", "epochs", {"epochs": 5}),
    "tutorial_fast-6": ("tutorial_fast", "epochs", {"epochs": 6}),
    "quick-6": ("quick", "epochs", {"epochs": 6}),
    "quick-8": ("quick", "epochs", {"epochs": 8}),
}


def main(names=()):
    torch.set_num_threads(train.cpu_threads())
    train_split = data.load_dataset("cifar10", "train")
    train_set, val_set = data.split_validation(train_split, val_fraction=0.1)
    print(f"{environment.cpu_name()}, {torch.get_num_threads()} threads; {len(train_set):,} training and "
          f"{len(val_set):,} validation images ({train_split.source})")
    for name in names or CANDIDATES:
        preset, choice, change = CANDIDATES[name]
        config = dataclasses.replace(train.PRESETS[preset], **change)
        torch.manual_seed(0)
        model = models.build_model(config.arch, 10)
        started = time.perf_counter()
        history = train.train(model, train_set, val_set, config, progress=False)
        print(json.dumps({"candidate": name, "choosing": choice, "final_val_acc": round(history.final["val_acc"], 4),
                          "train_seconds": round(history.end["elapsed"], 1),
                          "wall_seconds": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
