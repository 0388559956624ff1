"""Transfer strategies: which stages of a pre-trained model learn, and how fast.

A model from `tl_lessons.models` is a stack of named stages ending in `head`. A strategy
decides, stage by stage, whether its weights are *frozen* (`requires_grad = False`: the
optimiser leaves them alone) or *trainable*, and at which learning rate. `STRATEGY_TABLE`
lists the seven strategies of the lessons, from `scratch` to `head_first`: what each one
trains, which options it takes, the learning rate it starts from, which stages it freezes in
each epoch, each stage's rate and the checks of its schedule (as fastai's `freeze_to` keeps what
freezing means in one place). The dashboard's choices, the command line, run labels and
frozen-feature caching all read that one table: a new strategy is a new row (and a new option a
field of `Strategy`).

>>> from tl_lessons.models import FastNet
>>> model = FastNet(10)
>>> strategy = apply_strategy(model, "freeze", k=2)
>>> frozen_stages(model)
['stem', 'stage1']

Frozen stages that contain BatchNorm need one more decision (`bn`): BatchNorm keeps
*running statistics* that move whenever the layer runs in training mode, even when its
weights are frozen. `bn="eval"` keeps frozen stages in inference mode, so they really do
not change (Keras does the same with `training=False`); `bn="train"` lets their statistics
drift towards the new data.
"""
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from tl_lessons import text
from tl_lessons.errors import ConfigError, is_number, is_whole_number
from tl_lessons.models import count_parameters, stage_names

BN_MODES = ("eval", "train")


@dataclass
class Strategy:
    """A transfer strategy and its options, each with its default (only the options of its `name` matter).

    >>> Strategy("freeze", k=2).frozen_count(num_stages=5)
    2
    """

    name: str
    k: int = 2                    # "freeze": number of leading stages frozen (2: the lessons' depth)
    bn: str = "eval"              # BatchNorm in frozen stages: "eval" (running stats kept) or "train"
    head_lr_factor: float = 10.0  # "discriminative": head rate = lr * factor (a new head learns fastest)
    stage_decay: float = 0.5      # "discriminative": each earlier stage's rate *= decay
    unfreeze_every: int = 1       # "gradual": epochs between unfreezing the next stage (from the top)
    head_epochs: int = 1          # "head_first": epochs with only the head trainable

    def frozen_count(self, num_stages, epoch=0):
        """How many leading stages are frozen during `epoch` (0 = the first epoch).

        >>> [Strategy("gradual", unfreeze_every=2).frozen_count(4, epoch) for epoch in range(7)]
        [3, 3, 2, 2, 1, 1, 0]
        """
        return STRATEGY_TABLE[self.name].frozen(self, num_stages, epoch)


OPTIONS = tuple(f.name for f in fields(Strategy) if f.name != "name")
"""The strategy options: k, bn, head_lr_factor, stage_decay, unfreeze_every, head_epochs."""


@dataclass(frozen=True)
class StrategyInfo:
    """One row of `STRATEGY_TABLE`."""

    title: str                 # the strategy's name for learners (the dashboard's picker)
    summary: str               # what learns, in one line
    options: tuple             # the `Strategy` options it takes; the others make no difference to it
    scheduled: bool            # unfreezes stages while training (see `on_epoch_start`)
    lr: float                  # the learning rate it starts from (chapter 04's tuning, see below)
    frozen: Callable           # (strategy, stages, epoch) -> how many leading stages are frozen in that epoch
    stage_lr: Callable | None = None        # (strategy, lr, steps below the head) -> that stage's rate; None: lr
    schedule_check: Callable | None = None  # (strategy, epochs) -> why it cannot follow its schedule, or None


# What each strategy freezes and how fast each stage learns, given to its row below. A model has
# `stages` stages, the head last; epochs count from 0.

def _nothing(strategy, stages, epoch):
    return 0


def _all_but_the_head(strategy, stages, epoch):
    return stages - 1


def _the_first_k(strategy, stages, epoch):
    return strategy.k


