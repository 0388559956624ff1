"""Chapter 02's checks accept the reference answers, reject typical wrong ones with a useful sentence, and never raise."""

import pytest
import torch
import torch.nn.functional as F

from tl_lessons import maths
from tl_lessons.exercises import chapter02
from tl_lessons.exercises.chapter02 import check_ce_gradient, check_learning_rate, check_softmax
from tl_lessons.exercises.feedback import Feedback


def rejected(feedback: Feedback, *phrases: str) -> bool:
    """The check said no, and its sentence contains every phrase (case-insensitive)."""
    return not feedback.ok and all(phrase.lower() in feedback.message.lower() for phrase in phrases)


def stub(*args):
    raise NotImplementedError


def empty(*args):
    ...  # your code here


# --- check_softmax -----------------------------------------------------------------------------


def test_check_softmax_accepts_the_reference_and_torch():
    assert check_softmax(maths.softmax).ok
    assert check_softmax(lambda z: torch.softmax(z, dim=-1)).ok


@pytest.mark.parametrize(
    "wrong, phrases",
    [
        (maths.naive_softmax, ("nan or inf", "largest logit")),  # no max trick: overflows at 1000
        (lambda z: maths.softmax(z, dim=0), ("each row",)),  # normalised down the columns
        (lambda z: torch.exp(z - z.amax(dim=-1, keepdim=True)), ("sum to 1",)),  # not normalised
        (lambda z: torch.sigmoid(z), ("sum to 1",)),
        (lambda z: maths.softmax(z).sum(dim=-1), ("shape",)),
        (stub, ("not written yet",)),
        (empty, ("returned none",)),
    ],
)
def test_check_softmax_rejects_typical_mistakes(wrong, phrases, capsys):
    feedback = check_softmax(wrong)
    assert rejected(feedback, *phrases), feedback.message
    assert capsys.readouterr().out.startswith("Not yet:")


def test_check_softmax_rejects_a_fixed_shift_that_is_not_the_row_maximum():
    assert not check_softmax(lambda z: maths.softmax(z.clamp(-500, 500))).ok


# --- check_ce_gradient -------------------------------------------------------------------------


def test_check_ce_gradient_accepts_the_reference_and_autograd():
    def by_autograd(logits, targets):
        leaf = logits.clone().requires_grad_()
        F.cross_entropy(leaf, targets).backward()
        return leaf.grad

    assert check_ce_gradient(maths.cross_entropy_grad).ok
    assert check_ce_gradient(by_autograd).ok


@pytest.mark.parametrize(
    "wrong, phrases",
    [
        (lambda z, t: maths.cross_entropy_grad(z, t) * len(t), ("4 times too large", "mean")),  # forgot / N
        (lambda z, t: -maths.cross_entropy_grad(z, t), ("wrong sign",)),  # one-hot - softmax
        (lambda z, t: maths.softmax(z) / len(t), ("softmax alone",)),  # forgot the one-hot
        (lambda z, t: maths.softmax(z), ("softmax alone",)),
        (lambda z, t: z, ("(softmax(logits) - one_hot(targets)) / n",)),
        (stub, ("not written yet",)),
    ],
)
def test_check_ce_gradient_rejects_typical_mistakes(wrong, phrases):
    feedback = check_ce_gradient(wrong)
    assert rejected(feedback, *phrases), feedback.message


# --- check_learning_rate -----------------------------------------------------------------------


def bowl_limits():
    surface = maths.get_surface(chapter02.LR_EXERCISE["surface"])
    shallow, steep = maths.hessian_eigenvalues(surface, surface.minima[0])
    return shallow, steep


def test_check_learning_rate_accepts_the_rate_that_balances_both_directions():
    shallow, steep = bowl_limits()
    assert check_learning_rate(2 / (shallow + steep)).ok


def test_check_learning_rate_explains_divergence_with_the_curvature():
    shallow, steep = bowl_limits()
    feedback = check_learning_rate(1.5 * 2 / steep)
    assert rejected(feedback, "diverges", f"2/{steep:g}")


def test_check_learning_rate_calls_a_tiny_rate_too_cautious_and_the_limit_too_close():
    shallow, steep = bowl_limits()
    assert rejected(check_learning_rate(0.01 / steep), "too cautious")
    assert rejected(check_learning_rate(2 / steep), "too close to the limit")


@pytest.mark.parametrize("answer, phrase", [(..., "set `my_learning_rate`"), (None, "set"), ("0.1", "finite number"),
                                            (True, "finite number"), (-0.1, "positive"), (0, "positive")])
def test_check_learning_rate_rejects_non_answers(answer, phrase):
    assert rejected(check_learning_rate(answer), phrase)


def test_a_descent_prediction_is_checked_against_the_run():
    assert chapter02.check_descent_prediction("diverged", lr=0.105).ok
    wrong = chapter02.check_descent_prediction("converged", lr=0.105)
    assert not wrong.ok and "the limit for plain descent is 2/20 = 0.1" in wrong.message
    assert chapter02.check_descent_prediction("converged", lr=0.09).ok
    assert "Write your prediction" in chapter02.check_descent_prediction(None, lr=0.09).message
