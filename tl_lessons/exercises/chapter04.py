"""Chapter 04 exercises: moving a model to a new task by hand.

Each `check_*` runs the learner's function on small models built here, prints one sentence
and returns a `Feedback` (see `tl_lessons.exercises.feedback`); a wrong or unfinished answer never raises.

    >>> check_freeze_first(lambda model, k: [stage.requires_grad_(i >= k) for i, stage in enumerate(model.children())])
    Correct: ...
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons import models, verdicts
from tl_lessons.exercises.feedback import NotYet, call_learner, exercise, number_answer, tensor_answer

SMALL_WIDTH = (4, 8, 8, 16)  # a FastNet small enough that every check runs in milliseconds


def practice_model(num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """A small FastNet with weights and BatchNorm statistics drawn from `seed` (so no two are alike)."""
    generator = torch.Generator().manual_seed(seed)
    model = models.FastNet(num_classes, width=SMALL_WIDTH)
    with torch.no_grad():
        for tensor in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    return model.eval()


def _same(a: nn.Module, b: nn.Module, prefix: str = "") -> list[str]:
    """Names of the state_dict entries (those starting with `prefix`) that differ between a and b."""
    theirs = b.state_dict()
    return [name for name, tensor in a.state_dict().items()
            if name.startswith(prefix) and not torch.equal(tensor, theirs[name])]


@exercise
def check_copy_backbone(fn) -> str:
    """Check fn(source, target): copies every weight and statistic of the 10-way source except its head into the 100-way target.

    >>> check_copy_backbone(lambda s, t: t.load_state_dict({k: v for k, v in s.state_dict().items() if not k.startswith("head.")}, strict=False)).ok
    Correct: ...
    True
    """
    source, target = practice_model(10, seed=1), practice_model(100, seed=2)
    source_before, target_before = copy.deepcopy(source), copy.deepcopy(target)
    try:
        fn(source, target)
    except NotImplementedError:
        raise NotYet("`copy_backbone` is not written yet: replace `raise NotImplementedError` with your code.") from None
    except RuntimeError as error:
        if "size mismatch" in str(error):
            raise NotYet("load_state_dict refused the head: strict=False forgives missing or extra NAMES, not tensors "
                         "whose SHAPE differs (10 vs 100 outputs). Leave the head's entries out of the dict you load.") from None
        raise NotYet(f"`copy_backbone` raised RuntimeError: {error}") from None
    if _same(source, source_before):
        raise NotYet("Your function changed the source model: only the target should change.")
    differing = _same(target, source)
    not_copied = [n for n in source.state_dict() if not n.startswith("head.") and n in differing]
    if not_copied:
        if all("running" in n or "num_batches" in n for n in not_copied):
            raise NotYet(f"The weights arrived but not the BatchNorm statistics ({not_copied[0]}, ...): they are "
                         "buffers, not parameters. Copy `source.state_dict()`, which holds both.")
        raise NotYet(f"{len(not_copied)} backbone entries were not copied, for example {not_copied[0]}.")
    if _same(target, target_before, prefix="head."):
        raise NotYet("The target's new 100-way head changed: copy everything except the head.")
    return "The backbone's weights and BatchNorm statistics were copied; the new head was left as it was."


@exercise
def check_freeze_first(fn) -> str:
    """Check fn(model, k): the first k stages stop learning (requires_grad False), every later stage learns.

    >>> check_freeze_first(lambda m, k: [s.requires_grad_(i >= k) for i, s in enumerate(m.children())]).ok
    Correct: ...
    True
    """
    names = models.stage_names(practice_model())
    for k in (2, 0, 4, 1):
        model = practice_model()
        if k == 1:
            model.requires_grad_(False)  # a leftover freeze: the function must also unfreeze what follows
        _call_allowing_none(fn, model, k)
        learning = [name for name, stage in model.named_children()
                    if any(p.requires_grad for p in stage.parameters())]
        expected = names[k:]  # every FastNet stage has parameters
        if learning != expected:
            if learning == names[:len(names) - k]:
                raise NotYet(f"With k={k} you froze the LAST {k} stages; freeze the first k (input side): "
                             "enumerate(model.children()) counts from the stem.")
            raise NotYet(f"With k={k} the stages that learn should be {expected}, but yours are {learning}. "
                         "Set requires_grad to False for stages 0..k-1 and to True for the others.")
    return f"Freezing works for every k: the first k of {names} stop learning, the rest learn."


def _call_allowing_none(fn, *args):
    """Call a learner's function that works by side effect (returning None is fine)."""
    if not callable(fn):
        raise NotYet(f"Pass your function itself, not a {type(fn).__name__}.")
    try:
        fn(*args)
    except NotImplementedError:
        raise NotYet("The function is not written yet: replace `raise NotImplementedError` with your code.") from None
    except Exception as error:  # noqa: BLE001 - their code crashed: say how, without a traceback
        raise NotYet(f"Your function raised {type(error).__name__}: {error}.") from None


