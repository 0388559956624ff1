"""How long a learner waits after turning each knob of `tl_lessons.widgets` (docs/widgets.md quotes it).

A wait is the callback and the new picture as a PNG, which is what the notebook then shows.
The chapter 01 browser runs on the whole CIFAR-10 training split (50,000 images) when it is on disk.

    TL_LESSONS_DATA=/path/to/data python docs/experiments/widget_timings.py
"""
import json
import time
from pathlib import Path

import torch

from tl_lessons import data, train, widgets
from tl_lessons.checkpoints import load_source_model

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "recorded_runs.json"


def timed(what: str, action) -> None:
    start = time.perf_counter()
    result = action()
    if isinstance(result, widgets.Explorer):
        result.outputs()
    print(f"{time.perf_counter() - start:8.2f} s  {what}", flush=True)
    return result


def turn(explorer, name: str, value) -> None:
    def action():
        explorer.controls[name].value = value
        if explorer.message:
            raise RuntimeError(explorer.message)
        explorer.outputs()  # the PNG and the text the notebook shows after the change

    timed(f"  {name} = {value!r}", action)


def made_up_ladder() -> list[dict]:
    """Three runs shaped like chapter 03's (the numbers are invented: only the drawing is timed)."""
    def run(preset, epochs, seconds, start):
        return {"label": preset, "preset": preset, "test_acc": None,
                "epochs": [{"epoch": e, "elapsed": seconds * e, "val_acc": start + 0.04 * e} for e in range(1, epochs + 1)]}

    return [run("tutorial", 2, 100.0, 0.4), run("tutorial_fast", 6, 5.0, 0.4), run("quick", 8, 30.0, 0.5)]


def main():
    torch.set_num_threads(train.cpu_threads())
    print(f"torch threads: {torch.get_num_threads()}")
    softmax = timed("softmax_explorer()", widgets.softmax_explorer)
    turn(softmax, "temperature", 3.0)
    turn(softmax, "logits", "1, 2, 3, 4, 5")
    check = timed("gradient_check_explorer()", widgets.gradient_check_explorer)
    turn(check, "eps", 1e-9)
    recorded = timed("recorded_runs_explorer(the shipped reference runs)", widgets.recorded_runs_explorer)
    turn(recorded, "strategies", ("scratch", "linear_probe"))
    fixture = timed("recorded_runs_explorer(tests' fixture, 3 seeds)", lambda: widgets.recorded_runs_explorer(json.loads(FIXTURE.read_text())))
    turn(fixture, "k", 1)
    ladder = timed("recipe_ladder(3 made-up runs)", lambda: widgets.recipe_ladder(made_up_ladder()))
    turn(ladder, "recipe", "quick")
    turn(ladder, "x", "epoch")
    if not data.cifar_available("cifar10"):
        print("CIFAR-10 is not on disk: the browser and chapter 03's explorers were not timed")
        return
    test = data.load_dataset("cifar10", "test")
    source = load_source_model()
    results = timed("class_results_explorer(shipped, 10,000 test images)", lambda: widgets.class_results_explorer({"shipped": source}, test))
    turn(results, "show", "accuracy per class")
    top3 = timed("top3_explorer(shipped, 10,000 test images)", lambda: widgets.top3_explorer({"shipped": source}, test))
    turn(top3, "class_name", "cat")
    turn(top3, "mistakes_only", True)
    turn(top3, "number", 10)
    browser = timed("dataset_browser(split='train'): loads and predicts 50,000 images", lambda: widgets.dataset_browser(split="train"))
    turn(browser, "mistakes_only", True)
    turn(browser, "class_name", "cat")
    turn(browser, "seed", 1)
    turn(browser, "count", 48)
    turn(browser, "split", "test")
    turn(browser, "split", "train")
    if data.cifar_available("cifar100"):
        turn(browser, "dataset", "cifar100")
        turn(browser, "superclass", "large_carnivores")


if __name__ == "__main__":
    main()
