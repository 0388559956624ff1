"""tl_lessons.verdicts: the comparison's arithmetic, and its false-positive rate measured on real probes."""
import math

import pytest
import torch

from tl_lessons import data, transfer_gain, verdicts


def test_the_difference_and_its_standard_error_by_hand():
    a = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]])
    b = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 1]])
    row = verdicts.difference(a, b)
    d = (a - b).float()                                     # rows 0 1 0 0 / 1 0 0 1 / 1 0 0 0
    seed_means, image_means = d.mean(1), d.mean(0)          # 0.25, 0.5, 0.25 and 2/3, 1/3, 0, 1/3
    left = d - seed_means[:, None] - image_means[None, :] + d.mean()
    left_variance = left.pow(2).sum() / (2 * 3)             # (seeds - 1) * (images - 1)
    image_share = max(0.0, image_means.var().item() - left_variance.item() / 3)
    assert row["difference"] == pytest.approx(1 / 3)
    assert row["se"] == pytest.approx(math.sqrt(seed_means.var().item() / 3 + image_share / 4))
    assert 0 < row["df"] <= 2                               # never more than the seeds give
    assert row["accuracy_a"] == pytest.approx(0.75) and row["accuracy_b"] == pytest.approx(5 / 12)


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
    first = {"difference": 0.15, "se": 0.03, "df": 40, "seeds": 5, "images": 100}
    second = {"difference": 0.0, "se": 0.04, "df": 40, "seeds": 5, "images": 100}
    row = verdicts.contrast(first, second)
    assert row["se"] == pytest.approx(0.05)
    assert row["real"]  # 0.15 / 0.05 = 3 standard errors, with about 80 degrees of freedom


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


def test_on_simulated_runs_the_comparison_holds_five_percent_where_a_test_over_images_does_not():
    # Simulated pairs of one setting: each run's luck (its seed) moves all its images together. The measured
    # rate must be within 2 standard errors of the measurement above 5 % (1,000 repeats: 0.7 points);
    # a test over one run's images must fail the same measurement by far.
    generator = torch.Generator().manual_seed(1)

    def draw(_):
        difficulty = torch.randn(300, generator=generator)

        def runs():
            luck = torch.randn(2, 1, generator=generator) * 0.5
            return (torch.rand(2, 300, generator=generator) < torch.sigmoid(difficulty + luck)).float()
        return runs(), runs()

    repeats = 1000
    rates = verdicts.calibrate(draw, repeats)
    margin = 2 * math.sqrt(verdicts.ALPHA * (1 - verdicts.ALPHA) / repeats)
    assert rates["this kit's comparison"] <= verdicts.ALPHA + margin
    assert rates["one run each, test over images"] > 4 * verdicts.ALPHA
