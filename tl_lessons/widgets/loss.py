"""Chapter 02's knobs: softmax temperature, and the step size of a finite-difference gradient check.

* `softmax_explorer`: type logits, turn the temperature, pick the true class: the probabilities
  and the cross-entropy follow. (What does dividing the logits by T do to the probabilities and
  to the loss?)
* `gradient_check_explorer`: slide epsilon from 1e-12 to 1 and watch the error of central finite
  differences against the exact gradient, in float32 and float64. (Why check gradients in
  float64, and with which epsilon?)

Both compute with the chapter's own hand-written functions in `tl_lessons.maths`.

    >>> f'{softmax_view("2, 1, 0.1", temperature=2.0, true_class=0).numbers["cross_entropy"]:.4f}'
    '0.6898'
    >>> gradient_check_view(1e-8).numbers["float32_error"] > 0.01      # float32 cannot see a step of 1e-8
    True
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from tl_lessons import maths, plots, text
from tl_lessons.errors import ConfigError
from tl_lessons.widgets.explorer import Explorer, View

# The three-class example of chapter 02's section 3 (true class 0).
DEFAULT_LOGITS = "2.0, 1.0, 0.1"
SLOW = {"continuous_update": False}  # redraw when a slider is released, not on every pixel it passes


# ---------------------------------------------------------------------------------------------
# Softmax temperature
# ---------------------------------------------------------------------------------------------


def parse_logits(logits) -> torch.Tensor:
    """Logits from text ("2, 1, 0.1") or numbers, as a float64 vector of at least two classes.

    >>> parse_logits("2, 1, 0.1")
    tensor([2.0000, 1.0000, 0.1000], dtype=torch.float64)
    """
    if isinstance(logits, str):
        try:
            logits = [float(part) for part in logits.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise ConfigError(f"Type the logits as numbers separated by commas, e.g. {DEFAULT_LOGITS}; "
                              f"{logits!r} is not.") from None
    values = torch.as_tensor(logits, dtype=torch.float64).flatten()
    if len(values) < 2:
        raise ConfigError("Give at least two logits (one per class), e.g. 2.0, 1.0, 0.1.")
    if not torch.isfinite(values).all():
        raise ConfigError("Every logit must be a finite number (no inf or nan).")
    return values


def softmax_view(logits, temperature: float = 1.0, true_class: int = 0, teacher: bool = False) -> View:
    """Logits divided by `temperature`, their softmax, and the cross-entropy for `true_class`.

    numbers: "scaled_logits", "probabilities" (float64 tensors), "cross_entropy" (ours),
    "torch_cross_entropy" (F.cross_entropy on the same logits).

    >>> view = softmax_view("2, 1, 0.1", temperature=4.0, true_class=0)
    >>> view.numbers["probabilities"].max() < softmax_view("2, 1, 0.1").numbers["probabilities"].max()
    tensor(True)
    """
    logits = parse_logits(logits)
    if not temperature > 0:
        raise ConfigError(f"The temperature must be above 0, not {temperature}: try 1.0.")
    if not 0 <= true_class < len(logits):
        raise ConfigError(f"The true class is a number from 0 to {len(logits) - 1}, not {true_class}.")
    scaled = logits / temperature
    probabilities = maths.softmax(scaled)
    target = torch.tensor([true_class])
    loss = maths.cross_entropy(scaled[None], target).item()
    reference = F.cross_entropy(scaled[None], target).item()
    classes = range(len(logits))
    colours = [plots.RIGHT_COLOR if c == true_class else "#6e7781" for c in classes]
    with plots.teacher_view(teacher):
        figure = Figure(figsize=(10.4, 3.8), layout="constrained")
        logit_axis, probability_axis = figure.subplots(1, 2)
        logit_axis.bar(classes, scaled.numpy(), color=colours)
        logit_axis.axhline(0, color="black", linewidth=1)
        logit_axis.set(title=f"logits / T  (T = {temperature:.3g})", xlabel="class", xticks=list(classes))
        probability_axis.bar(classes, probabilities.numpy(), color=colours)
        probability_axis.axhline(1 / len(logits), color="black", linestyle="--", linewidth=1.5,
                                 label=f"even guess 1/{len(logits)}")
        probability_axis.set(title="softmax: probabilities", xlabel="class", ylim=(0, 1), xticks=list(classes))
        probability_axis.legend(loc="upper right")
        figure.suptitle(f"true class {true_class} (green): cross-entropy = -log {probabilities[true_class]:.3f} = {loss:.3f}")
    lines = [
        f"logits / T     : {text.numbers(scaled, 3)}",
        f"probabilities  : {text.numbers(probabilities, 3)}",
        f"cross-entropy  : -log p(class {true_class}) = -log {probabilities[true_class].item():.4f} = {loss:.4f}",
        f"F.cross_entropy: {reference:.4f}",
        f"an even guess over {len(logits)} classes would give log {len(logits)} = {math.log(len(logits)):.4f}",
    ]
    return View(figure, f"Softmax at temperature {temperature:.3g}: probabilities {text.numbers(probabilities, 3)}",
                "\n".join(lines),
                {"scaled_logits": scaled, "probabilities": probabilities, "cross_entropy": loss,
                 "torch_cross_entropy": reference})


def softmax_explorer(logits: str = DEFAULT_LOGITS, teacher: bool = False) -> Explorer:
    """Chapter 02: edit the logits, turn the temperature, pick the true class; see probabilities and loss.

    >>> explorer = softmax_explorer()       # a chapter's cell ends with `widgets.softmax_explorer()`
    >>> explorer.controls["temperature"].value = 4.0
    >>> explorer.view.caption
    'Softmax at temperature 4: probabilities [0.417, 0.324, 0.259]'
    """
    import ipywidgets as widgets

    count = len(parse_logits(logits))
    controls = {
        "logits": widgets.Text(value=logits, description="logits", **SLOW),
        "temperature": widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.02, description="temperature T",
                                              style={"description_width": "initial"}, **SLOW),
        "true_class": widgets.Dropdown(options=list(range(count)), value=0, description="true class"),
    }

    def follow_the_class_count(name, explorer):
        if name != "logits":
            return
        try:
            count = len(parse_logits(explorer.controls["logits"].value))
        except ConfigError:
            return  # the redraw says what is wrong with the text
        chosen = explorer.controls["true_class"]
        previous = chosen.value  # new options reset the value: keep the learner's class where it still exists
        chosen.options = list(range(count))
        chosen.value = min(previous, count - 1)

    return Explorer(lambda **values: softmax_view(**values, teacher=teacher), controls,
                    adjust=follow_the_class_count, teacher=teacher)


# ---------------------------------------------------------------------------------------------
# Gradient check: which epsilon?
# ---------------------------------------------------------------------------------------------

EPSILONS = torch.logspace(-12, 0, 49, dtype=torch.float64)  # four per decade, 1e-12 to 1


def gradient_check_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """The logits (3, 4) and targets of chapter 02's gradient check (seed 1, float64).

    >>> logits, targets = gradient_check_problem()
    >>> logits.shape, logits.dtype, targets.tolist()
    (torch.Size([3, 4]), torch.float64, [0, 3, 1])
    """
    generator = torch.Generator().manual_seed(1)
    return 2 * torch.randn(3, 4, generator=generator, dtype=torch.float64), torch.tensor([0, 3, 1])


def finite_difference_error(eps: float, dtype: torch.dtype, logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Largest |finite differences - exact gradient| over all logits, with the loss computed in `dtype`.

    >>> finite_difference_error(1e-6, torch.float64, *gradient_check_problem()) < 1e-8   # about 1e-10
    True
    """
    exact = maths.cross_entropy_grad(logits, targets)
    approx = maths.numerical_gradient(lambda z: maths.cross_entropy(z, targets), logits.to(dtype), eps)
    return (approx.double() - exact).abs().max().item()


