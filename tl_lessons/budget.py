"""A run that fits a time budget: the pace measured on its first steps, then the epochs that fit.

How many epochs fit ten minutes depends on the computer: the `full` preset's network trains about
1,000 images/s on a Zen 4 core pair with native bfloat16 and a quarter of that without it. So
instead of a fixed number of epochs, the preset carries a budget (`TrainConfig.minutes`) and the
command line asks `plan_run` to

1. adapt the recipe to the device (`for_device`: on a GPU a larger batch and bfloat16),
2. train its first few steps for real and throw them away (`first_steps`), to measure the pace here,
3. time the test-time views on a few hundred training images (the test split is only counted),
4. give all that, and the time already spent reading the data, to `plan_epochs`, a pure function,
   which says how many epochs fit and why, in a sentence.

`plan_epochs` alone, with numbers from a Zen 4 machine:

    >>> epochs, why = plan_epochs(1020, 50_000, budget_s=600, overheads={"reading the data": 12, "testing": 25})
    >>> epochs
    11
    >>> print(why)
    This computer trains 1,020 images/s: 11 epochs of 50,000 images (9 min) fit 10 min, beside 12 s for reading the data and 25 s for testing.

`tl_lessons.analysis.estimate_seconds` measures a transfer run's cost with the same `first_steps`.
"""
import dataclasses
import math
import time

import torch

from tl_lessons import inference, text, train
from tl_lessons.errors import ConfigError
from tl_lessons.hardware import pick_device, use_bf16
from tl_lessons.models import build_model

PROBE_STEPS = 6
"""How many steps `first_steps` times after the first (which pays for setting the run up)."""

PACE_MARGIN = 0.03
"""`plan_epochs` plans as if training ran this much slower than its first steps: their pace, measured
over a few seconds, is only nearly that of a whole run (a chosen margin, not a measured one)."""

MOST_EPOCHS = 30
"""The most epochs `plan_epochs` gives a run: the recipe was measured up to 10 epochs (docs/performance.md);
a budget that holds more (a GPU) trains this many and finishes early rather than guess further."""

GPU_BATCH_SIZE = 2048
"""The `full` preset's batch on a CUDA GPU (`device_settings`): a GPU does a batch of 1,024 small images
without filling up, so twice as many per step train faster."""


def first_steps(model, train_set, config, strategy=None, steps: int = PROBE_STEPS, device=None):
    """Train the first `steps` + 1 optimiser steps of a run for real, then stop; returns (times, total steps).

    times: (step, seconds since the call) after each step. The first step's time includes setting the
    run up (batches, whitening) and warming up; the pace of the later ones is the run's. `model` has
    trained those steps when this returns: measure on a copy, or on a model built for it.

    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.synthetic import make_synthetic
    >>> times, total = first_steps(build_model("tutorialnet", 10), make_synthetic(10, n_per_class=40),
    ...                            train.PRESETS["tutorial_fast"], steps=2)
    >>> [step for step, _ in times], total          # 6 epochs of 4 batches (400 images, 128 a batch)
    ([1, 2, 3], 24)
    """
    started, times, total = time.perf_counter(), [], None
    stream = train.fit(model, train_set, None, dataclasses.replace(config, log_every_steps=1), strategy=strategy,
                       device=device)
    try:
        for event in stream:
            if event["kind"] == "start":
                total = event["total_steps"]
            elif event["kind"] == "step":
                times.append((event["step"], time.perf_counter() - started))
                if len(times) > steps:
                    break
    finally:
        stream.close()   # leaves the model in eval mode, as a finished run would
    return times, total


def seconds_per_step(times) -> float:
    """The pace between the first and the last of (step, seconds) pairs: seconds per step.

    >>> seconds_per_step([(1, 2.0), (5, 6.0)])
    1.0
    """
    (first_step, first_at), (last_step, last_at) = times[0], times[-1]
    return (last_at - first_at) / (last_step - first_step)


