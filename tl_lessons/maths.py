"""Chapter 02 by hand: softmax, cross-entropy, their gradients, and gradient descent.

Each function is short enough to read in the notebook, and each has a PyTorch twin that the
tests compare it with: `softmax` with `torch.softmax`, `cross_entropy` with
`F.cross_entropy`, `cross_entropy_grad` with autograd, `momentum_step` with `torch.optim.SGD`.

Shapes: `logits` is (N, K), one row of K class scores per example; `targets` is (N,), the
integer class of each example. The small problems the chapter solves live in `tl_lessons.toy_data`,
and its gradient-descent widget in `tl_lessons.widgets.descent`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from tl_lessons.errors import ConfigError
from tl_lessons.plots import projector_style
from tl_lessons.toy_data import make_moons, make_regression  # noqa: F401  (kept here for the chapter: maths.make_*)

# ---------------------------------------------------------------------------------------------
# Softmax and log-softmax
# ---------------------------------------------------------------------------------------------


def naive_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax straight from the formula exp(z_i) / sum_j exp(z_j); shown only to see it fail.

    float32 `exp` overflows to inf above about 88.7, and inf / inf is nan.

    >>> naive_softmax(torch.tensor([1000.0, 1001.0]))
    tensor([nan, nan])
    """
    exps = torch.exp(logits)
    return exps / exps.sum(dim=dim, keepdim=True)


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Turn logits into probabilities that sum to 1 along `dim`, without overflowing.

    >>> softmax(torch.tensor([1000.0, 1001.0]))
    tensor([0.2689, 0.7311])
    """
    # softmax(z) == softmax(z - c) for any constant c. With c = max(z) the largest exponent
    # is exp(0) = 1, so nothing overflows, and the sum is at least 1, so we never divide by 0.
    shifted = logits - logits.amax(dim=dim, keepdim=True)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(softmax(z)), computed as (z - m) - log(sum(exp(z - m))) with m = max(z).

    Taking the log of `softmax` instead fails when a probability underflows to 0 (log 0 = -inf).

    >>> log_softmax(torch.tensor([0.0, 200.0]))
    tensor([-200.,    0.])
    """
    shifted = logits - logits.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -log(probability given to the true class): what F.cross_entropy computes.

    It takes logits, not probabilities: the softmax happens inside.

    >>> cross_entropy(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    tensor(0.1269)
    """
    log_probs = log_softmax(logits, dim=1)
    true_class_log_probs = log_probs[torch.arange(len(targets)), targets]  # one per row
    return -true_class_log_probs.mean()


def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Gradient of `cross_entropy(logits, targets)` with respect to the logits: (softmax - one-hot) / N.

    >>> cross_entropy_grad(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    tensor([[-0.1192,  0.1192]])
    """
    probs = softmax(logits, dim=1)
    one_hot = F.one_hot(targets, num_classes=logits.shape[1]).to(probs.dtype)
    # The loss is a mean over N examples, so each example's gradient is divided by N.
    return (probs - one_hot) / len(targets)


def binary_cross_entropy(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of -[y log p + (1 - y) log(1 - p)] over every entry: what F.binary_cross_entropy computes.

    Each entry is its own yes/no question with its own probability p (usually a sigmoid output).

    >>> binary_cross_entropy(torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0]))
    tensor(0.1643)
    """
    # log(0) = -inf and 0 * -inf = nan; PyTorch clamps each log at -100, and so do we.
    log_p = torch.log(probs).clamp(min=-100)
    log_not_p = torch.log(1 - probs).clamp(min=-100)
    return -(targets * log_p + (1 - targets) * log_not_p).mean()


def softmax_squared_error(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared distance between softmax(logits) and the one-hot target: summed over classes, mean over the batch.

    This is "MSE for classification" (also called the Brier score), for comparison with cross-entropy.

    >>> softmax_squared_error(torch.tensor([[0.0, 0.0]]), torch.tensor([0]))
    tensor(0.5000)
    """
    probs = softmax(logits, dim=1)
    one_hot = F.one_hot(targets, num_classes=logits.shape[1]).to(probs.dtype)
    return ((probs - one_hot) ** 2).sum(dim=1).mean()


# ---------------------------------------------------------------------------------------------
# Checking gradients
# ---------------------------------------------------------------------------------------------


