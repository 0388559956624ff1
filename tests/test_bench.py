"""`python -m tl_lessons bench`: its measurements are what they claim to be.

The figures themselves are judged by running the benchmark on the real CIFAR-10 (README,
Performance); here, on small synthetic sets, that the machinery measures the right thing.
"""
import dataclasses
import json

import pytest
import torch

from tl_lessons import bench, budget, data, environment, hardware, inference, train
from tl_lessons.imageset import ImageSet
from tl_lessons.loader import Loader
from tl_lessons.models import build_model
from tl_lessons.synthetic import make_synthetic


@pytest.fixture(scope="module")
def small():
    """(train, test): 30 and 10 images per class of synthetic10."""
    return make_synthetic(10, "train", n_per_class=30), make_synthetic(10, "test", n_per_class=10)


def test_training_clock_leaves_testing_time_out(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    clock = bench.TrainingClock()
    now[0] += 2.0  # two seconds of training

    def testing():
        now[0] += 5.0  # five seconds of testing
        return "result"

    assert clock.test(testing) == "result"
    now[0] += 1.0  # one more second of training
    assert clock.seconds() == 3.0 and clock.testing == 5.0


@pytest.mark.slow
def test_accuracy_curve_tests_as_often_as_asked_and_ends_with_the_final_model(small):
    train_set, test_set = small
    config = dataclasses.replace(train.PRESETS["tutorial_fast"], epochs=2, batch_size=20)  # 15 steps per epoch
    curve = bench.accuracy_curve(config, train_set, test_set, evals_per_epoch=5)
    # every 3 steps: 10 points over 30 steps, and one more at the end of the run
    assert len(curve) == 11
    seconds = [s for s, _ in curve]
    assert seconds == sorted(seconds) and seconds[0] > 0
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in curve)
    # The same seed trains the same network: its final accuracy is the curve's last point.
    torch.manual_seed(config.seed)
    model = build_model(config.arch, 10)
    train.train(model, train_set, None, config, progress=False)
    assert train.evaluate(model, test_set, mean=train_set.mean, std=train_set.std)[1] == curve[-1][1]


def test_published_pipeline_feeds_the_net_what_the_kit_loader_feeds_it(small):
    """The side-by-side comparison is fair: the tutorial's PIL + ToTensor + Normalize pipeline
    and the kit's loader with mean = std = 0.5 give the network the same numbers."""
    from torchvision import transforms

    train_set, _ = small
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    served = bench.PILImages(train_set, transform)
    kit_x, kit_y = next(iter(Loader(train_set, 8, mean=(0.5,) * 3, std=(0.5,) * 3)))
    for i in range(8):
        x, y = served[i]
        assert y == kit_y[i].item()
        torch.testing.assert_close(x, kit_x[i], atol=1e-6, rtol=0)


