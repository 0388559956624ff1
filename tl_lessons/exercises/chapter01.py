"""Chapter 01 exercises: shared and new layers, copying weights, soft targets, what counts as transfer.

Each `check_*` prints one sentence and returns a `Feedback` (see `tl_lessons.exercises.feedback`);
a wrong or unfinished answer never raises.

    >>> check_shared_and_new(["stem", "stage1", "stage2", "stage3"], ["head"])
    Correct: ...
"""
import math

import torch

from tl_lessons import models
from tl_lessons.distillation import soft_targets
from tl_lessons.exercises.feedback import NotYet, call_learner, exercise, tensor_answer

# The transfer every check is about: the CIFAR-10 FastNet, reused for CIFAR-100's 100 classes.
SOURCE_CLASSES, TARGET_CLASSES = 10, 100


def _stage_list(value, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set)):
        raise NotYet(f"`{name}` should be a list of stage names such as ['stem', 'stage1'], not {value!r}.")
    return [str(stage) for stage in value]


@exercise
def check_shared_and_new(shared, new) -> str:
    """Check which FastNet stages are copied from the CIFAR-10 model (shared) and which are built fresh (new).

    >>> check_shared_and_new(["stem", "stage1", "stage2", "stage3"], ["head"]).ok
    Correct: ...
    True
    """
    stages = models.stage_names(models.FastNet(SOURCE_CLASSES))
    shared, new = _stage_list(shared, "shared"), _stage_list(new, "new")
    unknown = [stage for stage in shared + new if stage not in stages]
    if unknown:
        raise NotYet(f"FastNet has no stage called {', '.join(map(repr, unknown))}: its stages are {', '.join(stages)}.")
    both = sorted(set(shared) & set(new))
    if both:
        raise NotYet(f"{', '.join(both)} cannot be both shared and new: a stage is either copied or built fresh.")
    missing = [stage for stage in stages if stage not in shared and stage not in new]
    if missing:
        raise NotYet(f"Every stage is one or the other; you left out {', '.join(missing)}.")
    if "head" in shared:
        raise NotYet(f"The head ends in a Linear layer with {SOURCE_CLASSES} outputs, one per CIFAR-10 class; CIFAR-100 "
                     f"needs {TARGET_CLASSES}, so its head is new (and CIFAR-10's class scores mean nothing for it).")
    if len(new) > 1:
        raise NotYet(f"Only the head depends on the class count; {', '.join(s for s in new if s != 'head')} compute "
                     "general image features and can be copied (whether to freeze them is a separate choice).")
    return (f"Shared: {', '.join(shared)}; new: head. Only the head's shape depends on the classes; "
            "everything before it can be copied.")


def _fastnets(seed: int):
    """A CIFAR-10 FastNet and a CIFAR-100 FastNet, each with its own random weights."""
    torch.manual_seed(seed)
    source = models.FastNet(SOURCE_CLASSES)
    target = models.FastNet(TARGET_CLASSES)
    # One forward pass in training mode moves the source's BatchNorm running statistics away
    # from their initial values, as training would, so a copy that skips them is noticed.
    with torch.no_grad():
        source.train()(torch.randn(8, 3, 32, 32))
    source.eval()
    return source, target


def _tensors_equal(a: dict, b: dict, keys) -> bool:
    return all(torch.equal(a[key], b[key]) for key in keys)