def plan_epochs(images_per_s: float, images_per_epoch: int, budget_s: float, overheads: dict,
                most_epochs: int = MOST_EPOCHS) -> tuple[int, str]:
    """How many epochs fit `budget_s` seconds beside `overheads` ({what: seconds}), and why, as a sentence.

    The rule: the seconds left after the overheads, divided by one epoch's seconds at the measured
    pace made `PACE_MARGIN` slower, rounded down; at most `most_epochs`. 0 when not even one epoch
    fits: the sentence then says how many minutes would do. The sentence leaves out overheads under
    half a second.

    >>> plan_epochs(1020, 50_000, budget_s=60, overheads={"reading the data": 12})[1]
    'One epoch does not fit 60 s here: this computer trains 1,020 images/s, so an epoch of 50,000 images takes about 49 s, beside 12 s for reading the data. Give it at least 2 minutes.'
    """
    fixed = sum(overheads.values())
    epoch_s = images_per_epoch / images_per_s
    fitting = max(0, math.floor((budget_s - fixed) / (epoch_s * (1 + PACE_MARGIN))))
    pace = f"this computer trains {images_per_s:,.0f} images/s"
    beside = [f"{text.duration(seconds)} for {what}" for what, seconds in overheads.items() if seconds >= 0.5]
    beside = f", beside {', '.join(beside[:-1])} and {beside[-1]}" if len(beside) > 1 else \
        f", beside {beside[0]}" if beside else ""
    if fitting == 0:
        minutes = math.ceil((fixed + epoch_s * (1 + PACE_MARGIN)) / 60)
        return 0, (f"One epoch does not fit {text.duration(budget_s)} here: {pace}, so an epoch of "
                   f"{images_per_epoch:,} images takes about {text.duration(epoch_s)}{beside}. "
                   f"Give it at least {minutes} minute{'s' if minutes > 1 else ''}.")
    if fitting > most_epochs:
        return most_epochs, (f"{pace.capitalize()}: {text.duration(budget_s)} would hold {fitting:,} epochs of "
                             f"{images_per_epoch:,} images{beside}, but the recipe stops at {most_epochs} (about "
                             f"{text.duration(most_epochs * epoch_s)}), so it finishes early.")
    epochs_fit = "1 epoch" if fitting == 1 else f"{fitting} epochs"
    return fitting, (f"{pace.capitalize()}: {epochs_fit} of {images_per_epoch:,} images "
                     f"({text.duration(fitting * epoch_s)}) fit{'s' if fitting == 1 else ''} "
                     f"{text.duration(budget_s)}{beside}.")


def device_settings(config, device_type: str, bf16_supported: bool) -> dict:
    """The batch size and the autocast dtype (None: float32) of a budgeted run of `config` on a device.

    A CPU keeps the recipe's batch, in bfloat16 where it has native instructions for it
    (`hardware.use_bf16`). A CUDA GPU takes `GPU_BATCH_SIZE` images per step, in bfloat16 where it
    supports it (from the Ampere generation on); older GPUs stay in float32, since their float16
    would need loss scaling, which the kit's loop does not do.

    >>> from tl_lessons.train import PRESETS
    >>> device_settings(PRESETS["full"], "cuda", bf16_supported=True)
    {'batch_size': 2048, 'autocast': torch.bfloat16}
    >>> device_settings(PRESETS["full"], "cpu", bf16_supported=False)
    {'batch_size': 1024, 'autocast': None}
    """
    batch_size = max(config.batch_size, GPU_BATCH_SIZE) if device_type == "cuda" else config.batch_size
    return {"batch_size": batch_size, "autocast": torch.bfloat16 if bf16_supported else None}