def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences: df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), one entry at a time.

    Use float64: in float32 the rounding error of f (about 1e-7 of its size), divided by 2 eps,
    is about 0.05 for the default eps, as large as many gradients.

    >>> numerical_gradient(lambda x: (x ** 2).sum(), torch.tensor([3.0], dtype=torch.float64)).round(decimals=6)
    tensor([6.], dtype=torch.float64)
    """
    x = x.detach().clone().contiguous()
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        original = flat_x[i].item()
        flat_x[i] = original + eps
        loss_plus = float(f(x))
        flat_x[i] = original - eps
        loss_minus = float(f(x))
        flat_x[i] = original
        flat_grad[i] = (loss_plus - loss_minus) / (2 * eps)
    return grad


def confidently_wrong_logits(margin: float, num_classes: int = 10) -> torch.Tensor:
    """Logits (1, K) for one example whose true class 0 trails a wrong class 1 by `margin`.

    >>> confidently_wrong_logits(5.0, num_classes=3)
    tensor([[0., 5., 0.]], dtype=torch.float64)
    """
    logits = torch.zeros(1, num_classes, dtype=torch.float64)
    logits[0, 1] = margin
    return logits


def gradient_on_true_logit(loss_fn: Callable, margin: float, num_classes: int = 10) -> float:
    """dL/dz_true for a confidently wrong prediction: how hard `loss_fn` pushes the right answer up.

    >>> round(gradient_on_true_logit(cross_entropy, 0.0, num_classes=2), 3)
    -0.5
    """
    logits = confidently_wrong_logits(margin, num_classes).requires_grad_()
    loss_fn(logits, torch.tensor([0])).backward()
    return logits.grad[0, 0].item()


def plot_saturation(margins, class_counts=(2, 10)):
    """Figure: |dL/dz_true| against how confidently wrong the prediction is, for cross-entropy and squared error.

    >>> fig = plot_saturation(torch.linspace(0, 15, 31))
    """
    with projector_style():  # the projector-sized fonts of the kit's other figures
        fig, ax = plt.subplots(figsize=(7, 4))
        for loss_fn, colour in ((cross_entropy, "tab:blue"), (softmax_squared_error, "tab:red")):
            for num_classes, style in zip(class_counts, ("--", "-")):
                grads = [abs(gradient_on_true_logit(loss_fn, float(m), num_classes)) for m in margins]
                ax.semilogy(margins, grads, style, color=colour, label=f"{loss_fn.__name__}, {num_classes} classes")
        ax.set_xlabel("margin: wrong logit minus true logit")
        ax.set_ylabel("|dL / d(true logit)|")
        ax.set_title("A confidently wrong prediction: cross-entropy keeps pushing, squared error stops")
        ax.legend()
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------------------------


def momentum_step(param, velocity, grad, lr: float, momentum: float):
    """One step of gradient descent with momentum, the rule torch.optim.SGD uses; returns (param, velocity).

        velocity <- momentum * velocity + grad
        param    <- param - lr * velocity

    With momentum = 0 this is plain gradient descent: param - lr * grad.

    >>> momentum_step(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(2.0), lr=0.1, momentum=0.9)
    (tensor(0.8000), tensor(2.))
    """
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def gradient_descent(grad_fn: Callable, start, lr: float, momentum: float = 0.0, steps: int = 100) -> torch.Tensor:
    """Follow theta <- theta - lr * v, v <- momentum * v + grad_fn(theta); return the path, one row per point.

    The path has steps + 1 rows, fewer if the point stops being finite (the run diverged).

    >>> gradient_descent(lambda p: 2 * p, [1.0, 1.0], lr=0.25, steps=2)
    tensor([[1.0000, 1.0000],
            [0.5000, 0.5000],
            [0.2500, 0.2500]], dtype=torch.float64)
    """
    theta = torch.as_tensor(start, dtype=torch.float64)
    velocity = torch.zeros_like(theta)
    path = [theta]
    for _ in range(steps):
        theta, velocity = momentum_step(theta, velocity, grad_fn(theta), lr, momentum)
        path.append(theta)
        if not torch.isfinite(theta).all():
            break
    return torch.stack(path)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: the loss L(x, y), its gradient, its minima and what to draw."""

    name: str
    loss: Callable  # loss(x, y): numbers or tensors of any shape (a grid for contour plots)
    grad: Callable  # grad(point) -> tensor([dL/dx, dL/dy]) for a point tensor([x, y])
    minima: tuple  # ((x, y), ...)
    xlim: tuple
    ylim: tuple
    start: tuple  # the explorer's default start point

    def loss_at(self, point) -> float:
        """The loss at one point (x, y).

        >>> SURFACES["bowl"].loss_at((0.0, 1.0))
        10.0
        """
        return float(self.loss(point[0], point[1]))

    def min_loss(self) -> float:
        """The loss at the minima.

        >>> SURFACES["saddle"].min_loss()
        -0.25
        """
        return self.loss_at(self.minima[0])


