"""The runs behind the presets' choices in `tl_lessons.train.PRESETS`, made on validation images only.

Every choice a preset makes (how many epochs, whether to augment) is scored on a tenth of the
CIFAR-10 *training* split held out from training (`data.split_validation`, seed 0, as chapter 03
does); the test split plays no part. Not part of the kit or its tests; one-off measurements kept
so that anyone can repeat them (about 10 minutes on the 2-core development machine, real CIFAR-10):

    python docs/experiments/preset_choices.py           # every candidate, one line each
    python docs/experiments/preset_choices.py quick     # only the FastNet candidates
"""
import dataclasses
import json
import sys
import time

import torch

from tl_lessons import data, environment, models, train

# (preset, what is being chosen, the changes to try)
CANDIDATES = [
    ("tutorial_fast", "augmentation (4 epochs)", [{"epochs": 4, "augment": True}, {"epochs": 4, "augment": False}]),
    ("tutorial_fast", "epochs", [{"epochs": 5}, {"epochs": 6}]),
    ("quick", "epochs", [{"epochs": 6}, {"epochs": 8}]),
]


def main(only=None):
    torch.set_num_threads(train.cpu_threads())
    train_split = data.load_dataset("cifar10", "train")
    train_set, val_set = data.split_validation(train_split, val_fraction=0.1)
    print(f"{environment.cpu_name()}, {torch.get_num_threads()} threads; {len(train_set):,} training and "
          f"{len(val_set):,} validation images ({train_split.source})")
    for preset, choice, changes in CANDIDATES:
        if only and preset != only:
            continue
        for change in changes:
            config = dataclasses.replace(train.PRESETS[preset], **change)
            torch.manual_seed(0)
            model = models.build_model(config.arch, 10)
            started = time.perf_counter()
            history = train.train(model, train_set, val_set, config, progress=False)
            print(json.dumps({"preset": preset, "choosing": choice, "change": change,
                              "final_val_acc": round(history.final["val_acc"], 4),
                              "train_seconds": round(history.end["elapsed"], 1),
                              "wall_seconds": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