def _one_more_every_few_epochs(strategy, stages, epoch):
    # One more stage learns every `unfreeze_every` epochs, counting down from the head.
    return max(0, stages - 1 - epoch // strategy.unfreeze_every)


def _all_but_the_head_at_first(strategy, stages, epoch):
    return stages - 1 if epoch < strategy.head_epochs else 0


def _slower_further_from_the_head(strategy, lr, below_head):
    return lr * strategy.head_lr_factor * strategy.stage_decay ** below_head


def _an_epoch_after_the_head(strategy, epochs):
    # Without an epoch for the whole network after the head's epochs, head_first is a linear probe by another name.
    head = strategy.head_epochs
    if not (is_whole_number(head) and is_whole_number(epochs)) or head < epochs:
        return None
    plural = "epoch" if head == 1 else "epochs"
    remedy = ("choose linear_probe to train only the head" if epochs <= 1 else
              f"train the head alone for at most {epochs - 1} epoch{'s' if epochs > 2 else ''}")
    return (f"head_first trains the head alone for {head} {plural}, then the whole network, so it needs at least "
            f"{head + 1} epochs: raise the number of epochs, or {remedy}.")


# lr: each strategy's best rate in chapter 04's tuning: the shipped CIFAR-10 FastNet on the few-shot
# CIFAR-100 task (5 labelled images per class), 10 epochs, batch 64, seed 0, each of 0.01 / 0.03 / 0.1 /
# 0.3 / 1.0 scored on the task's validation images, held out from the training split (the test split
# plays no part). Every score is in
# `tl_lessons.analysis.TUNING_RECORD` (a tie goes to the smaller rate); chapter 04 repeats part of the
# tuning live with `transfer_gain.tune`, each rate with and without augmentation. On 500 images most strategies peak at 0.3, with 1.0
# close behind for the frozen ones; discriminative rates peak lower, because their head already trains
# at 10x the base rate. The dashboard, the command line and test mode start from them.
STRATEGY_TABLE = {
    "scratch": StrategyInfo(
        "Train from scratch", "Same network, random weights: the baseline that transfer has to beat.",
        options=(), scheduled=False, lr=0.3, frozen=_nothing),
    "linear_probe": StrategyInfo(
        "Linear probe", "Freeze every stage and train only a new head on the source's features.",
        options=("bn",), scheduled=False, lr=0.3, frozen=_all_but_the_head),
    "freeze": StrategyInfo(
        "Freeze the first k stages", "Keep the first k stages as the source learnt them; train the rest.",
        options=("k", "bn"), scheduled=False, lr=0.3, frozen=_the_first_k),
    "finetune": StrategyInfo(
        "Fine-tune everything", "Start from the source's weights and train every stage.",
        options=(), scheduled=False, lr=0.3, frozen=_nothing),
    "discriminative": StrategyInfo(
        "Discriminative learning rates", "Train every stage, the early ones with smaller rates.",
        options=("head_lr_factor", "stage_decay"), scheduled=False, lr=0.1, frozen=_nothing,
        stage_lr=_slower_further_from_the_head),
    "gradual": StrategyInfo(
        "Gradual unfreezing", "Train the head, then unfreeze one more stage from the top every few epochs.",
        options=("bn", "unfreeze_every"), scheduled=True, lr=0.3, frozen=_one_more_every_few_epochs),
    "head_first": StrategyInfo(
        "Head first, then everything", "Train only the new head for a few epochs, then fine-tune all.",
        options=("bn", "head_epochs"), scheduled=True, lr=0.3, frozen=_all_but_the_head_at_first,
        schedule_check=_an_epoch_after_the_head),
}

STRATEGIES = tuple(STRATEGY_TABLE)
SCHEDULED = tuple(name for name, row in STRATEGY_TABLE.items() if row.scheduled)
"""The strategies that unfreeze stages during training: their frozen part changes, so it is never cached."""


def strategy_problem(name):
    """Why `name` is not a strategy (None when it is one).

    >>> strategy_problem("transfer")
    "Unknown strategy 'transfer': choose one of scratch, linear_probe, freeze, finetune, discriminative, gradual, head_first."
    """
    if name in STRATEGY_TABLE:
        return None
    return f"Unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}."


def option_problems(strategy, stages=None):
    """What is wrong with the options `strategy` takes, as {option: sentence} (empty when nothing is).

    Only the options of its row in `STRATEGY_TABLE` are checked. With `stages`, the model's stage
    names, the freeze depth k is checked against that model.

    >>> option_problems(Strategy("freeze", k=7), ["stem", "stage1", "head"])
    {'k': 'k must be between 0 and 2 for this model: it counts the frozen stages among stem, stage1, head, and the head always trains.'}
    """
    takes = STRATEGY_TABLE[strategy.name].options
    problems = {}
    if "k" in takes:
        if stages is not None and not (is_whole_number(strategy.k) and 0 <= strategy.k < len(stages)):
            problems["k"] = (f"k must be between 0 and {len(stages) - 1} for this model: it counts the frozen "
                             f"stages among {', '.join(stages)}, and the head always trains.")
        elif not (is_whole_number(strategy.k) and strategy.k >= 0):
            problems["k"] = "k must be a whole number of stages, 0 or more: the first k stages stay frozen."
    if "bn" in takes and strategy.bn not in BN_MODES:
        problems["bn"] = "bn must be 'eval' (frozen BatchNorm keeps the source's statistics) or 'train' (it re-estimates them)."
    if "head_lr_factor" in takes and not (is_number(strategy.head_lr_factor) and strategy.head_lr_factor > 0):
        problems["head_lr_factor"] = ("head_lr_factor, the head's rate as a multiple of the lr, must be above 0 "
                                      "(1 = the same rate as the rest).")
    if "stage_decay" in takes and not (is_number(strategy.stage_decay) and 0 < strategy.stage_decay <= 1):
        problems["stage_decay"] = ("stage_decay must be above 0 and at most 1: each earlier stage learns at that "
                                   "times the rate of the one above it (1 = the same rate everywhere).")
    if "unfreeze_every" in takes and not (is_whole_number(strategy.unfreeze_every) and strategy.unfreeze_every >= 1):
        problems["unfreeze_every"] = "Unfreeze a stage every 1 or more epochs: unfreeze_every is a whole number of epochs."
    if "head_epochs" in takes and not (is_whole_number(strategy.head_epochs) and strategy.head_epochs >= 1):
        problems["head_epochs"] = "Train the head alone for 1 or more epochs: head_epochs is a whole number of epochs."
    return problems


def schedule_problem(strategy: Strategy, epochs) -> str | None:
    """Why `strategy` cannot follow its schedule within `epochs` epochs (None when it can).

    The one home of these rules: each strategy's row of `STRATEGY_TABLE` holds its check. Only
    "head_first" has one: it needs an epoch for the whole network after the head's epochs.
    ("gradual" may end before every stage is unfrozen: how far it gets is part of that lesson.)

    >>> schedule_problem(Strategy("head_first", head_epochs=1), epochs=2) is None
    True
    """
    row = STRATEGY_TABLE.get(strategy.name)
    if row is None or row.schedule_check is None:
        return None
    return row.schedule_check(strategy, epochs)


def make_strategy(name_or_strategy, **options):
    """A `Strategy` from its name and options (or a `Strategy` with some options changed).

    Unknown names raise ConfigError; the option values are checked by `apply_strategy`.

    >>> make_strategy("discriminative", stage_decay=0.3).stage_decay
    0.3
    """
    if isinstance(name_or_strategy, Strategy):
        base = name_or_strategy
    elif strategy_problem(name_or_strategy) is None:
        base = Strategy(name_or_strategy)
    else:
        raise ConfigError(strategy_problem(name_or_strategy))
    unknown = [key for key in options if key not in OPTIONS]
    if unknown:
        raise ConfigError(
            f"Unknown strategy option {', '.join(unknown)}: the options are {', '.join(OPTIONS)}.")
    return replace(base, **options)


def apply_strategy(model, name_or_strategy, **options):
    """Freezes the stages that the strategy freezes at the start of training; returns the strategy.

    Freezing sets `requires_grad = False` on a stage's parameters, so backpropagation
    computes no gradient for them and the optimiser skips them. Options that cannot work
    for this model raise ConfigError, and the model is left as it was.

    >>> from tl_lessons.models import TutorialNet
    >>> apply_strategy(TutorialNet(), "linear_probe").name
    'linear_probe'
    """
    strategy = make_strategy(name_or_strategy, **options)
    names = stage_names(model)
    problems = option_problems(strategy, names)
    if problems:
        raise ConfigError(" ".join(problems.values()))
    _freeze_first(model, strategy.frozen_count(len(names), epoch=0))
    return strategy


def _freeze_first(model, count):
    """Freezes the first `count` stages and makes every later stage trainable."""
    for index, stage in enumerate(model.children()):
        stage.requires_grad_(index >= count)


def frozen_stages(model):
    """The names of the stages none of whose parameters learn.

    >>> from tl_lessons.models import TutorialNet
    >>> model = TutorialNet()
    >>> _ = apply_strategy(model, "freeze", k=2)
    >>> frozen_stages(model)
    ['conv1', 'conv2']
    """
    return [name for name, stage in model.named_children() if _is_frozen(stage)]


def _is_frozen(stage):
    return not any(p.requires_grad for p in stage.parameters())


def _has_batchnorm(stage):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in stage.modules())


