"""tl_lessons.verdicts: the comparison's arithmetic, and its false-positive rate measured on real probes."""
import math

import pytest
import torch
from scipy import stats

from tl_lessons import data, transfer_gain, verdicts


def test_the_difference_and_its_standard_error_by_hand():
    a = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]])
    b = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 1]])
    row = verdicts.difference(a, b)
    d = (a - b).float()                                     # rows 0 1 0 0 / 1 0 0 1 / 1 0 0 0
    rows = 4 * d.mean(1).var().item()                       # images x the variance of the row means
    columns = 3 * d.mean(0).var().item()                    # seeds x the variance of the column means
    left = (d - d.mean(1, keepdim=True) - d.mean(0, keepdim=True) + d.mean()).pow(2).sum().item() / (2 * 3)
    assert columns < left                                   # the images differ no more than luck: rows alone
    assert row["difference"] == pytest.approx(1 / 3)
    assert row["se"] == pytest.approx(math.sqrt(rows / 12))
    assert row["parts"] == [pytest.approx((rows / 12, 2))]  # the seeds' part alone, with seeds - 1 degrees of freedom
    assert verdicts.critical(row) == pytest.approx(stats.t.ppf(0.975, 2))  # then it is a paired t-test over seeds
    assert row["accuracy_a"] == pytest.approx(0.75) and row["accuracy_b"] == pytest.approx(5 / 12)


def test_settings_that_answer_other_images_differently_count_the_images_sampling():
    # A is right on the first 300 images and B on the next 100, on every seed: no seed luck at all, so the
    # uncertainty is the images' sampling alone, with the images' degrees of freedom.
    a = torch.cat([torch.ones(3, 300), torch.zeros(3, 700)], 1)
    b = torch.cat([torch.zeros(3, 300), torch.ones(3, 100), torch.zeros(3, 600)], 1)
    row = verdicts.compare(a, b)
    d = (a - b)[0]
    assert row["se"] == pytest.approx(d.std().item() / math.sqrt(1000), rel=1e-4)
    assert row["df"] == pytest.approx(999, rel=1e-3) and row["real"]
    assert verdicts.critical(row) == pytest.approx(stats.t.ppf(0.975, 999), rel=1e-3)


def test_the_bar_is_each_parts_own_t_weighted_by_its_share_of_the_variance():
    row = verdicts.with_parts({"difference": 0.05}, [(0.0003, 2), (0.0001, 900)])
    assert row["se"] == pytest.approx(0.02)
    bar = (3 * stats.t.ppf(0.975, 2) + stats.t.ppf(0.975, 900)) / 4  # Cochran and Cox
    assert verdicts.critical(row) == pytest.approx(bar)
    assert verdicts.interval(row) == pytest.approx((0.05 - bar * 0.02, 0.05 + bar * 0.02))
    # The p-value is the alpha at which the bar meets the difference: 2.5 standard errors here.
    assert verdicts.critical(row, verdicts.p_value(row)) == pytest.approx(2.5)
    assert verdicts.p_value(row) > 2 * stats.t.sf(2.5, row["df"])  # more cautious than one Welch-Satterthwaite t


def test_one_seed_or_identical_answers_are_never_called_real():
    a = torch.tensor([[1, 1, 1, 0]])
    assert verdicts.compare(a, torch.zeros(1, 4))["real"] is False          # one seed: no measure of the seeds' luck
    same = torch.tensor([[1, 0, 1, 0]] * 3)
    assert verdicts.compare(same, same)["p"] == 1.0


def test_holm_multiplies_the_smallest_p_by_the_number_of_comparisons_and_keeps_the_order():
    assert verdicts.holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert verdicts.holm([0.5, 0.001]) == [0.5, 0.002]


def test_against_a_baseline_gives_each_setting_a_verdict():
    generator = torch.Generator().manual_seed(0)
    base = (torch.rand(5, 400, generator=generator) < 0.3).float()
    better = (torch.rand(5, 400, generator=generator) < 0.7).float()
    alike = (torch.rand(5, 400, generator=generator) < 0.3).float()
    rows = {row["name"]: row for row in verdicts.against({"scratch": base, "better": better, "alike": alike}, "scratch")}
    assert rows["better"]["verdict"] == "above"
    assert rows["alike"]["verdict"] == "within the noise"
    assert "above: real" in verdicts.sentence(rows["better"])


def test_a_contrast_adds_the_two_uncertainties():
    first = verdicts.with_parts({"difference": 0.15, "seeds": 5, "images": 100}, [(0.03 ** 2, 40)])
    second = verdicts.with_parts({"difference": 0.0, "seeds": 5, "images": 100}, [(0.04 ** 2, 40)])
    row = verdicts.contrast(first, second)
    assert row["se"] == pytest.approx(0.05) and row["parts"] == [(0.03 ** 2, 40), (0.04 ** 2, 40)]
    assert row["real"]  # 0.15 / 0.05 = 3 standard errors, each part known from 40 degrees of freedom


@pytest.fixture(scope="module")
def probe_pool(real_cifar_root):
    """The shipped model's features of up to 20 CIFAR-100 training images per class (never the test split)."""
    pool = data.at_most_per_class(data.load_dataset("cifar100", "train", root=real_cifar_root), 20)
    return transfer_gain.probe_features("shipped FastNet", pool), pool.labels, pool.num_classes


