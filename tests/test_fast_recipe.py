"""The full recipe's pieces: the whitened stem, the rates of BatchNorm's scale and shift, lookahead averaging."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import fast_recipe, transfer
from tl_lessons.errors import ConfigError
from tl_lessons.loader import normalise
from tl_lessons.models import build_model
from tl_lessons.synthetic import make_synthetic
from tl_lessons.train import PRESETS, fit, make_optimizer


@pytest.fixture(scope="module")
def images():
    return make_synthetic(10, "train", n_per_class=20)


def second_moment(outputs: torch.Tensor) -> torch.Tensor:
    """The channels' second-moment matrix over every image and position of (N, C, H, W) outputs."""
    flat = outputs.double().transpose(0, 1).reshape(outputs.shape[1], -1)
    return flat @ flat.T / flat.shape[1]


def test_the_whitened_stem_makes_the_training_patches_white(images):
    model = build_model("airbench", 10)
    fast_recipe.whiten_stem(model, images, images.mean, images.std)
    x = normalise(images.images[:fast_recipe.WHITENING_IMAGES], images.mean, images.std)
    with torch.no_grad():
        outputs = model.stem.conv(x)                     # before the activation; the bias is 0
    moment = second_moment(outputs)
    # The 12 directions of a 3 x 2 x 2 patch come out uncorrelated and of size 1 (the eps added to each
    # eigenvalue keeps them a little under 1); the other 12 filters are their negatives.
    torch.testing.assert_close(moment[:12, :12], torch.eye(12, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(moment[12:, :12], -moment[:12, :12])
    assert not torch.allclose(second_moment(x), torch.eye(3, dtype=torch.float64), atol=0.02)  # the pixels were not


def test_whitening_without_eps_is_exact():
    torch.manual_seed(0)
    mixing = torch.randn(3, 3)
    x = torch.einsum("ij,njhw->nihw", mixing, torch.randn(50, 3, 8, 8))   # correlated channels
    outputs = F.conv2d(x, fast_recipe.whitening_filters(x, kernel_size=2, eps=0.0))
    torch.testing.assert_close(second_moment(outputs)[:12, :12], torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)


def test_lookahead_follows_its_rule_by_hand():
    norm = nn.BatchNorm1d(1)      # a weight and a running statistic: both are averaged
    weight, running_mean = norm.weight, norm.running_mean
    lookahead = fast_recipe.Lookahead(norm, every=2, keep_per_step=0.9)
    trajectory = {1: 2.0, 2: 3.0, 3: 5.0, 4: 7.0}    # what the optimiser made of the weight after each step
    for step, value in trajectory.items():
        with torch.no_grad():
            weight.fill_(value)
            running_mean.fill_(-value)
        lookahead.after_step(step, total_steps=4)
        if step == 1:
            assert weight.item() == 2.0              # not a multiple of `every`: untouched
    # step 2: keep = 0.9 ** 2 * (2 / 4) ** 3 = 0.10125; average = 0.10125 * 1 (the start) + 0.89875 * 3 = 2.79750
    # step 4: keep = 0.9 ** 2 * (4 / 4) ** 3 = 0.81;    average = 0.81 * 2.79750 + 0.19 * 7 = 3.595975
    assert weight.item() == pytest.approx(3.595975)
    # The running mean started at 0: 0.89875 * -3 = -2.69625, then 0.81 * -2.69625 + 0.19 * -7 = -3.5139625
    assert running_mean.item() == pytest.approx(-3.5139625)


def test_recipe_rates_hold_the_scales_and_the_stem_and_speed_up_the_shifts():
    model = build_model("airbench", 10)
    config = PRESETS["full"]
    groups = fast_recipe.recipe_param_groups(model, transfer.param_groups(model, None, config.lr), config)
    held = {id(p) for g in groups if g.get("part") == "held still" for p in g["params"]}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert held == {id(m.weight) for m in norms} | {id(model.stem.conv.weight)}
    assert all(g["lr"] == 0 and g["weight_decay"] == 0 for g in groups if g.get("part") == "held still")
    shifts = [g for g in groups if g.get("part") == "batchnorm shift"]
    assert {id(p) for g in shifts for p in g["params"]} == {id(m.bias) for m in norms}
    assert all(g["lr"] == config.lr * 64 for g in shifts)
    assert all(g["weight_decay"] == pytest.approx(config.weight_decay / 64) for g in shifts)
    # Every parameter in exactly one group: nothing lost, nothing twice.
    in_groups = [id(p) for g in groups for p in g["params"]]
    assert sorted(in_groups) == sorted(id(p) for p in model.parameters())
    plain = transfer.param_groups(model, None, 0.4)
    assert fast_recipe.recipe_param_groups(model, plain, PRESETS["quick"]) is plain


@pytest.mark.slow
def test_training_with_the_recipe_keeps_the_whitened_stem_and_the_scales_and_moves_the_shifts(images):
    torch.manual_seed(0)
    model = build_model("airbench", 10)
    config = dataclasses.replace(PRESETS["full"], epochs=1, batch_size=50, bf16=False)
    fast_recipe.whiten_stem(model, images, images.mean, images.std)
    stem, scales, shifts = (model.stem.conv.weight.clone(), model.stage1.bn1.weight.clone(),
                            model.stage1.bn1.bias.clone())
    for _ in fit(model, images, None, config):
        pass
    assert torch.equal(model.stem.conv.weight, stem) and torch.equal(model.stage1.bn1.weight, scales)
    assert not torch.equal(model.stage1.bn1.bias, shifts)


def test_whitening_is_refused_where_it_would_overwrite_or_cannot_fit(images):
    assert "turn whiten_stem off" in fast_recipe.recipe_problems(build_model("fastnet", 10), PRESETS["full"], None)[0]
    model = build_model("airbench", 10)
    strategy = transfer.apply_strategy(model, "finetune")
    assert "only to train from scratch" in fast_recipe.recipe_problems(model, PRESETS["full"], strategy)[0]
    assert fast_recipe.recipe_problems(model, PRESETS["full"], transfer.apply_strategy(model, "scratch")) == []
    with pytest.raises(ConfigError, match="from scratch"):
        next(fit(model, images, None, PRESETS["full"], strategy=strategy))


def test_the_optimizer_of_the_full_recipe_has_its_groups():
    model = build_model("airbench", 10)
    optimizer = make_optimizer(model, None, PRESETS["full"])
    assert {group.get("part", "the rest") for group in optimizer.param_groups} == {"held still", "batchnorm shift",
                                                                                    "the rest"}
    assert optimizer.defaults["momentum"] == 0.85