def _behaves_differently_in_training(stage):
    """True when the stage's output depends on train/eval mode (BatchNorm, dropout)."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd))
               for m in stage.modules())


def set_train_mode(model, strategy=None):
    """Puts the model in training mode, but frozen stages in inference mode if `strategy.bn == "eval"`.

    Call it at the start of every epoch (after `on_epoch_start`), in place of `model.train()`.
    In inference mode BatchNorm normalises with its stored running statistics and does not
    update them, and dropout is off, so a frozen stage computes a fixed function.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> set_train_mode(model, apply_strategy(model, "linear_probe"))
    >>> model.stem.training, model.head.training
    (False, True)
    """
    model.train()
    if strategy is not None and strategy.bn == "eval":
        for stage in model.children():
            if _is_frozen(stage):
                stage.eval()


def param_groups(model, strategy, lr):
    """Optimiser parameter groups, one per stage (frozen ones included), with "stage" and "lr" keys.

    Every stage gets `lr`, except with `discriminative`, where the stage `d` steps below
    the head (the head is `d = 0`) gets

        lr * head_lr_factor * stage_decay ** d

    e.g. with FastNet, lr=0.1, factor 1 and decay 0.5: head 0.1, stage3 0.05, stage2 0.025,
    stage1 0.0125, stem 0.00625 (the default factor, 10, scales all of them up tenfold).

    Frozen stages are listed too, on purpose: their parameters have no gradient, so the
    optimiser skips them, and when `gradual` or `head_first` unfreezes them later they
    start learning in the same optimiser, with the learning-rate schedule already set up.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> strategy = apply_strategy(model, "discriminative", head_lr_factor=1)
    >>> [group["lr"] for group in param_groups(model, strategy, lr=0.1)]
    [0.00625, 0.0125, 0.025, 0.05, 0.1]
    >>> optimizer = torch.optim.SGD(param_groups(model, strategy, lr=0.1), momentum=0.9)
    """
    stages = list(model.named_children())
    groups = []
    for index, (name, stage) in enumerate(stages):
        params = list(stage.parameters())
        if not params:
            continue
        stage_lr = STRATEGY_TABLE[strategy.name].stage_lr if strategy is not None else None
        rate = lr if stage_lr is None else stage_lr(strategy, lr, len(stages) - 1 - index)  # the head: 0 below itself
        groups.append({"params": params, "lr": rate, "stage": name})
    return groups


def on_epoch_start(model, strategy, epoch, optimizer=None):
    """Unfreezes the stages that the schedule unfreezes at `epoch` (0 = first); returns their names.

    Only `gradual` and `head_first` change anything. The optimiser must already hold the
    unfrozen parameters (build it from `param_groups`), otherwise this raises ConfigError:

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> strategy = apply_strategy(model, "gradual")
    >>> optimizer = torch.optim.SGD(param_groups(model, strategy, lr=0.1), momentum=0.9)
    >>> for epoch in range(3):
    ...     unfrozen = on_epoch_start(model, strategy, epoch, optimizer)
    ...     set_train_mode(model, strategy)
    ...     print(epoch, unfrozen)                 # ... then train one epoch
    0 []
    1 ['stage3']
    2 ['stage2']
    """
    # Design: rather than adding param groups to the optimiser when a stage unfreezes, every
    # stage is in the optimiser from the start and freezing only toggles requires_grad.
    # - Frozen parameters get no gradient (grad is None, as zero_grad(set_to_none=True)
    #   leaves it), and SGD and AdamW skip such parameters entirely: no momentum, no Adam
    #   moments, no weight decay. Their optimiser state starts fresh on their first real
    #   gradient, which is exactly right for a stage that starts learning now.
    # - Learning-rate schedulers (OneCycleLR...) record each group when they are created;
    #   a group added mid-training would be missing from the schedule.
    if strategy is None or strategy.name not in SCHEDULED:
        return []   # the other strategies keep what apply_strategy set (and any freezing done by hand)
    stages = list(model.named_children())
    count = strategy.frozen_count(len(stages), epoch)
    newly = [name for index, (name, stage) in enumerate(stages)
             if index >= count and _is_frozen(stage) and count_parameters(stage) > 0]
    if newly and optimizer is not None:
        _check_optimizer_holds(model, newly, optimizer)
    for name in newly:
        getattr(model, name).requires_grad_(True)
    return newly


def _check_optimizer_holds(model, names, optimizer):
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for name in names:
        if any(id(p) not in held for p in getattr(model, name).parameters()):
            raise ConfigError(
                f"The optimiser does not hold the parameters of stage {name!r}, so unfreezing it "
                f"would not train it: build the optimiser from param_groups(model, strategy, lr), "
                f"which includes frozen stages.")


def describe(model, strategy=None):
    """One row per stage: stage, trainable, frozen, total (parameter counts) and state.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> describe(model, apply_strategy(model, "freeze", k=1))[0]
    {'stage': 'stem', 'trainable': 0, 'frozen': 464, 'total': 464, 'state': 'frozen, BN in eval'}
    """
    rows = []
    for name, stage in model.named_children():
        total = count_parameters(stage)
        trainable = count_parameters(stage, trainable_only=True)
        rows.append({"stage": name, "trainable": trainable, "frozen": total - trainable,
                     "total": total, "state": _state(stage, strategy, total, trainable)})
    return rows


def _state(stage, strategy, total, trainable):
    if total == 0:
        return "no parameters"
    if trainable == total:
        return "trainable"
    if trainable > 0:
        return "partly frozen"
    if strategy is None or not _has_batchnorm(stage):
        return "frozen"
    if strategy.bn == "eval":
        return "frozen, BN in eval"
    return "frozen, BN in train (running stats move)"


def describe_text(model, strategy=None):
    """`describe` as an aligned text table with a total line.

    >>> from tl_lessons.models import TutorialNet
    >>> model = TutorialNet()
    >>> print(describe_text(model, apply_strategy(model, "linear_probe")))
    stage  state      trainable  frozen   total
    conv1  frozen             0     456     456
    conv2  frozen             0   2,416   2,416
    fc1    frozen             0  48,120  48,120
    fc2    frozen             0  10,164  10,164
    head   trainable        850       0     850
    total                   850  61,156  62,006
    """
    rows = describe(model, strategy)
    total = {"stage": "total", "state": "",
             **{key: sum(row[key] for row in rows) for key in ("trainable", "frozen", "total")}}
    shown = [{**row, **{key: f"{row[key]:,}" for key in ("trainable", "frozen", "total")}} for row in rows + [total]]
    return text.table(shown, ["stage", "state", "trainable", "frozen", "total"])


def cached_prefix(model, strategy=None):
    """How many leading stages compute a fixed function of the image, so their outputs can be cached.

    A stage qualifies when it is frozen and runs the same in training and inference:
    either it has no BatchNorm or dropout, or `strategy.bn == "eval"` keeps it in inference
    mode. Call it after `on_epoch_start`: the answer changes when stages unfreeze.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> cached_prefix(model, apply_strategy(model, "freeze", k=2, bn="eval"))
    2
    >>> cached_prefix(model, apply_strategy(model, "freeze", k=2, bn="train"))
    0
    """
    frozen_run_in_eval = strategy is not None and strategy.bn == "eval"
    count = 0
    for stage in model.children():
        fixed = _is_frozen(stage) and (frozen_run_in_eval or not _behaves_differently_in_training(stage))
        if not fixed:
            break
        count += 1
    return count


def split_model(model, k):
    """Splits the model after its first `k` stages: (prefix, rest), sharing the same modules.

    `rest(prefix(x))` equals `model(x)`; training `rest` trains the model.

    >>> from tl_lessons.models import TutorialNet
    >>> prefix, rest = split_model(TutorialNet(), 2)
    >>> list(rest.named_children())[0][0]
    'fc1'
    """
    stages = list(model.named_children())
    if not (isinstance(k, int) and 0 <= k <= len(stages)):
        raise ConfigError(f"k must be between 0 and {len(stages)} for this model, not {k!r}.")
    return nn.Sequential(OrderedDict(stages[:k])), nn.Sequential(OrderedDict(stages[k:]))


def reset_parameters(model, seed=0):
    """Re-draws every layer's weights with PyTorch's default initialisation (training from scratch).

    BatchNorm running statistics are reset too. The global random state is left as it was.

    >>> from tl_lessons.models import TutorialNet
    >>> model = reset_parameters(TutorialNet(), seed=0)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return model
