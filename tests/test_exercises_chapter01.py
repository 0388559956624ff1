"""Chapter 01 checks accept the reference answers and reject the typical wrong ones with the right hint."""
import math

import pytest
import torch

from tl_lessons.exercises import chapter01 as ex


def unfinished(*args):
    raise NotImplementedError


SHARED = ["stem", "stage1", "stage2", "stage3"]


def test_shared_and_new_accepts_the_stage_split():
    assert ex.check_shared_and_new(SHARED, ["head"]).ok
    assert ex.check_shared_and_new(tuple(reversed(SHARED)), ("head",)).ok


@pytest.mark.parametrize("shared, new, hint", [
    (SHARED + ["head"], [], "10 outputs"),
    (["stem"], ["stage1", "stage2", "stage3", "head"], "general image features"),
    (SHARED, [], "left out head"),
    (SHARED, ["head", "stem"], "both shared and new"),
    (SHARED, ["classifier"], "no stage called 'classifier'"),
    ("stem", ["head"], "list of stage names"),
])
def test_shared_and_new_explains_mistakes(shared, new, hint):
    feedback = ex.check_shared_and_new(shared, new)
    assert not feedback.ok and hint in feedback.message


def copy_shared(source, target):
    shared = {key: value for key, value in source.state_dict().items() if not key.startswith("head.")}
    target.load_state_dict(shared, strict=False)
    return target


def test_copy_shared_accepts_reference():
    feedback = ex.check_copy_shared(copy_shared)
    assert feedback.ok and "shared tensors" in feedback.message


def copy_whole_state_dict(source, target):
    target.load_state_dict(source.state_dict())
    return target


def copy_parameters_only(source, target):
    # Misses the BatchNorm running statistics, which are buffers, not parameters.
    with torch.no_grad():
        for (name, p_target), (_, p_source) in zip(target.named_parameters(), source.named_parameters()):
            if not name.startswith("head."):
                p_target.copy_(p_source)
    return target


def share_modules(source, target):
    for name in ("stem", "stage1", "stage2", "stage3"):
        setattr(target, name, getattr(source, name))
    return target


def copy_into_source(source, target):
    copy_shared(target, source)
    return target


def copy_everything_and_head(source, target):
    copy_shared(source, target)
    with torch.no_grad():
        target.head.fc.weight.zero_()
    return target


@pytest.mark.parametrize("answer, hint", [
    (copy_whole_state_dict, "leave out the keys that start with 'head.'"),
    (lambda source, target: source, "returned the source model itself"),
    (lambda source, target: target, "were not copied"),
    (copy_parameters_only, "running statistics"),
    (share_modules, "shares tensors with the source"),
    (copy_into_source, "changed the source"),
    (copy_everything_and_head, "head changed"),
    (unfinished, "not written yet"),
])
def test_copy_shared_explains_mistakes(answer, hint):
    feedback = ex.check_copy_shared(answer)
    assert not feedback.ok and hint in feedback.message


def test_soft_targets():
    assert ex.check_soft_targets(lambda logits, t: torch.softmax(logits / t, dim=-1)).ok
    plain = ex.check_soft_targets(lambda logits, t: torch.softmax(logits, dim=-1))
    assert not plain.ok and "plain softmax" in plain.message
    sharpened = ex.check_soft_targets(lambda logits, t: torch.softmax(logits * t, dim=-1))
    assert not sharpened.ok and "multiplied" in sharpened.message
    columns = ex.check_soft_targets(lambda logits, t: torch.softmax(logits / t, dim=0))
    assert not columns.ok and "dim=-1" in columns.message
    assert not ex.check_soft_targets(unfinished).ok


def test_transfer_quiz():
    right = {key: truth for key, (_, truth, _) in ex.TRANSFER_QUIZ.items()}
    assert ex.check_transfer_quiz(right).ok
    # Fine-tuning the CIFAR-10 weights is transfer whether or not DataParallel wraps the model.
    assert right["a"] is True and right["d"] is False
    feedback = ex.check_transfer_quiz(dict(right, a=False))
    assert not feedback.ok and "(a)" in feedback.message and "fine-tuning" in feedback.message
    same_task_distillation = ex.check_transfer_quiz(dict(right, d=True))
    assert not same_task_distillation.ok and "the task and the domain stay the same" in same_task_distillation.message
    assert "still open: b" in ex.check_transfer_quiz({"a": False}).message
    assert not ex.check_transfer_quiz(["a"]).ok


def test_the_copy_prediction_is_judged_by_the_calibrated_comparison():
    def comparison(copied, scratch, real, seeds=3):
        low, high = (copied - scratch - 0.03, copied - scratch + 0.03) if seeds > 1 else (-math.inf, math.inf)
        return {"accuracy_a": copied, "accuracy_b": scratch, "difference": copied - scratch, "low": low, "high": high,
                "real": real, "seeds": seeds}

    won = comparison(0.15, 0.08, real=True)
    assert ex.check_copy_prediction(True, won).ok
    assert "copied 15.0 %, scratch 8.0 %: +7.0 points (95 % interval +4.0 to +10.0 points, 3 seeds)" in (
        ex.check_copy_prediction(True, won).message)
    wrong = ex.check_copy_prediction(False, won)
    assert not wrong.ok and "won beyond the noise" in wrong.message
    noise = comparison(0.10, 0.08, real=False)
    assert ex.check_copy_prediction(False, noise).ok
    assert "not shown" in ex.check_copy_prediction(True, noise).message
    worse = ex.check_copy_prediction(True, comparison(0.05, 0.08, real=True))
    assert not worse.ok and "negative transfer" in worse.message
    one_seed = ex.check_copy_prediction(True, comparison(0.15, 0.08, real=False, seeds=1))
    assert not one_seed.ok and "no interval: one seed" in one_seed.message and "1 seed)" in one_seed.message
    assert "Write your prediction" in ex.check_copy_prediction(None, won).message