def dark_and_bright(n, seed):
    """A two-class set the tutorial's slow recipe learns within a few dozen steps: dark vs bright noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 100, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    images += (labels * 155).view(-1, 1, 1, 1).to(torch.uint8)
    return ImageSet(images, labels, ["dark", "bright"], "toy", "train", "two kinds of noise",
                         (0.5,) * 3, (0.3,) * 3)


@pytest.mark.slow
def test_published_tutorial_trains_its_net_with_worker_processes():
    train_set, test_set = dark_and_bright(200, seed=0), dark_and_bright(100, seed=1)
    curve = bench.published_tutorial_curve(train_set, test_set, evals_per_epoch=5, epochs=2, workers=2)
    assert len(curve) == 10  # 50 batches of 4 per epoch, tested every 10
    assert [s for s, _ in curve] == sorted(s for s, _ in curve)
    assert curve[0][1] < 0.9 and curve[-1][1] == 1.0  # it learns, and the last point is the trained net


@pytest.mark.slow
def test_bench_tutorial_compares_both_tutorial_runs_with_the_kit(small, monkeypatch):
    train_set, test_set = small
    # Keep it short: both tutorial runs on 2 epochs of 300 images, the kit recipe on 3.
    monkeypatch.setitem(train.PRESETS, "tutorial_fast",
                        dataclasses.replace(train.PRESETS["tutorial_fast"], epochs=3, batch_size=20))
    monkeypatch.setattr(bench, "published_tutorial_curve",
                        lambda *args, **kwargs: [(1.0, 0.15), (2.0, 0.25)])
    rows = bench.bench_tutorial(train_set, test_set, evals_per_epoch=3)
    kit, published, preset = rows
    assert kit["target"] == "≥ 65 % in ≤ 30 s" and kit["met"] is False  # synthetic, tiny: far from 65 %
    assert published["seconds"] == 2.0 and published["accuracy"] == 0.25
    reached = train.seconds_to_reach(kit["curve"], 0.25)
    assert published["kit_seconds"] == reached
    assert published["ratio"] == (2.0 / reached if reached else None)
    assert preset["accuracy"] == preset["curve"][-1][1]
    assert preset["seconds"] == train.seconds_to_reach(preset["curve"], preset["accuracy"])


def test_main_writes_the_json_and_skips_what_needs_cifar(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "cifar_available", lambda name, root=None: False)
    monkeypatch.setattr(bench, "measure_loader_throughput", lambda ds, batch_size, augment, seconds: 123_456.0)
    out = tmp_path / "bench.json"
    results = bench.main(json_path=out, only=["loader", "tutorial"])
    printed = capsys.readouterr().out
    assert "tutorial: skipped, it needs the real CIFAR-10" in printed
    written = json.loads(out.read_text())
    assert written["rows"] == json.loads(json.dumps(results["rows"]))
    loader_row = written["rows"][0]
    assert loader_row["measured"] == 123_456 and loader_row["met"] is True and loader_row["section"] == "loader"
    # The versions measured with are recorded beside the numbers (the locked ones after `make install`).
    assert written["versions"]["torch"] == environment.installed_version("torch")
    assert set(written["versions"]) == {"torch", "torchvision", "numpy", "streamlit", "nbval"}


def test_timed_preset_trains_the_preset_and_reports_its_test_accuracy(small, monkeypatch):
    train_set, test_set = small
    monkeypatch.setattr(data, "load_cifar10", lambda split="train": train_set if split == "train" else test_set)
    monkeypatch.setitem(train.PRESETS, "quick", dataclasses.replace(train.PRESETS["quick"], epochs=1))
    result = bench.timed_preset("quick")
    assert result["status"] == "finished" and result["epochs"] == 1 and result["seconds"] > 0
    assert 0.0 <= result["test_acc"] <= 1.0


@pytest.mark.parametrize("quick, full, met", [
    ({"test_acc": 0.81, "seconds": 110}, {"test_acc": 0.93, "share": 0.98}, (True, True, True, True)),
    ({"test_acc": 0.79, "seconds": 100}, {"test_acc": 0.93, "share": 1.01}, (False, False, False, False)),
    ({"test_acc": 0.85, "seconds": 121}, {"test_acc": 0.89, "share": 0.95}, (False, True, True, False)),
])
def test_preset_rows_need_both_the_accuracy_and_the_time(monkeypatch, quick, full, met):
    def timed(preset, minutes=None):
        if preset == "quick":
            return {"preset": preset, **quick}
        return {"preset": preset, "test_acc": full["test_acc"], "with_test_s": full["share"] * minutes * 60,
                "images_per_s": 1000.0, "epochs": minutes}

    monkeypatch.setattr(bench, "timed_preset", timed)
    monkeypatch.setattr(bench, "training_flops_per_image", lambda arch: 3e8)
    rows = bench.bench_presets()
    assert tuple(r["met"] for r in rows) == met
    assert [r["target"] for r in rows] == ["≥ 80% in ≤ 120 s", "≤ 120 s", "≤ 300 s", "≥ 92% in ≤ 600 s"]
    assert "1,000 images/s (0.30 TFLOP/s)" in rows[3]["measured"] and rows[3]["flops_per_image"] == 3e8


@pytest.mark.slow
def test_timed_preset_within_a_budget_plans_first_and_tests_with_the_views(small, monkeypatch):
    train_set, test_set = small
    monkeypatch.setattr(data, "load_cifar10", lambda split="train": train_set if split == "train" else test_set)
    planned = {}

    def plan(config, train_set, test_images, budget_s, spent_s):
        planned["budget_s"] = budget_s
        return dataclasses.replace(config, arch="tutorialnet", epochs=1, whiten_stem=False), "It fits."

    monkeypatch.setattr(budget, "plan_run", plan)
    evaluate = inference.evaluate
    monkeypatch.setattr(inference, "evaluate", lambda *a, **k: planned.update(views=k["views"]) or evaluate(*a, **k))
    result = bench.timed_preset("full", minutes=2)
    assert planned["budget_s"] == 120 and result["plan"] == "It fits." and result["epochs"] == 1
    assert planned["views"] == "flip_and_shift"
    assert result["with_test_s"] >= result["seconds"] > 0 and result["images_per_s"] > 0


def test_probe_row_times_a_linear_probe_on_cached_features(monkeypatch):
    monkeypatch.setattr(data, "cifar_available", lambda name, root=None: False)
    monkeypatch.setattr(data, "load_dataset", lambda name: make_synthetic(10, "train", n_per_class=50))
    (probe,) = bench.bench_probe()
    assert probe["status"] == "finished" and probe["unit"] == "s" and probe["measured"] > 0
    assert "500 images" in probe["what"]  # whether it meets its target is the benchmark's to judge


@pytest.mark.parametrize("bf16, channels_last", [(False, False), (True, True)])
def test_training_throughput_trains_in_the_asked_precision_and_layout(bf16, channels_last):
    model = build_model("tutorialnet", 10)
    before = model.head.fc.weight.detach().clone()
    rate = bench.training_throughput(model, make_synthetic(10, "train", n_per_class=20), batch_size=50,
                                     seconds=0.2, bf16=bf16, channels_last=channels_last)
    assert rate > 0 and not torch.equal(before, model.head.fc.weight)
    assert model.conv1.conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.slow
def test_model_rows_add_the_presets_settings_where_auto_turns_them_on(monkeypatch):
    asked = []
    monkeypatch.setattr(bench, "training_throughput",
                        lambda model, ds, seconds, bf16, channels_last: asked.append((bf16, channels_last)) or 100.0)
    monkeypatch.setattr(hardware, "use_bf16", lambda config, device: True)
    rows = bench.bench_models()
    assert [r["what"] for r in rows[:2]] == ["training tutorialnet, float32", "training tutorialnet, bf16 + channels-last"]
    assert asked == [(False, False), (True, True)] * 3
    monkeypatch.setattr(hardware, "use_bf16", lambda config, device: False)
    monkeypatch.setattr(hardware, "use_channels_last", lambda config, device: False)
    asked.clear()
    assert [r["what"] for r in bench.bench_models()] == [
        f"training {arch}, float32" for arch in ("tutorialnet", "fastnet", "resnet18")]


@pytest.mark.slow
def test_measure_stop_latency_stops_each_run_mid_training():
    """How fast is the benchmark's to judge; here, that each repeat was stopped (it raises otherwise) and timed."""
    measured = bench.measure_stop_latency(dataset="synthetic10", per_class=10, repeats=2, stop_after=0.0)
    assert len(measured["stop_runs_s"]) == 2 and "stopped mid-epoch" in measured["run"]


