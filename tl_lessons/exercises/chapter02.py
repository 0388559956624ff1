"""Chapter 02 exercises: softmax, the cross-entropy gradient, and choosing a learning rate.

Each `check_*` prints one sentence and returns a `Feedback` (see `tl_lessons.exercises.feedback`);
a wrong or unfinished answer never raises.

    >>> check_softmax(lambda z: torch.softmax(z, dim=-1))
    Correct: ...
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tl_lessons import maths
from tl_lessons.exercises.feedback import NotYet, call_learner, exercise, number_answer, tensor_answer

# The learning-rate exercise: plain gradient descent on the elongated bowl.
LR_EXERCISE = {"surface": "bowl", "start": (-4.0, 1.5), "steps": 100, "target_loss": 1e-3}


@exercise
def check_softmax(fn) -> str:
    """Check a learner's softmax(logits) over the last dimension: values, row sums, axis and huge logits.

    >>> check_softmax(maths.softmax).ok
    Correct: ...
    True
    """
    batch = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    result = tensor_answer(call_learner(fn, batch.clone()), "Your softmax", like=batch)
    expected = torch.softmax(batch.double(), dim=-1)
    if not torch.allclose(result, expected, atol=1e-5):
        if torch.allclose(result, torch.softmax(batch.double(), dim=0), atol=1e-5):
            raise NotYet("Your softmax normalises down each column; each ROW (one example) must sum to 1: "
                         "sum over the last dimension, `dim=-1, keepdim=True`.")
        if not torch.allclose(result.sum(dim=-1), torch.ones(2, dtype=torch.float64), atol=1e-5):
            raise NotYet(f"Each row should sum to 1, but yours sum to {[round(s, 4) for s in result.sum(dim=-1).tolist()]}: "
                         "divide exp(z) by the sum of exp(z) over the row.")
        raise NotYet(f"For logits {batch[0].tolist()} softmax is {[round(p, 4) for p in expected[0].tolist()]}, "
                     f"but yours gives {[round(p, 4) for p in result[0].tolist()]}.")
    huge = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    result = tensor_answer(call_learner(fn, huge.clone()), "Your softmax", like=huge)
    if not torch.isfinite(result).all():
        raise NotYet("Your softmax gives nan or inf for logits like 1000 (exp(1000) overflows) or -1000 "
                     "(every exp underflows to 0, and 0/0 is nan). Subtract each row's largest logit before exp: "
                     "the result does not change, and the largest exp becomes exp(0) = 1.")
    if not torch.allclose(result, torch.softmax(huge.double(), dim=-1), atol=1e-5):
        raise NotYet("Your softmax is right for small logits but wrong for logits near +-1000; "
                     "subtract the row's maximum (not a fixed number) before exp.")
    return "Your softmax matches torch.softmax, each row sums to 1, and logits of +-1000 do not overflow."


@exercise
def check_ce_gradient(fn) -> str:
    """Check a learner's fn(logits, targets) -> gradient of the mean cross-entropy with respect to the logits.

    >>> check_ce_gradient(maths.cross_entropy_grad).ok
    Correct: ...
    True
    """
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [0.0, 0.0, 0.0], [1.0, -2.0, 3.0]])
    targets = torch.tensor([0, 2, 1, 2])
    result = tensor_answer(call_learner(fn, logits.clone(), targets.clone()), "Your gradient", like=logits)
    leaf = logits.double().requires_grad_()
    F.cross_entropy(leaf, targets).backward()
    expected = leaf.grad
    batch_size = len(targets)
    if torch.allclose(result, expected, atol=1e-5):
        return ("Your gradient matches autograd: (softmax(logits) - one_hot(targets)) / N. "
                "Each row sums to 0: raising every logit by the same amount changes nothing.")
    if torch.allclose(result, expected * batch_size, atol=1e-5):
        raise NotYet(f"Your gradient is {batch_size} times too large: the loss is the MEAN over the batch of "
                     f"{batch_size} examples, so divide by the batch size.")
    if torch.allclose(result, -expected, atol=1e-5) or torch.allclose(result, -expected * batch_size, atol=1e-5):
        raise NotYet("Your gradient has the wrong sign: it is softmax minus one-hot (raising the true "
                     "class's logit lowers the loss, so its gradient is negative).")
    probs = torch.softmax(logits.double(), dim=1)
    if torch.allclose(result, probs, atol=1e-5) or torch.allclose(result, probs / batch_size, atol=1e-5):
        raise NotYet("That is the softmax alone: subtract the one-hot targets, `F.one_hot(targets, num_classes)`.")
    raise NotYet(f"For the first example (logits {[round(z, 4) for z in logits[0].tolist()]}, target {targets[0].item()}) the gradient is "
                 f"{[round(g, 4) for g in expected[0].tolist()]}, but yours is {[round(g, 4) for g in result[0].tolist()]}. "
                 "It should be (softmax(logits) - one_hot(targets)) / N.")


@exercise
def check_learning_rate(lr) -> str:
    """Check that plain gradient descent with this learning rate gets the bowl's loss below the target in time.

    >>> check_learning_rate(0.09).ok
    Correct: ...
    True
    """
    lr = number_answer(lr, "my_learning_rate")
    if lr <= 0:
        raise NotYet(f"A learning rate of {lr:g} steps uphill or not at all: it must be positive.")
    surface = maths.get_surface(LR_EXERCISE["surface"])
    shallow, steep = maths.hessian_eigenvalues(surface, surface.minima[0])
    path = maths.gradient_descent(surface.grad, LR_EXERCISE["start"], lr=lr, steps=LR_EXERCISE["steps"])
    summary = maths.summarise_descent(surface, path)
    steps, target, loss = LR_EXERCISE["steps"], LR_EXERCISE["target_loss"], summary["final_loss"]
    if summary["verdict"] == "diverged":
        raise NotYet(f"lr = {lr:g} diverges: along y the curvature is {steep:g}, and any lr above 2/{steep:g} = "
                     f"{2 / steep:g} overshoots by more than it corrects. Try a smaller one.")
    if loss < target:
        return (f"lr = {lr:g} brings the loss to {loss:.2g} in {steps} steps (target {target:g}). The fastest "
                f"plain rate here is 2/({shallow:g} + {steep:g}) = {2 / (shallow + steep):.3f}, which shrinks both "
                "directions by the same factor each step.")
    x, y = path[-1].tolist()
    if shallow * x**2 > steep * y**2:
        raise NotYet(f"lr = {lr:g} is too cautious: after {steps} steps the loss is still {loss:.2g} (target {target:g}), "
                     f"mostly along the flat x direction, where each step only removes a fraction lr = {lr:g} of the "
                     f"distance. Try a larger rate, but stay below 2/{steep:g} = {2 / steep:g}.")
    raise NotYet(f"lr = {lr:g} is too close to the limit 2/{steep:g} = {2 / steep:g}: the steep y direction flips sign every "
                 f"step and shrinks by only |1 - {steep:g} lr| = {abs(1 - steep * lr):.3f} per step, so after {steps} steps "
                 f"the loss is still {loss:.2g}. Try a slightly smaller rate.")


VERDICTS = ("converged", "oscillating", "diverged", "slow", "stuck")


@exercise
def check_descent_prediction(predicted, lr: float, surface: str = "bowl", momentum: float = 0.0, steps: int = 100) -> str:
    """Compare a predicted verdict for plain gradient descent at `lr` with what the run then does.

    >>> check_descent_prediction("diverged", lr=0.105).ok
    Correct: Right: at lr 0.105 the run diverged (loss 4.27e+09 after 100 steps); the limit for plain descent is 2/20 = 0.1.
    True
    """
    if predicted not in VERDICTS:
        raise NotYet(f"Write your prediction first: one of {', '.join(map(repr, VERDICTS))}.")
    summary = maths.explore_descent(lr=lr, momentum=momentum, surface=surface, steps=steps, show=False)
    largest = max(maths.hessian_eigenvalues(maths.SURFACES[surface], maths.SURFACES[surface].minima[0]))
    said = (f"at lr {lr:g} the run {summary['verdict']} (loss {summary['final_loss']:.3g} after {summary['steps']} "
            f"steps); the limit for plain descent is 2/{largest:g} = {2 / largest:.3g}")
    if summary["verdict"] == predicted:
        return f"Right: {said}."
    raise NotYet(f"Not what happened: {said}. Each step multiplies the distance along the steepest direction "
                 f"by |1 - lr * {largest:g}|: is that above or below 1?")
