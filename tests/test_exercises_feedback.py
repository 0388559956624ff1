"""The exercise framework: a check prints one sentence, returns Feedback, and never lets a broken answer raise."""

import pytest
import torch

from tl_lessons.exercises.feedback import Feedback, NotYet, call_learner, exercise


def rejected(feedback: Feedback, *phrases: str) -> bool:
    """The check said no, and its sentence contains every phrase (case-insensitive)."""
    return not feedback.ok and all(phrase.lower() in feedback.message.lower() for phrase in phrases)



def test_exercise_prints_feedback_and_returns_it(capsys):
    @exercise
    def check_positive(x):
        if x <= 0:
            raise NotYet("It should be above 0.")
        return "It is positive."

    good, bad = check_positive(3), check_positive(-1)
    assert good == Feedback(True, "It is positive.") and bad == Feedback(False, "It should be above 0.")
    assert capsys.readouterr().out == "Correct: It is positive.\nNot yet: It should be above 0.\n"


def test_a_broken_answer_never_escapes_as_an_exception(capsys):
    @exercise
    def check_len(thing):
        return f"It has {len(thing)} items."

    feedback = check_len(5)  # len(5) raises TypeError inside the check
    assert rejected(feedback, "could not use your answer", "TypeError")
    assert "Traceback" not in capsys.readouterr().out


def stub(*args):
    raise NotImplementedError


def empty(*args):
    ...  # your code here


def crashes(*args):
    return args[0].no_such_method()


@pytest.mark.parametrize(
    "fn, phrase",
    [(stub, "not written yet"), (empty, "returned None"), (crashes, "raised AttributeError"), ("my_softmax", "pass your function")],
)
def test_call_learner_turns_unfinished_or_crashing_code_into_a_sentence(fn, phrase):
    with pytest.raises(NotYet, match=f"(?i){phrase}"):
        call_learner(fn, torch.zeros(2))