def _bowl_loss(x, y):
    # Curvature 1 along x and 20 along y: a valley 20 times steeper across than along.
    return 0.5 * (x**2 + 20 * y**2)


def _bowl_grad(point):
    x, y = point
    return torch.stack((x, 20 * y))


def _banana_loss(x, y):
    # Rosenbrock's function with 10 instead of the usual 100: a curved, flat-bottomed valley.
    return (1 - x) ** 2 + 10 * (y - x**2) ** 2


def _banana_grad(point):
    x, y = point
    return torch.stack((-2 * (1 - x) - 40 * x * (y - x**2), 20 * (y - x**2)))


def _saddle_loss(x, y):
    # A saddle point at (0, 0) (the gradient is zero there) between two minima at (0, -1) and (0, 1).
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


def _saddle_grad(point):
    x, y = point
    return torch.stack((x, y**3 - y))


SURFACES = {
    "bowl": Surface("elongated bowl", _bowl_loss, _bowl_grad, ((0.0, 0.0),), (-4.5, 4.5), (-2.0, 2.0), (-4.0, 1.5)),
    "banana": Surface("banana valley", _banana_loss, _banana_grad, ((1.0, 1.0),), (-2.0, 2.0), (-1.0, 3.0), (-1.2, 1.0)),
    "saddle": Surface("saddle", _saddle_loss, _saddle_grad, ((0.0, -1.0), (0.0, 1.0)), (-2.0, 2.0), (-2.0, 2.0), (1.5, 0.01)),
}


def get_surface(name: str) -> Surface:
    """The surface called `name` (one of SURFACES).

    >>> get_surface("bowl").name
    'elongated bowl'
    """
    if name not in SURFACES:
        raise ConfigError(f"There is no surface called {name!r}: choose one of {', '.join(SURFACES)}.")
    return SURFACES[name]


def hessian_eigenvalues(surface: Surface, point) -> list[float]:
    """The curvatures of `surface` at `point`: eigenvalues of the Hessian, smallest first.

    Plain gradient descent is stable near a minimum only if lr < 2 / (largest curvature).

    >>> [round(value, 4) for value in hessian_eigenvalues(SURFACES["bowl"], (0.0, 0.0))]
    [1.0, 20.0]
    """
    hessian = torch.autograd.functional.hessian(lambda p: surface.loss(p[0], p[1]), torch.tensor(point, dtype=torch.float64))
    return torch.linalg.eigvalsh(hessian).tolist()