@pytest.mark.slow
def test_measure_overhead_trains_the_same_run_headless_and_watched():
    """The figures are the benchmark's to judge (`bench --only app`); here, that both kinds ran and were measured."""
    measured = bench.measure_overhead(dataset="synthetic10", per_class=10, epochs=2, repeats=1)
    assert len(measured["headless_runs_s"]) == len(measured["app_runs_s"]) == 1
    assert measured["first_point_s"] is not None and measured["page_cpu_share"] > 0  # the page polled and drew


@pytest.mark.browser
@pytest.mark.slow
def test_the_first_points_are_timed_in_a_real_browser_and_the_time_is_split(chromium_path, real_cifar_root, monkeypatch):
    """The bench's browser section end to end: the dashboard on the real data, Chromium presses Train once."""
    from tl_lessons import bench_browser

    monkeypatch.setenv("TL_LESSONS_DATA", str(real_cifar_root))
    measured = bench_browser.measure_first_points(repeats=1, chromium=chromium_path)
    run = measured["runs"][0]
    assert measured["first_point_s"] == run["first_point_s"] > 0
    assert measured["first_training_point_s"] == run["first_training_point_s"] > 0
    # Where the time went, from the run the server stored: its parts add up to the training point.
    assert run["to_start_s"] > 0 and run["start_to_step_s"] > 0
    assert run["to_start_s"] + run["start_to_step_s"] + run["step_to_screen_s"] == pytest.approx(
        run["first_training_point_s"])
