"""`python -m tl_lessons bench`: the kit's speed and accuracy, measured against its targets.

Each section prints one or more rows (what, measured, target, met?) and all of them are
written to a JSON file. Sections that need the real CIFAR-10 say so and are skipped when it
is missing. On a 2-core CPU the whole benchmark takes about 20 minutes; `--only loader probe`
runs a part.

    python -m tl_lessons bench --json bench.json
    python -m tl_lessons bench --only loader models
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from . import data, models, train, transfer
from .loader import Loader, measure_loader_throughput

SECTIONS = ("loader", "models", "presets", "tutorial", "probe", "app")


def machine() -> str:
    """One line describing where the numbers were measured."""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    return (f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"device {train.pick_device()}")


def row(what, measured, unit, target=None, met=None, **details) -> dict:
    return {"what": what, "measured": measured, "unit": unit, "target": target, "met": met, **details}


def bench_loader() -> list[dict]:
    """Images per second of the augmenting loader (batch 512, float32 out)."""
    ds = data.load_cifar10("train") if data.cifar_available("cifar10") else data.load_dataset("synthetic10")
    rate = measure_loader_throughput(ds, batch_size=512, augment=True, seconds=5.0)
    plain = measure_loader_throughput(ds, batch_size=512, augment=False, seconds=3.0)
    return [
        row("loader, crop+flip+normalise", round(rate), "images/s", "≥ 100,000", rate >= 100_000, data=ds.name),
        row("loader, normalise only", round(plain), "images/s", data=ds.name),
    ]


def training_throughput(model, ds, batch_size=256, seconds=6.0) -> float:
    """Training images per second: forward, backward and an SGD step on augmented batches."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    done, started, warm = 0, None, 2
    while True:
        for x, y in Loader(ds, batch_size, shuffle=True, augment=True):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if warm:
                warm -= 1
                if not warm:
                    started = time.perf_counter()
                continue
            done += len(y)
            if time.perf_counter() - started >= seconds:
                return done / (time.perf_counter() - started)


def bench_models() -> list[dict]:
    ds = data.load_dataset("synthetic10")
    rows = []
    for arch in ("tutorialnet", "fastnet", "resnet18"):
        model = models.build_model(arch, 10)
        rate = training_throughput(model, ds, seconds=4.0 if arch == "resnet18" else 6.0)
        rows.append(row(f"training {arch}", round(rate), "images/s",
                        parameters=models.count_parameters(model)))
    return rows


def timed_preset(preset: str, **changes) -> dict:
    """Train a preset on the real CIFAR-10, data loading included in the time; test accuracy."""
    started = time.perf_counter()
    train_set, test_set = data.load_cifar10("train"), data.load_cifar10("test")
    config = dataclasses.replace(train.PRESETS[preset], **changes)
    model = models.build_model(config.arch, 10)
    history = train.train(model, train_set, None, config, progress=False)
    seconds = time.perf_counter() - started
    _, accuracy = train.evaluate(model, test_set, mean=config.mean, std=config.std)
    return {"preset": preset, "seconds": seconds, "test_acc": accuracy, "status": history.status,
            "epochs": config.epochs}


def bench_presets() -> list[dict]:
    rows = []
    for preset, target_acc, target_s in (("quick", 0.80, 120), ("full", 0.92, 600)):
        result = timed_preset(preset)
        met = result["test_acc"] >= target_acc and result["seconds"] <= target_s
        rows.append(row(f"preset {preset}: test accuracy / seconds",
                        f"{result['test_acc']:.2%} in {result['seconds']:.0f} s", "",
                        f"≥ {target_acc:.0%} in ≤ {target_s} s", met, **result))
    return rows


def time_to_accuracy(preset: str, target: float | None, train_set, test_set):
    """Train a TutorialNet preset, evaluating on the test set after every epoch.

    Returns (final accuracy, seconds of training until the test accuracy first reached
    `target` — or the final accuracy when target is None —, per-epoch (seconds, accuracy)).
    Evaluation time is not counted as training time.
    """
    config = train.PRESETS[preset]
    torch.manual_seed(config.seed)
    model = models.build_model(config.arch, 10)
    trained_s, points = 0.0, []
    last = 0.0
    for event in train.fit(model, train_set, test_set, config):
        if event["kind"] == "epoch":
            trained_s += event["elapsed"] - last - event.get("val_seconds", 0.0)
            last = event["elapsed"]
            points.append((trained_s, event["val_acc"]))
    final = points[-1][1]
    goal = final if target is None else target
    reached = next((seconds for seconds, accuracy in points if accuracy >= goal), None)
    return final, reached, points


