"""A run within a time budget: the planner's rule and sentences, the device's batch and precision, the measured plan."""
import dataclasses
import re

import pytest
import torch

from tl_lessons import budget
from tl_lessons.budget import PACE_MARGIN, device_settings, for_device, plan_epochs, plan_run
from tl_lessons.errors import ConfigError
from tl_lessons.synthetic import make_synthetic
from tl_lessons.train import PRESETS


@pytest.mark.parametrize("images_per_s, budget_s, overheads, epochs", [
    (1020, 600, {"reading the data": 12, "testing": 25}, 11),   # 563 s left, 50.5 s an epoch with the margin
    (1000, 600, {}, 11),                                        # 600 / 51.5 = 11.65
    (1000, 600, {"testing": 100}, 9),                           # 500 / 51.5 = 9.7
    (250, 600, {"testing": 100}, 2),                            # a CPU without native bfloat16: 200 s an epoch
    (1000, 57, {"testing": 5}, 1),                              # one epoch with its margin, 0.5 s to spare
])
def test_the_planner_fits_whole_epochs_beside_the_overheads(images_per_s, budget_s, overheads, epochs):
    planned, why = plan_epochs(images_per_s, 50_000, budget_s, overheads)
    assert planned == epochs
    fit = f"{epochs} epochs of 50,000 images" if epochs > 1 else "1 epoch of 50,000 images"
    assert why.startswith(f"This computer trains {images_per_s:,} images/s: {fit}")
    assert all(what in why for what in overheads)


def test_overheads_under_half_a_second_are_counted_but_not_named():
    assert plan_epochs(1000, 50_000, 600, {"testing": 0.2}) == (
        11, "This computer trains 1,000 images/s: 11 epochs of 50,000 images (9 min) fit 10 min.")
    assert plan_epochs(1000, 50_000, 51.5 * 11 + 0.5, {"testing": 0.4})[0] == 11
    assert plan_epochs(1000, 50_000, 51.5 * 11 + 0.5, {"testing": 0.6})[0] == 10


def test_the_margin_is_what_separates_a_tight_fit_from_none():
    one_epoch = 50_000 / 1000
    assert plan_epochs(1000, 50_000, one_epoch * (1 + PACE_MARGIN), {})[0] == 1
    assert plan_epochs(1000, 50_000, one_epoch * (1 + PACE_MARGIN / 2), {})[0] == 0


@pytest.mark.parametrize("budget_s, overheads", [(30, {}), (120, {"reading the data and measuring": 90}),
                                                 (60, {"testing": 100})])
def test_a_budget_too_small_for_one_epoch_is_a_sentence_saying_how_much_would_do(budget_s, overheads):
    planned, why = plan_epochs(1000, 50_000, budget_s, overheads)
    assert planned == 0
    assert why.startswith("One epoch does not fit") and "takes about 50 s" in why
    needed = int(re.fullmatch(r".* Give it at least (\d+) minutes?\.", why)[1])
    assert plan_epochs(1000, 50_000, needed * 60, overheads)[0] >= 1     # and that much does fit one
    assert plan_epochs(1000, 50_000, (needed - 1) * 60, overheads)[0] == 0


def test_a_budget_that_holds_more_than_the_recipe_takes_finishes_early():
    planned, why = plan_epochs(100_000, 50_000, 600, {"testing": 1})
    assert planned == budget.MOST_EPOCHS and why.endswith("so it finishes early.") and "1,163 epochs" in why


@pytest.mark.parametrize("device_type, bf16, expected", [
    ("cuda", True, {"batch_size": budget.GPU_BATCH_SIZE, "autocast": torch.bfloat16}),
    ("cuda", False, {"batch_size": budget.GPU_BATCH_SIZE, "autocast": None}),   # no float16: it needs loss scaling
    ("cpu", True, {"batch_size": 1024, "autocast": torch.bfloat16}),
    ("cpu", False, {"batch_size": 1024, "autocast": None}),
    ("mps", False, {"batch_size": 1024, "autocast": None}),
])
def test_the_device_chooses_the_batch_and_the_precision(device_type, bf16, expected):
    assert device_settings(PRESETS["full"], device_type, bf16) == expected


def test_a_larger_batch_scales_the_rate_and_keeps_the_decay(monkeypatch):
    monkeypatch.setattr(budget, "use_bf16", lambda config, device: True)   # a GPU with bfloat16, as far as asked
    on_gpu = for_device(PRESETS["full"], torch.device("cuda"))
    assert (on_gpu.batch_size, on_gpu.bf16) == (budget.GPU_BATCH_SIZE, True)
    assert on_gpu.lr == PRESETS["full"].lr * 2 and on_gpu.weight_decay == PRESETS["full"].weight_decay
    assert for_device(dataclasses.replace(PRESETS["full"], bf16=False), torch.device("cuda")).bf16 is False


@pytest.mark.slow
def test_plan_run_measures_this_computer_and_sets_the_epochs():
    # Only the test split's size is given: planning never looks at test images.
    train_set = make_synthetic(10, "train", n_per_class=20)
    config, why = plan_run(PRESETS["tutorial_fast"], train_set, test_images=50, budget_s=30, spent_s=1.0)
    assert config.epochs >= 1 and why.startswith("This computer trains")
    assert "reading the data and measuring this computer" in why
    with pytest.raises(ConfigError, match="does not fit"):
        plan_run(PRESETS["tutorial_fast"], train_set, test_images=50, budget_s=1.0, spent_s=1.0)


def test_first_steps_times_each_step_after_the_first():
    train_set = make_synthetic(10, "train", n_per_class=20)
    times, total = budget.first_steps(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10)), train_set,
                                      dataclasses.replace(PRESETS["tutorial_fast"], batch_size=50), steps=3)
    assert [step for step, _ in times] == [1, 2, 3, 4] and total == 6 * 4
    assert all(earlier < later for (_, earlier), (_, later) in zip(times, times[1:]))