def error_curves(logits: torch.Tensor, targets: torch.Tensor, epsilons=EPSILONS) -> dict:
    """{"float64": errors, "float32": errors}, one error per epsilon (see `finite_difference_error`).

    >>> curves = error_curves(*gradient_check_problem())
    >>> list(curves), curves["float64"].shape == EPSILONS.shape
    (['float64', 'float32'], True)
    """
    return {name: torch.tensor([finite_difference_error(eps, dtype, logits, targets) for eps in epsilons.tolist()])
            for name, dtype in (("float64", torch.float64), ("float32", torch.float32))}


def gradient_check_view(eps: float, curves: dict | None = None, logits=None, targets=None, teacher: bool = False) -> View:
    """The error of central finite differences against epsilon, in both precisions, with `eps` marked.

    curves: `error_curves(logits, targets)`, computed here when not given (an explorer computes
    them once). numbers: "float64_error" and "float32_error" at `eps`, and the best epsilon of
    each curve ("float64_best_eps", "float32_best_eps").

    >>> gradient_check_view(1e-8).numbers["float32_error"] > gradient_check_view(1e-3).numbers["float32_error"]
    True
    """
    if not 0 < eps <= 1:
        raise ConfigError(f"Epsilon must be above 0 and at most 1, not {eps}.")
    if logits is None:
        logits, targets = gradient_check_problem()
    if curves is None:
        curves = error_curves(logits, targets)
    errors = {name: finite_difference_error(eps, dtype, logits, targets)
              for name, dtype in (("float64", torch.float64), ("float32", torch.float32))}
    best = {name: EPSILONS[int(curve.argmin())].item() for name, curve in curves.items()}
    largest_gradient = maths.cross_entropy_grad(logits, targets).abs().max().item()
    # Log axes cannot show an error of exactly 0 (float64 can hit the exact value by luck).
    floor = 1e-17
    with plots.teacher_view(teacher):
        figure = Figure(figsize=(8.5, 4.6), layout="constrained")
        axis = figure.subplots()
        for (name, curve), colour in zip(curves.items(), ("C0", "C3")):
            axis.loglog(EPSILONS.numpy(), curve.clamp(min=floor).numpy(), "-o", markersize=3, color=colour, label=name)
            axis.plot(eps, max(errors[name], floor), "o", markersize=13, markerfacecolor="none",
                      markeredgewidth=2.5, color=colour)
        axis.axvline(eps, color="black", linestyle=":", linewidth=1.5)
        axis.axhline(largest_gradient, color="#6e7781", linestyle="--", linewidth=1, label="largest gradient entry")
        note = {"transform": axis.transAxes, "va": "center", "bbox": {"facecolor": "white", "alpha": 0.8, "edgecolor": "none"}}
        axis.text(0.02, 0.45, "round-off\n(eps too small)", ha="left", **note)
        axis.text(0.98, 0.45, "truncation\n(eps too large)", ha="right", **note)
        axis.set(xlabel="epsilon", ylabel="largest error of the check", title=f"Central finite differences at eps = {eps:.0e}")
        axis.grid(alpha=0.3, which="major")
        figure.legend(loc="outside lower center", ncols=3)
    lines = [f"at epsilon = {eps:.1e}:",
             f"  float64: largest error {errors['float64']:.1e}  (best epsilon on the curve: {best['float64']:.0e})",
             f"  float32: largest error {errors['float32']:.1e}  (best epsilon on the curve: {best['float32']:.0e})",
             f"  the largest gradient entry is {largest_gradient:.3f}: an error that size means the check says nothing"]
    return View(figure, f"Finite-difference error against epsilon, float32 and float64, epsilon = {eps:.1e} marked",
                "\n".join(lines),
                {"float64_error": errors["float64"], "float32_error": errors["float32"],
                 "float64_best_eps": best["float64"], "float32_best_eps": best["float32"]})


def gradient_check_explorer(eps: float = 1e-6, teacher: bool = False) -> Explorer:
    """Chapter 02: slide epsilon (1e-12 to 1) and watch finite differences fail at both ends.

    >>> explorer = gradient_check_explorer()     # a chapter's cell ends with `widgets.gradient_check_explorer()`
    >>> explorer.controls["eps"].value = 1e-3
    >>> explorer.view.numbers["float64_error"] < explorer.view.numbers["float32_error"]
    True
    """
    import ipywidgets as widgets

    logits, targets = gradient_check_problem()
    curves = error_curves(logits, targets)  # once: the slider only moves the marker
    controls = {"eps": widgets.FloatLogSlider(value=eps, base=10, min=-12, max=0, step=0.25, description="epsilon",
                                              readout_format=".0e", **SLOW)}
    return Explorer(lambda eps: gradient_check_view(eps, curves, logits, targets, teacher=teacher), controls,
                    teacher=teacher)