def summarise_descent(surface: Surface, path: torch.Tensor) -> dict:
    """Numbers that describe a gradient-descent path on `surface`, and a verdict in a few words.

    Verdicts: "diverged" (ended higher than it started, or not finite), "converged" (within 1e-3 of
    a minimum), "stuck" (gradient ~0 away from any minimum: a saddle point), "oscillating" (it keeps
    swinging across the valley without getting much closer), "converging with oscillation" (it
    swings or circles around the minimum, but its distance to it at least halves within
    `SWING_WINDOW` steps: what momentum does), "slow" (still going downhill, steadily). A path
    swings when most of its last steps reverse the previous one, or when its distance to the
    minimum grows again in at least one step in five.

    >>> summarise_descent(SURFACES["bowl"], gradient_descent(SURFACES["bowl"].grad, (1.0, 1.0), lr=0.09))["verdict"]
    'converged'
    >>> summarise_descent(SURFACES["bowl"], gradient_descent(SURFACES["bowl"].grad, (-4, 1.5), lr=0.05, momentum=0.9))["verdict"]
    'converging with oscillation'
    """
    losses = surface.loss(path[:, 0], path[:, 1])
    distances = torch.cdist(path, torch.tensor(surface.minima, dtype=path.dtype)).min(dim=1).values
    distance = distances[-1].item()
    steps = path[1:] - path[:-1]
    recent = steps[-20:]
    reversals = ((recent[1:] * recent[:-1]).sum(dim=1) < 0).float().mean().item() if len(recent) > 1 else 0.0
    recent_distances = distances[-20:]
    rises = (recent_distances[1:] > recent_distances[:-1]).float().mean().item() if len(recent_distances) > 1 else 0.0
    window = min(SWING_WINDOW, len(distances) // 2)
    shrinking = window > 0 and distances[-window:].max() <= 0.5 * distances[-2 * window : -window].max()
    final_loss = losses[-1].item()
    if not math.isfinite(final_loss) or final_loss > losses[0].item():
        verdict = "diverged"
    elif distance < 1e-3:
        verdict = "converged"
    elif surface.grad(path[-1]).norm().item() < 1e-6:
        verdict = "stuck"
    elif reversals > 0.5 or rises >= 0.2:
        verdict = "converging with oscillation" if shrinking else "oscillating"
    else:
        verdict = "slow"
    return {"steps": len(path) - 1, "final_loss": final_loss, "distance_to_minimum": distance, "verdict": verdict}


# A swinging path converges when its distance to the minimum at least halves within this many steps.
SWING_WINDOW = 25


def step_factor(lr: float, curvature: float, momentum: float = 0.0) -> float:
    """How much one step multiplies the distance to the minimum, near it, along a direction of this curvature.

    Near a minimum the loss is a bowl, L = curvature * x**2 / 2, and plain descent moves x to
    x - lr * curvature * x = (1 - lr * curvature) * x. So each step multiplies the distance by
    |1 - lr * curvature|: below 1 the path closes in (the smaller, the faster), above 1 every step
    overshoots by more than the one before: divergence. With momentum a step also carries the
    previous one along, and the factor is the largest |eigenvalue| of the update of
    (position, previous position): x_next = (1 + momentum - lr * curvature) * x - momentum * x_previous.

    >>> [round(step_factor(lr, 20.0, momentum), 4) for lr, momentum in ((0.5, 0.0), (0.05, 0.0), (0.05, 0.9))]
    [9.0, 0.0, 0.9487]
    """
    update = torch.tensor([[1 + momentum - lr * curvature, -momentum], [1.0, 0.0]], dtype=torch.float64)
    return torch.linalg.eigvals(update).abs().max().item()


def left_the_map(surface: Surface, path: torch.Tensor) -> int | None:
    """The first step at which the path is outside the surface's drawn map (None when it stays on it).

    >>> left_the_map(SURFACES["bowl"], gradient_descent(SURFACES["bowl"].grad, (-4.0, 1.5), lr=0.11))
    2
    """
    (x_low, x_high), (y_low, y_high) = surface.xlim, surface.ylim
    outside = (path[:, 0] < x_low) | (path[:, 0] > x_high) | (path[:, 1] < y_low) | (path[:, 1] > y_high)
    outside |= ~torch.isfinite(path).all(dim=1)
    return int(outside.nonzero()[0]) if outside.any() else None


def plot_descent(surface: Surface, paths: dict):
    """Figure: contours of `surface` with each path drawn on it, and each path's loss above the minimum per step.

    >>> fig = plot_descent(SURFACES["bowl"], {"lr 0.05": gradient_descent(SURFACES["bowl"].grad, (-4, 1.5), lr=0.05)})
    """
    with projector_style():  # the projector-sized fonts of the kit's other figures
        fig, (ax_map, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
        xs = torch.linspace(*surface.xlim, 200, dtype=torch.float64)
        ys = torch.linspace(*surface.ylim, 200, dtype=torch.float64)
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
        height = surface.loss(grid_x, grid_y) - surface.min_loss()
        # Log-spaced contour levels: the interesting part of a valley is its nearly flat floor.
        levels = torch.logspace(-2, math.log10(height.max().item()), 20)
        ax_map.contour(grid_x, grid_y, height, levels=levels, cmap="viridis", linewidths=0.8)
        for label, path in paths.items():
            line = ax_map.plot(path[:, 0], path[:, 1], ".-", markersize=3, linewidth=1, label=label)[0]
            ax_map.plot(path[0, 0], path[0, 1], "o", color=line.get_color())
            above_min = (surface.loss(path[:, 0], path[:, 1]) - surface.min_loss()).clamp(min=1e-16)
            ax_loss.semilogy(above_min, color=line.get_color(), label=label)
        for x, y in surface.minima:  # drawn last so that no path hides them
            ax_map.plot(x, y, "*", color="gold", markersize=14, markeredgecolor="black", zorder=5)
        ax_map.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="x", ylabel="y", title=surface.name)
        ax_map.legend(loc="upper right", fontsize=8)
        ax_loss.set(xlabel="step", ylabel="loss above the minimum", title="loss per step (log scale)")
        fig.tight_layout()
    return fig


def descent_run(lr: float = 0.05, momentum: float = 0.0, x0: float | None = None, y0: float | None = None,
                surface: str = "bowl", steps: int = 100) -> tuple:
    """(the surface, the path, `summarise_descent`'s numbers) of one run: what `explore_descent` shows."""
    chosen = get_surface(surface)
    start = (chosen.start[0] if x0 is None else x0, chosen.start[1] if y0 is None else y0)
    path = gradient_descent(chosen.grad, start, lr=lr, momentum=momentum, steps=steps)
    return chosen, path, summarise_descent(chosen, path)


def explore_descent(lr: float = 0.05, momentum: float = 0.0, x0: float | None = None, y0: float | None = None,
                    surface: str = "bowl", steps: int = 100, show: bool = True) -> dict:
    """Run gradient descent on a named surface, draw it (when `show`), and return `summarise_descent`'s numbers.

    The widget from `descent_explorer` calls this on every change; the notebook calls it directly.
    A start coordinate left as None comes from the surface's default start.

    >>> explore_descent(lr=0.09, surface="bowl", show=False)["verdict"]
    'converged'
    """
    chosen, path, summary = descent_run(lr, momentum, x0, y0, surface, steps)
    if show:
        plot_descent(chosen, {f"lr {lr:.3g}, momentum {momentum:.2f}: {summary['verdict']}": path})
        plt.show()
    return summary


def descent_explorer():
    """Chapter 02's widget over `explore_descent`: it lives in `tl_lessons.widgets.descent`, kept here for the chapter."""
    from tl_lessons.widgets.descent import descent_explorer as explorer  # imported on use: the widgets import maths

    return explorer()


# ---------------------------------------------------------------------------------------------
# Mini-batch noise: stochastic gradient descent on a small linear regression
# ---------------------------------------------------------------------------------------------


def mse(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> float:
    """Mean squared error of the linear model X @ w.

    >>> mse(torch.ones(2, 1), torch.zeros(2), torch.tensor([3.0]))
    9.0
    """
    return ((X @ w - y) ** 2).mean().item()


def mse_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean squared error with respect to w: (2 / n) X^T (X w - y).

    >>> mse_grad(torch.ones(2, 1), torch.zeros(2), torch.tensor([3.0]))
    tensor([6.])
    """
    return 2 * X.T @ (X @ w - y) / len(y)


def sgd_regression(X: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float, steps: int, seed: int = 0) -> torch.Tensor:
    """Stochastic gradient descent from w = 0, each step on `batch_size` random examples; return the full-data loss per step.

    The result has steps + 1 entries (entry 0 is the starting loss).

    >>> X, y = make_regression()
    >>> sgd_regression(X, y, batch_size=16, lr=0.05, steps=3).shape
    torch.Size([4])
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    losses = [mse(X, y, w)]
    for _ in range(steps):
        batch = torch.randperm(len(y), generator=generator)[:batch_size]
        w = w - lr * mse_grad(X[batch], y[batch], w)
        losses.append(mse(X, y, w))
    return torch.tensor(losses, dtype=torch.float64)


def gradient_noise(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, batch_size: int) -> float:
    """How far, typically, a mini-batch gradient lies from the full gradient at w (root mean squared distance).

    Exact, not sampled: for a batch of B out of n examples drawn without replacement, the mean
    squared distance is s^2 / B * (n - B) / (n - 1), where s^2 is the spread of the per-example
    gradients. It shrinks like 1 / sqrt(B) and is 0 for the full batch.

    >>> X, y = make_regression()
    >>> gradient_noise(X, y, torch.zeros(2, dtype=torch.float64), batch_size=len(y))
    0.0
    """
    n = len(y)
    per_example = 2 * X * (X @ w - y)[:, None]  # row i: the gradient from example i alone
    spread = ((per_example - per_example.mean(dim=0)) ** 2).sum(dim=1).mean().item()
    return math.sqrt(spread / batch_size * (n - batch_size) / (n - 1))


def batch_size_curves(X, y, batch_sizes, lr: float, steps: int, seeds: int) -> dict:
    """For each batch size, the full-data loss per step of `seeds` SGD runs: {B: tensor (seeds, steps + 1)}.

    >>> X, y = make_regression()
    >>> batch_size_curves(X, y, (1, 16), lr=0.05, steps=5, seeds=2)[16].shape
    torch.Size([2, 6])
    """
    return {
        batch_size: torch.stack([sgd_regression(X, y, batch_size, lr, steps, seed) for seed in range(seeds)])
        for batch_size in batch_sizes
    }


def plot_batch_size_curves(curves: dict, min_loss: float):
    """Figure: loss above the best possible loss per step for each batch size, median and 10-90% band over seeds.

    >>> X, y = make_regression()
    >>> fig = plot_batch_size_curves(batch_size_curves(X, y, (1, 16), 0.05, 20, 3), min_loss=0.2)
    """
    with projector_style():  # the projector-sized fonts of the kit's other figures
        fig, ax = plt.subplots(figsize=(7, 4))
        for batch_size, losses in curves.items():
            excess = (losses - min_loss).clamp(min=1e-16)
            low, middle, high = torch.quantile(excess, torch.tensor([0.1, 0.5, 0.9], dtype=excess.dtype), dim=0)
            line = ax.semilogy(middle, label=f"batch size {batch_size}")[0]
            ax.fill_between(range(len(middle)), low, high, color=line.get_color(), alpha=0.25)
        ax.set(xlabel="step", ylabel="full-data loss above its minimum", title="SGD: median over seeds, 10-90% band")
        ax.legend()
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# A tiny model trained by hand: a two-layer network on two interleaved half-moons
# ---------------------------------------------------------------------------------------------


def init_mlp(hidden: int = 16, seed: int = 0) -> dict:
    """Parameters of a 2 -> hidden -> 2 network, laid out like nn.Linear (weight is (out, in)).

    >>> {name: tuple(p.shape) for name, p in init_mlp(hidden=4).items()}
    {'W1': (4, 2), 'b1': (4,), 'W2': (2, 4), 'b2': (2,)}
    """
    generator = torch.Generator().manual_seed(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(((2, hidden), (hidden, 2)), start=1):
        # nn.Linear's default: uniform in +-1/sqrt(fan_in), so activations start at a sensible size.
        bound = 1 / math.sqrt(fan_in)
        params[f"W{layer}"] = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        params[f"b{layer}"] = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
    return params


def mlp_logits(params: dict, x: torch.Tensor) -> torch.Tensor:
    """The network's class scores: tanh(x W1^T + b1) W2^T + b2.

    >>> mlp_logits(init_mlp(), torch.zeros(3, 2)).shape
    torch.Size([3, 2])
    """
    hidden = torch.tanh(x @ params["W1"].T + params["b1"])
    return hidden @ params["W2"].T + params["b2"]


def mlp_loss_and_grads(params: dict, x: torch.Tensor, targets: torch.Tensor):
    """Cross-entropy of the network and its gradient for every parameter, by the chain rule written out.

    >>> loss, grads = mlp_loss_and_grads(init_mlp(), *make_moons(8))
    >>> sorted(grads)
    ['W1', 'W2', 'b1', 'b2']
    """
    hidden = torch.tanh(x @ params["W1"].T + params["b1"])
    logits = hidden @ params["W2"].T + params["b2"]
    d_logits = cross_entropy_grad(logits, targets)  # (softmax - one-hot) / N
    d_hidden = d_logits @ params["W2"]
    d_before_tanh = d_hidden * (1 - hidden**2)  # tanh'(u) = 1 - tanh(u)^2
    grads = {
        "W2": d_logits.T @ hidden,
        "b2": d_logits.sum(dim=0),
        "W1": d_before_tanh.T @ x,
        "b1": d_before_tanh.sum(dim=0),
    }
    return cross_entropy(logits, targets), grads


def train_mlp_by_hand(params: dict, x, targets, lr: float, momentum: float, steps: int):
    """Full-batch gradient descent with momentum, every part hand-written; returns (new params, loss per step).

    >>> params, losses = train_mlp_by_hand(init_mlp(), *make_moons(), lr=0.5, momentum=0.9, steps=2)
    >>> len(losses)
    2
    """
    params = dict(params)
    velocity = {name: torch.zeros_like(p) for name, p in params.items()}
    losses = []
    for _ in range(steps):
        loss, grads = mlp_loss_and_grads(params, x, targets)
        for name in params:
            params[name], velocity[name] = momentum_step(params[name], velocity[name], grads[name], lr, momentum)
        losses.append(loss.item())
    return params, losses


def train_mlp_with_torch(params: dict, x, targets, lr: float, momentum: float, steps: int):
    """The same training with PyTorch's parts: nn.Linear, autograd, F.cross_entropy and torch.optim.SGD.

    >>> params, losses = train_mlp_with_torch(init_mlp(), *make_moons(), lr=0.5, momentum=0.9, steps=2)
    >>> len(losses)
    2
    """
    model = torch.nn.Sequential(torch.nn.Linear(2, params["W1"].shape[0]), torch.nn.Tanh(), torch.nn.Linear(params["W1"].shape[0], 2))
    with torch.no_grad():
        for layer, index in ((1, 0), (2, 2)):
            model[index].weight.copy_(params[f"W{layer}"])
            model[index].bias.copy_(params[f"b{layer}"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    trained = {"W1": model[0].weight, "b1": model[0].bias, "W2": model[2].weight, "b2": model[2].bias}
    return {name: p.detach().clone() for name, p in trained.items()}, losses


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the target class.

    >>> accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    0.5
    """
    return (logits.argmax(dim=1) == targets).float().mean().item()


def plot_training_losses(runs: dict):
    """Figure: the loss per step of several training runs on one log axis, e.g. {"by hand": losses, ...}.

    >>> X, y = make_moons()
    >>> _, hand_losses = train_mlp_by_hand(init_mlp(), X, y, lr=0.5, momentum=0.9, steps=20)
    >>> _, torch_losses = train_mlp_with_torch(init_mlp(), X, y, lr=0.5, momentum=0.9, steps=20)
    >>> fig = plot_training_losses({"by hand": hand_losses, "torch.optim.SGD": torch_losses})
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['by hand', 'torch.optim.SGD']
    """
    with projector_style():  # the projector-sized fonts of the kit's other figures
        fig, ax = plt.subplots(figsize=(7, 4))
        for (label, losses), style in zip(runs.items(), ("-", "--", ":", "-.")):
            ax.semilogy(losses, style, label=label, linewidth=2.5)
        ax.set(xlabel="step", ylabel="cross-entropy", title="the training runs, step by step")
        ax.legend()
        fig.tight_layout()
    return fig


def plot_decision_regions(params: dict, X: torch.Tensor, y: torch.Tensor):
    """Figure: the data coloured by class over the network's predicted class regions.

    >>> fig = plot_decision_regions(init_mlp(), *make_moons())
    """
    with projector_style():  # the projector-sized fonts of the kit's other figures
        fig, ax = plt.subplots(figsize=(5.5, 4))
        xs = torch.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200)
        ys = torch.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200)
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            prob_class_1 = softmax(mlp_logits(params, torch.stack((grid_x.flatten(), grid_y.flatten()), dim=1)))[:, 1]
        ax.contourf(grid_x, grid_y, prob_class_1.reshape(grid_x.shape), levels=20, cmap="coolwarm", alpha=0.5)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="black", linewidths=0.5, s=18)
        ax.set(title="predicted probability of class 1", xlabel="x1", ylabel="x2")
        fig.tight_layout()
    return fig
