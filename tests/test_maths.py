"""The hand-written maths of chapter 02 agrees with PyTorch, with finite differences, and with the theory."""

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from tl_lessons import maths
from tl_lessons.errors import ConfigError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402



@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def random_logits(rows=5, classes=4, scale=3.0, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(rows, classes, generator=generator, dtype=dtype)


# --- softmax and log-softmax -------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_torch_along_any_dim(dim):
    logits = random_logits()
    assert torch.allclose(maths.softmax(logits, dim=dim), torch.softmax(logits, dim=dim), atol=1e-12)
    assert torch.allclose(maths.log_softmax(logits, dim=dim), torch.log_softmax(logits, dim=dim), atol=1e-12)


def test_naive_softmax_overflows_where_the_stable_one_does_not():
    huge = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    assert torch.isnan(maths.naive_softmax(huge)).all()  # inf / inf above, 0 / 0 below
    stable = maths.softmax(huge)
    assert torch.allclose(stable, torch.softmax(huge, dim=-1))
    assert torch.allclose(stable.sum(dim=-1), torch.ones(2))
    # On ordinary logits the two agree: the max trick changes nothing but the overflow.
    small = random_logits(dtype=torch.float32)
    assert torch.allclose(maths.naive_softmax(small), maths.softmax(small), atol=1e-6)


def test_log_softmax_survives_where_log_of_softmax_gives_minus_infinity():
    logits = torch.tensor([0.0, 200.0])
    assert torch.log(maths.softmax(logits))[0] == -math.inf  # exp(-200) underflows float32 to 0
    assert torch.equal(maths.log_softmax(logits), torch.log_softmax(logits, dim=-1))
    assert maths.log_softmax(logits)[0].item() == -200.0


# --- losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_matches_f_cross_entropy(scale):
    logits = random_logits(rows=8, classes=5, scale=scale, dtype=torch.float32)
    targets = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    ours, theirs = maths.cross_entropy(logits, targets), F.cross_entropy(logits, targets)
    assert torch.isfinite(ours)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_cross_entropy_is_minus_log_of_the_true_class_probability():
    logits = torch.tensor([[2.0, 1.0, 0.1]], dtype=torch.float64)
    probs = torch.exp(logits) / torch.exp(logits).sum()
    assert maths.cross_entropy(logits, torch.tensor([1])).item() == pytest.approx(-math.log(probs[0, 1].item()))


def test_feeding_probabilities_to_f_cross_entropy_applies_softmax_twice():
    logits = random_logits(rows=6, classes=3)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    twice = F.cross_entropy(maths.softmax(logits), targets)
    assert not torch.isclose(twice, maths.cross_entropy(logits, targets))
    assert torch.isclose(twice, maths.cross_entropy(maths.softmax(logits), targets))


def test_binary_cross_entropy_matches_torch_in_value_and_gradient():
    probs = torch.tensor([[0.9, 0.2, 0.5], [0.01, 0.7, 0.999]], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    ours = maths.binary_cross_entropy(probs, targets)
    (grad_ours,) = torch.autograd.grad(ours, probs)
    theirs = F.binary_cross_entropy(probs, targets)
    (grad_theirs,) = torch.autograd.grad(theirs, probs)
    assert torch.allclose(ours, theirs, atol=1e-12)
    assert torch.allclose(grad_ours, grad_theirs, atol=1e-10)


def test_binary_cross_entropy_clamps_log_zero_like_torch():
    probs = torch.tensor([0.0, 1.0, 0.0, 1.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert maths.binary_cross_entropy(probs, targets).item() == F.binary_cross_entropy(probs, targets).item() == 50.0


def test_two_class_cross_entropy_is_binary_cross_entropy_of_a_sigmoid():
    logits = random_logits(rows=7, classes=2)
    targets = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    # softmax over two logits gives class 1 the probability sigmoid(z1 - z0).
    prob_class_1 = torch.sigmoid(logits[:, 1] - logits[:, 0])
    bce = maths.binary_cross_entropy(prob_class_1, targets.double())
    assert torch.allclose(maths.cross_entropy(logits, targets), bce, atol=1e-12)


def test_binary_cross_entropy_per_class_on_a_softmax_is_not_cross_entropy():
    logits = torch.tensor([[2.0, 1.0, 0.1]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0])
    one_hot = F.one_hot(target, 3).double()
    ce = maths.cross_entropy(logits, target)
    per_class_bce_sum = 3 * maths.binary_cross_entropy(maths.softmax(logits), one_hot)  # summed over classes
    # It adds -log(1 - p_k) for every wrong class k on top of -log(p_true).
    probs = maths.softmax(logits.detach())
    extra = -torch.log(1 - probs[0, 1:]).sum()
    assert torch.allclose(per_class_bce_sum, ce + extra, atol=1e-12)
    assert per_class_bce_sum.item() > ce.item() + 0.1
    (grad_bce,) = torch.autograd.grad(per_class_bce_sum, logits)
    assert not torch.allclose(grad_bce, probs - one_hot, atol=1e-2)


def test_softmax_squared_error_matches_mse_summed_over_classes():
    logits = random_logits(rows=6, classes=4)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    reference = F.mse_loss(torch.softmax(logits, dim=1), F.one_hot(targets, 4).double(), reduction="sum") / 6
    assert torch.allclose(maths.softmax_squared_error(logits, targets), reference, atol=1e-12)


# --- gradients ---------------------------------------------------------------------------------


def test_cross_entropy_grad_matches_autograd_and_finite_differences():
    logits = random_logits(rows=6, classes=5, seed=3)
    targets = torch.tensor([4, 0, 2, 2, 1, 3])
    ours = maths.cross_entropy_grad(logits, targets)
    leaf = logits.clone().requires_grad_()
    F.cross_entropy(leaf, targets).backward()
    assert torch.allclose(ours, leaf.grad, atol=1e-12)
    numerical = maths.numerical_gradient(lambda z: maths.cross_entropy(z, targets), logits)
    assert torch.allclose(ours, numerical, atol=1e-8)
    assert torch.allclose(ours.sum(dim=1), torch.zeros(6, dtype=torch.float64), atol=1e-12)


def test_cross_entropy_grad_is_finite_for_huge_logits():
    logits = torch.tensor([[1000.0, -1000.0, 0.0]])
    grad = maths.cross_entropy_grad(logits, torch.tensor([1]))
    assert torch.allclose(grad, torch.tensor([[1.0, -1.0, 0.0]]))


def test_numerical_gradient_of_a_known_function_and_leaves_input_alone():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    before = x.clone()
    grad = maths.numerical_gradient(lambda t: (t**3).sum() + t[0, 1] * t[1, 0], x)
    expected = 3 * before**2 + torch.tensor([[0.0, 0.5], [-2.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(grad, expected, atol=1e-6)
    assert torch.equal(x, before)


def test_squared_error_gradient_vanishes_for_confidently_wrong_predictions_but_cross_entropy_does_not():
    for num_classes in (2, 10):
        for margin in (0.0, 3.0, 12.0):
            probs = maths.softmax(maths.confidently_wrong_logits(margin, num_classes))[0]
            p_true = probs[0].item()
            ce = maths.gradient_on_true_logit(maths.cross_entropy, margin, num_classes)
            assert ce == pytest.approx(p_true - 1, abs=1e-12)
            # d/dz_0 of sum_k (p_k - q_k)^2, with dp_k/dz_0 = p_k (delta_k0 - p_0):
            one_hot = F.one_hot(torch.tensor(0), num_classes).double()
            expected_se = 2 * p_true * ((p_true - 1) - ((probs - one_hot) * probs).sum().item())
            se = maths.gradient_on_true_logit(maths.softmax_squared_error, margin, num_classes)
            assert se == pytest.approx(expected_se, abs=1e-12)
        assert abs(ce) > 0.99 and abs(se) < 1e-4  # at margin 12


# --- gradient descent --------------------------------------------------------------------------


def test_momentum_step_follows_torch_optim_sgd_on_a_quadratic():
    matrix = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    start = torch.tensor([1.0, -2.0], dtype=torch.float64)
    path = maths.gradient_descent(lambda p: matrix @ p, start, lr=0.1, momentum=0.9, steps=30)
    param = start.clone().requires_grad_()
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    for step in range(1, 31):
        optimizer.zero_grad()
        (0.5 * param @ matrix @ param).backward()
        optimizer.step()
        assert torch.allclose(path[step], param.detach(), atol=1e-12)


def quadratic_and_curvature(seed=0):
    """A random positive-definite quadratic 0.5 p^T A p, its gradient, and L = its largest curvature."""
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(2, 2, generator=generator, dtype=torch.float64))
    matrix = basis @ torch.diag(torch.tensor([0.7, 9.0], dtype=torch.float64)) @ basis.T
    return (lambda p: matrix @ p), torch.linalg.eigvalsh(matrix).max().item()


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_gradient_descent_converges_below_the_stability_limit_and_diverges_above(momentum):
    grad_fn, curvature = quadratic_and_curvature()
    # Along an eigendirection with curvature L the heavy-ball recursion is
    # p_{t+1} = (1 + momentum - lr L) p_t - momentum p_{t-1}, stable iff 0 < lr L < 2 (1 + momentum).
    limit = 2 * (1 + momentum) / curvature
    start = [1.0, 1.0]
    below = maths.gradient_descent(grad_fn, start, lr=0.9 * limit, momentum=momentum, steps=2000)
    above = maths.gradient_descent(grad_fn, start, lr=1.1 * limit, momentum=momentum, steps=2000)
    assert below[-1].norm() < 1e-6
    assert not torch.isfinite(above[-1]).all() or above[-1].norm() > 1e6


def test_gradient_descent_stops_when_the_point_is_no_longer_finite():
    path = maths.gradient_descent(maths.SURFACES["banana"].grad, (-1.5, 2.5), lr=0.5, steps=1000)
    assert len(path) < 1001
    assert not torch.isfinite(path[-1]).all()
    assert torch.isfinite(path[:-1]).all()


@pytest.mark.parametrize("name", list(maths.SURFACES))
def test_surface_gradients_match_autograd_and_minima_are_stationary(name):
    surface = maths.SURFACES[name]
    generator = torch.Generator().manual_seed(1)
    for point in torch.randn(5, 2, generator=generator, dtype=torch.float64):
        leaf = point.clone().requires_grad_()
        surface.loss(leaf[0], leaf[1]).backward()
        assert torch.allclose(surface.grad(point), leaf.grad, atol=1e-10)
    for minimum in surface.minima:
        assert surface.grad(torch.tensor(minimum, dtype=torch.float64)).norm() == 0
        assert min(maths.hessian_eigenvalues(surface, minimum)) > 0  # a real minimum, not a saddle


def test_hessian_eigenvalues_match_finite_differences_of_the_gradient():
    surface = maths.SURFACES["banana"]
    point = torch.tensor([1.0, 1.0], dtype=torch.float64)
    columns = [maths.numerical_gradient(lambda p: surface.grad(p)[i], point) for i in range(2)]
    hessian = torch.stack(columns)
    assert maths.hessian_eigenvalues(surface, (1.0, 1.0)) == pytest.approx(torch.linalg.eigvalsh(hessian).tolist(), rel=1e-6)


def test_explore_descent_verdicts_follow_the_bowl_curvature():
    shallow, steep = maths.hessian_eigenvalues(maths.SURFACES["bowl"], (0.0, 0.0))
    limit = 2 / steep
    # At 2 / (shallow + steep) both directions shrink by (steep - shallow) / (steep + shallow) per step.
    best = maths.explore_descent(lr=2 / (shallow + steep), steps=300, show=False)
    at_limit = maths.explore_descent(lr=limit, steps=300, show=False)
    beyond = maths.explore_descent(lr=1.05 * limit, steps=300, show=False)
    assert best["verdict"] == "converged" and best["final_loss"] < 1e-12
    assert at_limit["verdict"] == "oscillating"  # the steep direction flips sign and never shrinks
    assert beyond["verdict"] == "diverged"
    assert maths.explore_descent(lr=1e-3, show=False)["verdict"] == "slow"


def test_descent_stalls_on_the_saddle_point_when_started_on_its_ridge():
    on_ridge = maths.explore_descent(lr=0.5, x0=1.5, y0=0.0, surface="saddle", steps=200, show=False)
    assert on_ridge["verdict"] == "stuck" and on_ridge["final_loss"] == pytest.approx(0.0, abs=1e-12)
    nudged = maths.explore_descent(lr=0.5, x0=1.5, y0=1e-3, surface="saddle", steps=200, show=False)
    assert nudged["verdict"] == "converged" and nudged["final_loss"] == pytest.approx(-0.25)


def test_explore_descent_draws_a_figure_and_unknown_surfaces_are_a_config_error():
    before = len(plt.get_fignums())
    summary = maths.explore_descent(lr=0.01, momentum=0.9, surface="banana", show=True)
    assert set(summary) == {"steps", "final_loss", "distance_to_minimum", "verdict"}
    assert len(plt.get_fignums()) == before + 1
    with pytest.raises(ConfigError, match="bowl"):
        maths.explore_descent(surface="volcano", show=False)


def test_descent_explorer_shows_explore_descent_and_its_first_view_is_static():
    explorer = maths.descent_explorer()
    descriptions = {control.description for control in explorer.controls.values()}
    assert {"learning rate", "momentum", "start x", "start y", "surface", "steps"} <= descriptions
    assert explorer.view.numbers == maths.explore_descent(lr=0.05, show=False)
    explorer.controls["lr"].value = 0.02  # redraws with explore_descent's numbers
    assert explorer.view.numbers == maths.explore_descent(lr=0.02, show=False)
    explorer.controls["surface"].value = "saddle"  # the start point follows the surface, in one redraw
    assert (explorer.controls["x0"].value, explorer.controls["y0"].value) == maths.SURFACES["saddle"].start
    assert explorer.view.numbers == maths.explore_descent(lr=0.02, surface="saddle", show=False)
    # Its first view is an ordinary figure and text (what a static copy of the chapter shows).
    figure, text = explorer.outputs()
    assert "image/png" in figure and "saddle" in figure["text/plain"]
    assert explorer.view.numbers["verdict"] in text["text/plain"]


# --- mini-batch noise --------------------------------------------------------------------------


def test_gradient_noise_formula_matches_sampling():
    X, y = maths.make_regression(n=64, seed=2)
    w = torch.tensor([0.5, 0.5], dtype=torch.float64)
    full = maths.mse_grad(X, y, w)
    generator = torch.Generator().manual_seed(0)
    for batch_size in (1, 8):
        draws = [maths.mse_grad(X[b], y[b], w) for b in (torch.randperm(64, generator=generator)[:batch_size] for _ in range(4000))]
        sampled = math.sqrt(torch.stack([(g - full).pow(2).sum() for g in draws]).mean().item())
        assert maths.gradient_noise(X, y, w, batch_size) == pytest.approx(sampled, rel=0.05)
    assert maths.gradient_noise(X, y, w, 64) == 0.0


def test_full_batch_sgd_is_gradient_descent_and_small_batches_stay_above_the_minimum():
    X, y = maths.make_regression()
    best_w = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    min_loss = maths.mse(X, y, best_w)
    full = maths.sgd_regression(X, y, batch_size=len(y), lr=0.05, steps=300)
    path = maths.gradient_descent(lambda w: maths.mse_grad(X, y, w), [0.0, 0.0], lr=0.05, steps=300)
    assert full[-1].item() == pytest.approx(maths.mse(X, y, path[-1]), abs=1e-10)
    assert full[-1].item() - min_loss < 1e-10
    single = maths.sgd_regression(X, y, batch_size=1, lr=0.05, steps=300, seed=0)
    assert single[-1].item() - min_loss > 1e-4  # the noise floor of a constant learning rate
    assert torch.equal(single, maths.sgd_regression(X, y, batch_size=1, lr=0.05, steps=300, seed=0))
    curves = maths.batch_size_curves(X, y, (1, 16), lr=0.05, steps=50, seeds=3)
    assert curves[1].shape == (3, 51) and torch.equal(curves[1][0], maths.sgd_regression(X, y, 1, 0.05, 50, seed=0))
    maths.plot_batch_size_curves(curves, min_loss)


# --- the tiny model ----------------------------------------------------------------------------


def test_hand_written_mlp_gradients_match_autograd():
    X, y = maths.make_moons(40)
    params = {name: p.double() for name, p in maths.init_mlp(hidden=8).items()}
    loss, grads = maths.mlp_loss_and_grads(params, X.double(), y)
    leaves = {name: p.clone().requires_grad_() for name, p in params.items()}
    F.cross_entropy(maths.mlp_logits(leaves, X.double()), y).backward()
    assert loss.item() == pytest.approx(F.cross_entropy(maths.mlp_logits(params, X.double()), y).item())
    for name in params:
        assert torch.allclose(grads[name], leaves[name].grad, atol=1e-12), name


@pytest.mark.slow
def test_training_by_hand_matches_torch_optim_sgd_step_for_step():
    X, y = maths.make_moons()
    start = maths.init_mlp()
    by_hand, hand_losses = maths.train_mlp_by_hand(start, X, y, lr=0.5, momentum=0.9, steps=100)
    with_torch, torch_losses = maths.train_mlp_with_torch(start, X, y, lr=0.5, momentum=0.9, steps=100)
    assert max((by_hand[n] - with_torch[n]).abs().max().item() for n in start) < 1e-5
    assert hand_losses == pytest.approx(torch_losses, abs=1e-5)
    assert hand_losses[-1] < 0.5 * hand_losses[0]
    assert maths.accuracy(maths.mlp_logits(by_hand, X), y) > 0.85
    assert torch.equal(start["W1"], maths.init_mlp()["W1"])  # training did not modify its input
    maths.plot_decision_regions(by_hand, X, y)


def test_plot_saturation_draws_four_curves():
    fig = maths.plot_saturation(torch.linspace(0, 10, 6))
    assert len(fig.axes[0].lines) == 4


def test_a_path_circling_the_minimum_with_momentum_is_converging_with_oscillation():
    bowl = maths.SURFACES["bowl"]
    circling = maths.explore_descent(lr=0.05, momentum=0.9, show=False)
    assert circling["verdict"] == "converging with oscillation"
    assert circling["distance_to_minimum"] < 0.05 * math.dist(bowl.start, bowl.minima[0])
    # The same swings without shrinking (just under the stability limit, no momentum) stay "oscillating",
    # and a steady walk down is "slow".
    assert maths.explore_descent(lr=0.099, show=False)["verdict"] == "oscillating"
    assert maths.explore_descent(lr=0.05, momentum=0.0, show=False)["verdict"] == "slow"


@pytest.mark.parametrize("lr, momentum", [(0.11, 0.0), (0.04, 0.0), (0.09, 0.0), (0.05, 0.9), (0.12, 0.5)])
def test_the_step_factor_is_how_much_each_step_multiplies_the_distance(lr, momentum):
    """The formula against the walk itself: along the bowl's steep direction (curvature 20), from (0, 1)."""
    bowl = maths.SURFACES["bowl"]
    path = maths.gradient_descent(bowl.grad, (0.0, 1.0), lr=lr, momentum=momentum, steps=200)
    # Over many steps the distance shrinks (or grows) by the factor per step, on average.
    distances = path[:, 1].abs()
    window = distances[150:200]
    measured = (window.max() / distances[100:150].max()).item() ** (1 / 50)
    assert maths.step_factor(lr, 20.0, momentum) == pytest.approx(measured, rel=0.05)
    assert (maths.step_factor(lr, 20.0, momentum) > 1) == (maths.summarise_descent(bowl, path)["verdict"] == "diverged")


def test_a_path_that_leaves_the_map_says_at_which_step():
    bowl = maths.SURFACES["bowl"]
    assert maths.left_the_map(bowl, maths.gradient_descent(bowl.grad, bowl.start, lr=0.05)) is None
    path = maths.gradient_descent(bowl.grad, (-4.0, 1.5), lr=0.11)
    step = maths.left_the_map(bowl, path)
    assert abs(path[step, 1]) > bowl.ylim[1] and abs(path[step - 1, 1]) <= bowl.ylim[1]