@exercise
def check_copy_shared(fn) -> str:
    """Check fn(source, target) -> target, which copies every shared stage's weights from source into target.

    source is a FastNet for 10 classes, target one for 100 classes; the target's head must stay its own.

    >>> def copy_shared(source, target):
    ...     shared = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    ...     target.load_state_dict(shared, strict=False)
    ...     return target
    >>> check_copy_shared(copy_shared).ok
    Correct: ...
    True
    """
    source, target = _fastnets(seed=1)
    before_source = {k: v.clone() for k, v in source.state_dict().items()}
    before_target = {k: v.clone() for k, v in target.state_dict().items()}
    try:
        result = call_learner(fn, source, target, name="copy_shared")
    except NotYet as reason:
        if "size mismatch" in str(reason):
            raise NotYet("Loading the whole state_dict fails because the heads differ in size (10 vs 100 outputs): "
                         "leave out the keys that start with 'head.' and pass strict=False.") from None
        raise
    if result is source:
        raise NotYet("copy_shared returned the source model itself: return the target, whose head has 100 outputs.")
    if not isinstance(result, torch.nn.Module):
        raise NotYet(f"copy_shared should return the target model, not a {type(result).__name__}.")
    if not _tensors_equal(source.state_dict(), before_source, before_source):
        raise NotYet("Your function changed the source model's weights: copy from source into target, not the other way round.")
    state = result.state_dict()
    if set(state) != set(before_target):
        raise NotYet("The returned model does not have the target's layers: return `target` after copying into it.")
    shared_keys = [k for k in state if not k.startswith("head.")]
    head_keys = [k for k in state if k.startswith("head.")]
    not_copied = [k for k in shared_keys if not torch.equal(state[k], before_source[k])]
    if not_copied:
        raise NotYet(f"{len(not_copied)} of {len(shared_keys)} shared tensors were not copied (e.g. {not_copied[0]}): "
                     "copy every key outside the head, BatchNorm running statistics included (state_dict has them).")
    if not _tensors_equal(state, before_target, head_keys):
        raise NotYet("The target's head changed: it must keep its own fresh 100-class weights.")
    source_memory = {p.data_ptr() for p in source.state_dict().values()}
    if any(state[k].data_ptr() in source_memory for k in shared_keys):
        raise NotYet("The target now shares tensors with the source (the same memory), so training the target would "
                     "change the source too: copy the values, e.g. with load_state_dict, instead of assigning modules.")
    return (f"All {len(shared_keys)} shared tensors now equal the source's, as copies; the head's "
            f"{len(head_keys)} tensors are still the target's own. That copy is what makes it transfer.")


@exercise
def check_soft_targets(fn) -> str:
    """Check fn(logits, temperature) -> softmax(logits / temperature) over the last dimension.

    >>> check_soft_targets(lambda logits, t: torch.softmax(logits / t, dim=-1)).ok
    Correct: ...
    True
    """
    logits = torch.tensor([[6.0, 3.0, 1.0, -2.0], [0.5, 2.0, 0.0, 1.0]])
    temperature = 4.0
    expected = soft_targets(logits.double(), temperature)
    answer = tensor_answer(call_learner(fn, logits.clone(), temperature, name="soft_targets"), "soft_targets", like=logits)
    if torch.allclose(answer, expected, atol=1e-5):
        plain = soft_targets(logits[0].double(), 1.0)
        return (f"At T = {temperature:g} the first row becomes {[round(p, 3) for p in answer[0].tolist()]} instead of "
                f"{[round(p, 3) for p in plain.tolist()]} at T = 1: the small probabilities, which show which "
                "classes the teacher finds similar, are now large enough to learn from.")
    if torch.allclose(answer, soft_targets(logits.double(), 1.0), atol=1e-5):
        raise NotYet("That is the plain softmax: divide the logits by the temperature before the softmax.")
    if torch.allclose(answer, soft_targets(logits.double(), 1 / temperature), atol=1e-5):
        raise NotYet("You multiplied by the temperature, which sharpens the distribution; divide by it to soften.")
    if torch.allclose(answer, soft_targets(logits.double().T, temperature).T, atol=1e-5):
        raise NotYet("Each ROW is one image: take the softmax over the last dimension (dim=-1).")
    raise NotYet(f"For logits {logits[0].tolist()} at T = {temperature:g} the soft targets are "
                 f"{[round(p, 4) for p in expected[0].tolist()]}, yours are {[round(p, 4) for p in answer[0].tolist()]}.")


