"""Exercise checks: run the learner's answer, compare it with the right one, say what to fix.

Every `check_*` function prints one friendly sentence and returns a `Feedback`. None of them
raises on a learner's mistake: an unfinished stub, a crash inside their code, a wrong shape or a
wrong number all become a sentence that says what to try next.

A check is written as a plain function that returns a success sentence, or raises `NotYet`
with the reason it is not right yet; the `@exercise` decorator turns that into printed Feedback:

    @exercise
    def check_double(fn):
        result = tensor_answer(call_learner(fn, torch.ones(3)), "your function", like=torch.ones(3))
        if not torch.allclose(result, torch.full((3,), 2.0)):
            raise NotYet("Each entry should be doubled: ones(3) should give 2s.")
        return "Your function doubles every entry."

Every chapter's checks are built this way; chapter 02's are at the end of this file.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tl_lessons import maths

# ---------------------------------------------------------------------------------------------
# The shared part
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    """The result of a check: whether the answer is right, and a sentence for the learner.

    >>> print(Feedback(True, "Your softmax works."))
    Correct: Your softmax works.
    """

    ok: bool
    message: str

    def __str__(self) -> str:
        return f"{'Correct' if self.ok else 'Not yet'}: {self.message}"


class NotYet(Exception):
    """Raised inside a check when the answer is unfinished or wrong; its message is shown to the learner.

    >>> str(NotYet("Each row should sum to 1."))
    'Each row should sum to 1.'
    """


def exercise(check):
    """Decorator: a check that returns a success sentence or raises NotYet becomes one that prints and returns Feedback.

    >>> @exercise
    ... def check_positive(x):
    ...     if x <= 0:
    ...         raise NotYet("It should be above 0.")
    ...     return "Positive."
    >>> check_positive(-1).ok
    Not yet: It should be above 0.
    False
    """

    @functools.wraps(check)
    def run_check(*args, **kwargs) -> Feedback:
        try:
            feedback = Feedback(True, check(*args, **kwargs))
        except NotYet as reason:
            feedback = Feedback(False, str(reason))
        except Exception as error:  # noqa: BLE001 - a learner must never see a traceback from a check
            feedback = Feedback(
                False,
                f"The check could not use your answer ({type(error).__name__}: {error}). "
                "Make sure it returns what the exercise asks for.",
            )
        print(feedback)
        return feedback

    return run_check


def call_learner(fn, *args, name: str | None = None):
    """Call the learner's function; an unwritten stub, a crash or a missing `return` becomes NotYet.

    >>> call_learner(lambda z: z + 1, 1)
    2
    """
    if not callable(fn):
        raise NotYet(f"Pass your function itself (for example `check_softmax(my_softmax)`), not a {type(fn).__name__}.")
    name = name or getattr(fn, "__name__", "your function")
    try:
        result = fn(*args)
    except NotImplementedError:
        raise NotYet(f"`{name}` is not written yet: replace `raise NotImplementedError` with your code and run the cell again.") from None
    except Exception as error:  # noqa: BLE001 - their code crashed: say how, without a traceback
        raise NotYet(f"`{name}` raised {type(error).__name__}: {error}. Fix that line and run the cell again.") from None
    if result is None:
        raise NotYet(f"`{name}` returned None: write its body and make sure it ends with a `return`.")
    return result


def tensor_answer(value, name: str, like: torch.Tensor) -> torch.Tensor:
    """The learner's answer as a float tensor shaped like `like`, or NotYet saying what is off.

    >>> tensor_answer([1, 2], "your answer", like=torch.zeros(2))
    tensor([1., 2.], dtype=torch.float64)
    """
    try:
        answer = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise NotYet(f"{name} returned a {type(value).__name__}; it should return a tensor.") from None
    if answer.shape != like.shape:
        raise NotYet(f"{name} returned shape {tuple(answer.shape)}, but it should be {tuple(like.shape)} (the same shape as its input).")
    return answer


def number_answer(value, name: str) -> float:
    """The learner's answer as a finite float, or NotYet saying what to write.

    >>> number_answer(0.1, "my_learning_rate")
    0.1
    """
    if value is ... or value is None:
        raise NotYet(f"Set `{name}` to a number (for example 0.01) and run the cell again.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise NotYet(f"`{name}` should be a finite number such as 0.01, not {value!r}.")
    return float(value)


# ---------------------------------------------------------------------------------------------
# Chapter 02: loss and gradient descent
# ---------------------------------------------------------------------------------------------

# The learning-rate exercise: plain gradient descent on the elongated bowl.
LR_EXERCISE = {"surface": "bowl", "start": (-4.0, 1.5), "steps": 100, "target_loss": 1e-3}


@exercise
def check_softmax(fn) -> str:
    """Check a learner's softmax(logits) over the last dimension: values, row sums, axis and huge logits.

    >>> check_softmax(maths.softmax).ok  # doctest: +ELLIPSIS
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

    >>> check_ce_gradient(maths.cross_entropy_grad).ok  # doctest: +ELLIPSIS
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

    >>> check_learning_rate(0.09).ok  # doctest: +ELLIPSIS
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