@exercise
def check_flattened_size(fn) -> str:
    """Check fn(backbone, image_size) -> how many numbers one image becomes at the backbone's output.

    >>> check_flattened_size(lambda b, s: b(torch.zeros(1, 3, s, s)).numel()).ok
    Correct: ...
    True
    """
    cases = [(nn.Sequential(*list(models.TutorialNet(10).children())[:2]), 32, 16 * 5 * 5),
             (nn.Sequential(*list(practice_model().children())[:4]), 32, SMALL_WIDTH[-1] * 4 * 4),
             (nn.Sequential(*list(practice_model().children())[:4]), 64, SMALL_WIDTH[-1] * 8 * 8)]
    for backbone, size, expected in cases:
        answer = number_answer(call_learner(fn, backbone, size, name="flattened_size"), "flattened_size(...)")
        if answer == 128 * 7 * 7:
            raise NotYet("128·7·7 = 6272 is the size for another network and input size: run a dummy input "
                         "through the backbone and count what comes out.")
        if answer != expected:
            if answer > expected and answer % expected == 0:
                raise NotYet(f"For a {size}x{size} input you got {answer:g} = {answer / expected:g} x {expected}: "
                             "count the numbers for ONE image (leave out the batch dimension).")
            raise NotYet(f"For a {size}x{size} input this backbone outputs {expected} numbers per image, "
                         f"your function says {answer:g}.")
    return "Right for both networks and both image sizes: a dummy input tells you what the Linear layer needs."


@exercise
def check_one_hot_mse(fn) -> str:
    """Check fn(outputs (N, C), labels (N,)) -> mean squared error between the outputs and one-hot targets.

    >>> check_one_hot_mse(lambda o, y: F.mse_loss(o, F.one_hot(y, o.shape[1]).float())).ok
    Correct: ...
    True
    """
    outputs = torch.tensor([[0.9, 0.2, -0.1], [0.1, 0.3, 0.8], [0.5, 0.5, 0.0], [0.0, 1.2, 0.1]])
    labels = torch.tensor([0, 2, 1, 1])
    answer = tensor_answer(call_learner(fn, outputs.clone(), labels.clone(), name="one_hot_mse"),
                           "one_hot_mse", like=torch.zeros(()))
    expected = F.mse_loss(outputs.double(), F.one_hot(labels, 3).double())
    if torch.isclose(answer, expected, atol=1e-6):
        return f"{answer.item():.4f}: the squared distance to the one-hot targets, averaged over every entry (as F.mse_loss)."
    if torch.isclose(answer, expected * outputs.numel(), atol=1e-5):
        raise NotYet("That is the sum of the squared errors; take the mean over all N x C entries.")
    if torch.isclose(answer, expected * outputs.shape[1], atol=1e-5):
        raise NotYet("That sums over the classes and averages over the rows; average over every entry, as F.mse_loss does.")
    raise NotYet(f"The MSE to one-hot targets here is {expected.item():.4f}, yours is {answer.item():.4f}: "
                 "compare the outputs with F.one_hot(labels, C).float(), not with the labels themselves.")