# Statements about the CIFAR-10 model and a CIFAR-100 target; True = it is transfer learning.
TRANSFER_QUIZ = {
    "a": ("Wrap the CIFAR-10 model in nn.DataParallel (new 100-way head), then train it on CIFAR-100.", True,
          "The CIFAR-10 weights are trained further on CIFAR-100: that is fine-tuning. DataParallel only splits each "
          "batch across GPUs and changes nothing about which weights the model starts from: it is irrelevant either way."),
    "b": ("Build a fresh FastNet(100) and train it on CIFAR-100 with the same recipe as the CIFAR-10 model.", False,
          "Same architecture and recipe, but no learned weight or output reaches the new model: that is training from scratch."),
    "c": ("Copy stem..stage3 from the CIFAR-10 model into FastNet(100), freeze them and train only the head.", True,
          "The copied stages carry what was learned on CIFAR-10: feature extraction, a form of parameter transfer."),
    "d": ("Train a smaller CIFAR-10 network to match the CIFAR-10 model's softened outputs on CIFAR-10 images.", False,
          "Knowledge moves from one model to another (distillation, here as model compression), but the task and the "
          "domain stay the same: nothing learned on a source reaches a different target. Distillation is transfer "
          "learning when the student's task or data differ from the teacher's."),
}


@exercise
def check_transfer_quiz(answers) -> str:
    """Check a dict {"a": True/False, ...}: which statements of TRANSFER_QUIZ describe transfer learning.

    >>> check_transfer_quiz({"a": True, "b": False, "c": True, "d": False}).ok
    Correct: ...
    True
    """
    if not isinstance(answers, dict):
        raise NotYet('Answer with a dict such as {"a": True, "b": False, "c": True, "d": False}.')
    unanswered = [key for key in TRANSFER_QUIZ if not isinstance(answers.get(key), bool)]
    if unanswered:
        raise NotYet(f"Answer every statement with True or False; still open: {', '.join(unanswered)}.")
    wrong = [key for key, (_, truth, _) in TRANSFER_QUIZ.items() if answers[key] != truth]
    if wrong:
        key = wrong[0]
        statement, truth, reason = TRANSFER_QUIZ[key]
        raise NotYet(f"{len(wrong)} answer(s) to rethink. ({key}) \"{statement}\" is {'' if truth else 'not '}transfer: {reason}")
    return ("All four right: transfer means something learned on a source task (weights, features or outputs) reaches "
            "a model for a different target task or domain; wrappers such as DataParallel change nothing about it.")


@exercise
def check_copy_prediction(predicted, comparison: dict) -> str:
    """Check a prediction (True/False): does the comparison call the copied weights' lead over scratch real?

    `comparison` is the `tl_lessons.verdicts` row of copied against scratch (`verdicts.against` or
    `verdicts.compare`): the difference, its 95 % interval and "real", the calibrated verdict.

    >>> from tl_lessons import verdicts
    >>> copied = torch.tensor([[1, 1, 1, 0] * 100] * 3)     # 3 seeds × 400 test images, right (1) or wrong (0)
    >>> scratch = torch.tensor([[1, 0, 1, 0] * 100] * 3)
    >>> check_copy_prediction(True, verdicts.compare(copied, scratch)).ok
    Correct: Your prediction matches the measurement: copied 75.0 %, scratch 50.0 %: +25.0 points (95 % interval ...).
    True
    """
    if not isinstance(predicted, bool):
        raise NotYet("Write your prediction first: True (the copy beats scratch beyond the noise) or False.")
    beyond = comparison["real"] and comparison["difference"] > 0
    worse = comparison["real"] and comparison["difference"] < 0
    span = (f"95 % interval {100 * comparison['low']:+.1f} to {100 * comparison['high']:+.1f} points"
            if math.isfinite(comparison["low"]) else "no interval: one seed cannot measure the seeds' luck")
    measured = (f"copied {100 * comparison['accuracy_a']:.1f} %, scratch {100 * comparison['accuracy_b']:.1f} %: "
                f"{100 * comparison['difference']:+.1f} points ({span}, {comparison['seeds']} seed"
                f"{'s' if comparison['seeds'] != 1 else ''})")
    if predicted == beyond:
        return f"Your prediction matches the measurement: {measured}."
    if worse:
        raise NotYet(f"The copy did worse beyond the noise here ({measured}): negative transfer. What could cause it?")
    if beyond:
        raise NotYet(f"Copying won beyond the noise ({measured}). Why can a source help so much with few labels?")
    raise NotYet(f"The comparison does not call the difference real ({measured}): on this evidence it is not shown. "
                 "How could you measure it more precisely?")