def bench_tutorial() -> list[dict]:
    """The PyTorch tutorial's recipe and the kit's recipe for the same net, side by side."""
    train_set, test_set = data.load_cifar10("train"), data.load_cifar10("test")
    tutorial_acc, tutorial_s, tutorial_points = time_to_accuracy("tutorial", None, train_set, test_set)
    kit_acc, kit_s, kit_points = time_to_accuracy("tutorial_fast", tutorial_acc, train_set, test_set)
    kit_total = kit_points[-1][0]
    ratio = tutorial_s / kit_s if kit_s else None
    return [
        row("tutorial recipe (batch 4, lr 0.001): final test accuracy", f"{tutorial_acc:.2%}", "",
            seconds=tutorial_s, curve=tutorial_points),
        row("kit recipe for TutorialNet: accuracy / seconds", f"{kit_acc:.2%} in {kit_total:.0f} s", "",
            "≥ 65 % in ≤ 30 s", kit_acc >= 0.65 and kit_total <= 30, curve=kit_points),
        row("time to the tutorial's accuracy: tutorial / kit",
            f"{tutorial_s:.0f} s / {kit_s:.1f} s" if kit_s else f"{tutorial_s:.0f} s / never", "",
            "kit ≥ 10× faster", bool(ratio and ratio >= 10), ratio=ratio),
    ]


def bench_probe() -> list[dict]:
    """A linear probe over 50,000 images with cached features (CIFAR-10 train stands in for a
    CIFAR-100-sized target: the partial CIFAR-100 here has only about 1,100 images)."""
    from .checkpoints import load_source_model

    train_set = data.load_cifar10("train") if data.cifar_available("cifar10") else data.load_dataset("synthetic10")
    try:
        model, _ = load_source_model()
    except Exception:  # no shipped checkpoint yet: the timing is the same with random weights
        model = models.build_model("fastnet", 10)
    model = models.replace_head(model, 100 if train_set.num_classes == 100 else train_set.num_classes)
    strategy = transfer.apply_strategy(model, "linear_probe")
    config = dataclasses.replace(train.PRESETS["quick"], epochs=10, lr=0.1, batch_size=512)
    started = time.perf_counter()
    history = train.train(model, train_set, None, config, strategy, progress=False)
    seconds = time.perf_counter() - started
    return [row(f"linear probe, {len(train_set):,} images, cached features, {config.epochs} epochs",
                round(seconds, 1), "s", "≤ 60 s", seconds <= 60, status=history.status)]


def bench_app() -> list[dict]:
    """The dashboard's training job against the same run headless (see tl_lessons.dashboard)."""
    from . import dashboard

    measured = dashboard.measure_overhead()
    stopping = dashboard.measure_stop_latency()
    return [
        row("app: first curve point after Train", round(measured["first_point_s"], 2), "s", "≤ 3 s",
            measured["first_point_s"] <= 3),
        row("app: overhead against the same run headless", f"{measured['overhead']:.1%}", "", "≤ 10 %",
            measured["overhead"] <= 0.10, **measured),
        # "a couple of seconds": the run's end reaches the page within 2 s (it redraws within REFRESH_S more)
        row("app: Stop until the run has ended (slowest of 3)", round(stopping["stop_s"], 2), "s", "≤ 2 s",
            stopping["stop_s"] <= 2, **stopping),
    ]


RUNNERS = {"loader": bench_loader, "models": bench_models, "presets": bench_presets,
           "tutorial": bench_tutorial, "probe": bench_probe, "app": bench_app}
NEEDS_CIFAR = {"presets", "tutorial"}


def main(json_path="bench.json", only=None) -> dict:
    """Run the chosen sections, print a table, write JSON; returns the results."""
    results = {"machine": machine(), "data": None, "rows": []}
    if data.cifar_available("cifar10"):
        results["data"] = data.load_cifar10("test").source
    print(results["machine"])
    for name in only or SECTIONS:
        if name in NEEDS_CIFAR and not data.cifar_available("cifar10"):
            print(f"{name}: skipped, it needs the real CIFAR-10 (make data)")
            continue
        started = time.perf_counter()
        rows = RUNNERS[name]()
        for r in rows:
            mark = {True: "met", False: "MISSED", None: ""}[r["met"]]
            print(f"  {r['what']:<62} {r['measured']!s:>22} {r['unit']:<9} {r['target'] or '':<18} {mark}")
        results["rows"].extend({**r, "section": name} for r in rows)
        print(f"  ({name}: {time.perf_counter() - started:.0f} s)")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {json_path}")
    return results


def record_reference_runs(out) -> None:
    """Record the dashboard's reference curves (main strategies, real CIFAR-100) into `out`."""
    from . import analysis

    analysis.record_reference_runs(out)