@pytest.mark.slow
def test_the_comparison_calls_equal_settings_different_at_most_five_percent_of_the_time(probe_pool):
    features, labels, classes = probe_pool
    rules = {"kit": lambda a, b: verdicts.compare(a, b)["real"]}
    # Two probes of the very same setting, other seeds, on a fresh task draw each time: 300 repeats
    # (the measurement's own standard error is 1.3 points: the rate must be within 2 of them above 5 %).
    repeats = 300
    rates = verdicts.calibrate(lambda r: transfer_gain.probe_pair(features, labels, classes, r, seeds=3), repeats, rules)
    assert rates["kit"] <= verdicts.ALPHA + 2 * math.sqrt(verdicts.ALPHA * (1 - verdicts.ALPHA) / repeats)


@pytest.mark.slow
def test_the_comparison_detects_a_known_real_gap(probe_pool):
    features, labels, classes = probe_pool
    rules = {"kit": lambda a, b: verdicts.compare(a, b)["real"]}
    # Four labels per class against one: a large, real gap. Five seeds, as chapter 05 runs.
    rates = verdicts.calibrate(lambda r: transfer_gain.probe_pair(features, labels, classes, r, seeds=5,
                                                                   per_class=(4, 1)), 40, rules)
    assert rates["kit"] >= 0.8


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_on_simulated_runs_the_comparison_holds_five_percent_where_a_test_over_images_does_not(seeds):
    # Simulated pairs of one setting: each run's luck (its seed) moves all its images together. The measured
    # rate must be within 2 standard errors of the measurement above 5 % (1,000 repeats: 1.4 points);
    # a test over one run's images must fail the same measurement by far.
    repeats = 1000
    rates = verdicts.calibrate(lambda r: verdicts.simulated_pair(r, seeds=seeds), repeats)
    margin = 2 * math.sqrt(verdicts.ALPHA * (1 - verdicts.ALPHA) / repeats)
    assert rates["this kit's comparison"] <= verdicts.ALPHA + margin
    assert rates["one run each, test over images"] > 4 * verdicts.ALPHA


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [3, 5, 8])
def test_two_different_settings_that_are_equally_good_are_called_different_at_most_five_percent_of_the_time(seeds):
    # Each image favours one of the two settings, so the test images' sampling matters; on average neither
    # is better. One t with Welch-Satterthwaite's degrees of freedom called 8 % of such pairs different with
    # 3 seeds; weighting each part's own t (Cochran and Cox) must hold 5 %, within 2 standard errors.
    repeats = 1000
    rates = verdicts.calibrate(lambda r: verdicts.simulated_pair(r, seeds=seeds, luck=0.3, preference=1.0),
                               repeats, {"kit": lambda a, b: verdicts.compare(a, b)["real"]})
    assert rates["kit"] <= verdicts.ALPHA + 2 * math.sqrt(verdicts.ALPHA * (1 - verdicts.ALPHA) / repeats)


def test_reading_a_sweep_names_what_is_above_within_and_below_the_baseline():
    generator = torch.Generator().manual_seed(2)
    rates = {"scratch · lr 0.1 · 5/class": 0.05, "linear probe · bn eval · lr 1 · 5/class": 0.06,
             "freeze k=2 · bn eval · lr 0.3 · 5/class": 0.30}
    runs = [{"label": label, "config": {"seed": seed},
             "test_correct": "".join("1" if x else "0" for x in (torch.rand(500, generator=generator) < p).tolist())}
            for label, p in rates.items() for seed in range(3)]
    short = lambda run: run["label"].split(" · ")[0]
    against = verdicts.read(runs, baseline="scratch", name=short).splitlines()
    assert against[0].startswith("Against scratch (") and "above it, beyond the noise: freeze k=2" in against[0]
    assert "within the noise: linear probe" in against[0]
    assert against[1] == "(3 seeds × 500 test images per setting; 2 comparisons, Holm-corrected.)"
    best = verdicts.read(runs, name=short).splitlines()[0]
    assert best.startswith("Highest test accuracy: freeze k=2") and best.endswith("every other setting is below it, beyond the noise.")
    # runs recorded without their answers are left out, and a reading needs two settings
    assert "no test accuracy to compare" in verdicts.read([{**runs[0], "test_correct": None}])


def test_read_without_a_baseline_says_each_reading_once():
    def run(strategy, seed, answers):
        return {"strategy": strategy, "config": {"seed": seed}, "test_correct": answers}

    best = [run("finetune", seed, "1110" * 50) for seed in range(3)]
    all_below = best + [run(name, seed, "1000" * 50) for name in ("scratch", "probe") for seed in range(3)]
    assert verdicts.read(all_below, name=lambda r: r["strategy"]).splitlines()[0] == (
        "Highest test accuracy: finetune, 75.0 %; every other setting is below it, beyond the noise.")
    mixed = best + [run("scratch", seed, "1000" * 50) for seed in range(3)] + [
        run("probe", seed, "1110" * 50) for seed in range(3)]
    assert verdicts.read(mixed, name=lambda r: r["strategy"]).splitlines()[0] == (
        "Highest test accuracy: finetune, 75.0 %; below it, beyond the noise: scratch; not shown to be worse: probe.")
