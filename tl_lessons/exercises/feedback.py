"""How an exercise check runs the learner's answer, compares it with the right one, and says what to fix.

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

Every chapter's checks (`tl_lessons.exercises.chapter01` ... `chapter04`) are built this way.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import torch


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