def scaled_to_batch(config, batch_size: int):
    """`config` at another batch size, the learning rate scaled with it (weight decay stays).

    airbench gives its rates per 1,024 images of a *summed* loss, with the momentum's amplification
    taken out: lr 11.5 and weight decay 0.0153 at momentum 0.85. The kit's loop averages the loss
    over the batch, so its rate is airbench's times the batch over 1,024 images, divided by
    (1 + 1 / (1 - 0.85)): 11.5 / 7.67 = 1.5 at batch 1,024, the `full` preset's. The weight shrinks
    by rate x decay per step in both, which gives the kit's decay 0.0153 / 11.5 at every batch size.
    Twice the batch, half the steps: each step moves twice as far (the "linear scaling rule").

    >>> from tl_lessons.train import PRESETS
    >>> scaled_to_batch(PRESETS["full"], 2048).lr
    3.0
    """
    return dataclasses.replace(config, batch_size=batch_size, lr=config.lr * batch_size / config.batch_size)


def for_device(config, device):
    """`config` as a budgeted run trains it on `device` (`device_settings`): its batch, rate and bfloat16.

    An explicit `config.bf16` (True or False) is kept; "auto" becomes the device's answer.

    >>> from tl_lessons.train import PRESETS
    >>> for_device(PRESETS["full"], torch.device("cpu")).batch_size
    1024
    """
    device = torch.device(device)
    bf16 = use_bf16(dataclasses.replace(config, bf16="auto"), device)
    settings = device_settings(config, device.type, bf16)
    config = scaled_to_batch(config, settings["batch_size"])
    return config if config.bf16 != "auto" else dataclasses.replace(config, bf16=settings["autocast"] is not None)


def evaluation_seconds(model, images, config, count: int, sample: int = inference.INFERENCE_BATCH_SIZE) -> float:
    """About how long `evaluate` with `config.test_views` takes on `count` images: timed on `sample` of `images`.

    The plan times it on *training* images: the test split is looked at once, after training, and never
    to decide anything (here: how many epochs fit). Any images of the same size take the same time.

    >>> from tl_lessons.data import load_dataset
    >>> from tl_lessons.models import build_model
    >>> train_set = load_dataset("synthetic10", "train")
    >>> evaluation_seconds(build_model("tutorialnet", 10), train_set, train.PRESETS["quick"], count=10_000) > 0
    True
    """
    part = images.take(range(min(sample, len(images))))
    started = time.perf_counter()
    inference.evaluate(model, part, mean=config.mean, std=config.std, views=config.test_views)
    return (time.perf_counter() - started) * count / len(part)


def plan_run(config, train_set, test_images: int, budget_s: float, spent_s: float = 0.0, device=None):
    """`config` with the epochs that fit `budget_s` seconds here, and the sentence that says why.

    `test_images`: how many images the test will show the model (only their number: the test split is not
    used to plan). `spent_s`: seconds already gone (reading the data). Measures this computer on a fresh model of
    `config.arch` (`first_steps`, `evaluation_seconds`: a few seconds, counted against the budget), then
    asks `plan_epochs`. Raises ConfigError, with its sentence, when not even one epoch fits.

    >>> from tl_lessons.synthetic import make_synthetic
    >>> config, why = plan_run(train.PRESETS["tutorial_fast"], make_synthetic(10, n_per_class=40),
    ...                        test_images=100, budget_s=60)
    >>> config.epochs > 1, why.startswith("This computer trains")
    (True, True)
    """
    started = time.perf_counter()
    device = torch.device(device or pick_device())
    config = for_device(config, device)
    model = build_model(config.arch, train_set.num_classes)
    probe = dataclasses.replace(config, epochs=PROBE_STEPS + 2)   # one step an epoch at least: enough steps
    times, _ = first_steps(model, train_set, probe, device=device)
    # The first two steps pay for warming up (the first also for setting the run up): the pace is the rest's.
    images_per_s = config.batch_size / seconds_per_step(times[1:])
    testing = evaluation_seconds(model, train_set, config, count=test_images)
    views = "" if config.test_views == "image" else f" with its test-time views ({config.test_views})"
    overheads = {"reading the data and measuring this computer": spent_s + time.perf_counter() - started,
                 "setting the run up": times[0][1], f"testing{views}": testing}
    epochs, why = plan_epochs(images_per_s, len(train_set), budget_s, overheads, most_epochs=MOST_EPOCHS)
    if epochs == 0:
        raise ConfigError(why)
    return dataclasses.replace(config, epochs=epochs), why