@exercise
def check_cifar10_again(fn) -> str:
    """Check fn(finetuned, source) -> a model made of the fine-tuned backbone and the source's 10-way head.

    >>> check_cifar10_again(lambda ft, src: nn.Sequential(*list(ft.children())[:-1], copy.deepcopy(src.head))).ok
    Correct: ...
    True
    """
    source, finetuned = practice_model(10, seed=3), practice_model(100, seed=4)
    finetuned_before = copy.deepcopy(finetuned)
    model = call_learner(fn, finetuned, source, name="cifar10_again")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    if not isinstance(model, nn.Module):
        raise NotYet(f"Return a model (an nn.Module), not a {type(model).__name__}.")
    if _same(finetuned, finetuned_before) or models.classifier(finetuned).out_features != 100:
        raise NotYet("Your function changed the fine-tuned model itself; build a new nn.Sequential instead "
                     "(its stages can be shared, its head must stay 100-way).")
    with torch.no_grad():
        outputs = model.eval()(x)
        backbone = nn.Sequential(*list(finetuned.children())[:-1])
        expected = source.head(backbone(x))
    if outputs.shape != (3, 10):
        raise NotYet(f"The model should give 10 CIFAR-10 scores per image, but gives shape {tuple(outputs.shape)}: "
                     "use the source model's head.")
    if torch.allclose(outputs, source(x)):
        raise NotYet("That is the source model itself: keep the FINE-TUNED backbone and only borrow the source's head.")
    if not torch.allclose(outputs, expected, atol=1e-5):
        raise NotYet("The outputs are not the source head applied to the fine-tuned backbone's features.")
    return "The fine-tuned backbone with the CIFAR-10 head: evaluate it on CIFAR-10 to measure forgetting."


@exercise
def check_predicted_ranking(predicted, results) -> str:
    """Compare the learner's predicted order of strategies (best first) with the measured runs.

    `results`: the comparison's runs (`analysis.compare_strategies`, every strategy over the same seeds).
    Each pair of the prediction is read with `verdicts` (every pair compared, Holm-corrected together):
    right when the measurement puts the first above the second beyond the noise, wrong when it puts it
    below, and "too close to call" within the noise: the data cannot say, so neither answer is wrong.

    >>> from tl_lessons.reference_file import comparison_runs, load_reference_runs
    >>> results = comparison_runs(load_reference_runs())          # the comparison's runs, as recorded
    >>> check_predicted_ranking(["freeze", "linear_probe", "scratch"], results).ok
    Correct: No pair of your prediction is contradicted: right beyond the noise: freeze above linear_probe, ...
    True
    """
    if predicted is None or not isinstance(predicted, (list, tuple)) or not predicted:
        raise NotYet("Write your prediction first: a list of strategy names, best first, "
                      "for example [\"freeze\", \"linear_probe\", \"scratch\"].")
    answers = verdicts.answers_by_setting(results, lambda result: result["strategy"])
    unknown = [name for name in predicted if name not in answers]
    if unknown:
        raise NotYet(f"{', '.join(map(str, unknown))} is not among the strategies measured here: "
                     f"choose from {', '.join(answers)}.")
    if len(set(predicted)) != len(predicted) or len(predicted) < 2:
        raise NotYet("Name at least two different strategies, each once, best first.")
    pairs = [(better, worse) for i, better in enumerate(predicted) for worse in predicted[i + 1:]]
    rows = verdicts.adjust([dict(verdicts.compare(answers[better], answers[worse]), name=f"{better} above {worse}")
                            for better, worse in pairs])
    right = [row["name"] for row in rows if row["verdict"] == "above"]
    wrong = [f"{row['name']} (measured {100 * row['accuracy_a']:.1f} % against {100 * row['accuracy_b']:.1f} %)"
             for row in rows if row["verdict"] == "below"]
    close = [row["name"] for row in rows if row["verdict"] == "within the noise"]
    said = [f"right beyond the noise: {', '.join(right)}" if right else "",
            f"too close to call (within the noise): {', '.join(close)}" if close else ""]
    said = "; ".join(part for part in said if part)
    if wrong:
        raise NotYet(f"The measurement disagrees with {', '.join(wrong)}"
                     + (f"; {said}" if said else "") + ". Can you explain why?")
    return f"No pair of your prediction is contradicted: {said}."
