"""Transfer strategies: which stages of a pre-trained model learn, and how fast.

A model from `tl_lessons.models` is a stack of named stages ending in `head`. A strategy
decides, stage by stage, whether its weights are *frozen* (`requires_grad = False`: the
optimiser leaves them alone) or *trainable*, and at which learning rate:

| strategy         | what learns                                                          |
|------------------|----------------------------------------------------------------------|
| `scratch`        | everything, from random weights (see `reset_parameters`)             |
| `linear_probe`   | only the head                                                        |
| `freeze`         | everything after the first `k` stages                                |
| `finetune`       | everything, starting from the pre-trained weights                    |
| `discriminative` | everything, with smaller learning rates for earlier stages           |
| `gradual`        | the head first, then one more stage (from the top) every few epochs  |
| `head_first`     | only the head for `head_epochs` epochs, then everything              |

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
from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from tl_lessons import text
from tl_lessons.errors import ConfigError
from tl_lessons.models import count_parameters, stage_names

STRATEGIES = ("scratch", "linear_probe", "freeze", "finetune", "discriminative", "gradual", "head_first")

BN_MODES = ("eval", "train")

SCHEDULED = ("gradual", "head_first")
"""The strategies that unfreeze stages during training (see `on_epoch_start`)."""


@dataclass
class Strategy:
    """A transfer strategy and its options (only the options of its `name` matter).

    >>> Strategy("freeze", k=2).frozen_count(num_stages=5)
    2
    """

    name: str
    k: int = 0                    # "freeze": number of leading stages frozen
    bn: str = "eval"              # BatchNorm in frozen stages: "eval" (running stats kept) or "train"
    head_lr_factor: float = 1.0   # "discriminative": head rate = lr * factor
    stage_decay: float = 0.5      # "discriminative": each earlier stage's rate *= decay
    unfreeze_every: int = 1       # "gradual": epochs between unfreezing the next stage (from the top)
    head_epochs: int = 1          # "head_first": epochs with only the head trainable

    def frozen_count(self, num_stages, epoch=0):
        """How many leading stages are frozen during `epoch` (0 = the first epoch).

        >>> [Strategy("gradual", unfreeze_every=2).frozen_count(4, epoch) for epoch in range(7)]
        [3, 3, 2, 2, 1, 1, 0]
        """
        all_but_head = num_stages - 1
        if self.name == "linear_probe":
            return all_but_head
        if self.name == "freeze":
            return self.k
        if self.name == "gradual":
            # One more stage learns every `unfreeze_every` epochs, counting down from the head.
            return max(0, all_but_head - epoch // self.unfreeze_every)
        if self.name == "head_first":
            return all_but_head if epoch < self.head_epochs else 0
        return 0   # scratch, finetune, discriminative: everything learns


def make_strategy(name_or_strategy, **options):
    """A checked `Strategy` from its name and options (or a `Strategy` with some options changed).

    >>> make_strategy("discriminative", stage_decay=0.3).stage_decay
    0.3
    """
    if isinstance(name_or_strategy, Strategy):
        base = name_or_strategy
    elif name_or_strategy in STRATEGIES:
        base = Strategy(name_or_strategy)
    else:
        raise ConfigError(
            f"Unknown strategy {name_or_strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    known = [f.name for f in fields(Strategy) if f.name != "name"]
    unknown = [key for key in options if key not in known]
    if unknown:
        raise ConfigError(
            f"Unknown strategy option {', '.join(unknown)}: the options are {', '.join(known)}.")
    strategy = replace(base, **options)
    _check_options(strategy)
    return strategy


def _check_options(strategy):
    """Raises ConfigError for an option value that cannot work."""
    if strategy.bn not in BN_MODES:
        raise ConfigError(f"bn must be 'eval' or 'train', not {strategy.bn!r}.")
    if not strategy.head_lr_factor > 0:
        raise ConfigError(f"head_lr_factor must be positive, not {strategy.head_lr_factor}: try 1.0.")
    if not 0 < strategy.stage_decay <= 1:
        raise ConfigError(f"stage_decay must be between 0 (excluded) and 1, not {strategy.stage_decay}: try 0.5.")
    if not (isinstance(strategy.unfreeze_every, int) and strategy.unfreeze_every >= 1):
        raise ConfigError(f"unfreeze_every must be a whole number of epochs, at least 1, not {strategy.unfreeze_every!r}.")
    if not (isinstance(strategy.head_epochs, int) and strategy.head_epochs >= 0):
        raise ConfigError(f"head_epochs must be a whole number of epochs, 0 or more, not {strategy.head_epochs!r}.")


def apply_strategy(model, name_or_strategy, **options):
    """Freezes the stages that the strategy freezes at the start of training; returns the strategy.

    Freezing sets `requires_grad = False` on a stage's parameters, so backpropagation
    computes no gradient for them and the optimiser skips them.

    >>> from tl_lessons.models import TutorialNet
    >>> apply_strategy(TutorialNet(), "linear_probe").name
    'linear_probe'
    """
    strategy = make_strategy(name_or_strategy, **options)
    names = stage_names(model)
    if strategy.name == "freeze" and not (isinstance(strategy.k, int) and 0 <= strategy.k < len(names)):
        raise ConfigError(
            f"freeze needs k between 0 and {len(names) - 1} for this model, not {strategy.k!r}: "
            f"k counts the leading stages frozen among {', '.join(names)} (the head always learns).")
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
    stage1 0.0125, stem 0.00625.

    Frozen stages are listed too, on purpose: their parameters have no gradient, so the
    optimiser skips them, and when `gradual` or `head_first` unfreezes them later they
    start learning in the same optimiser, with the learning-rate schedule already set up.

    >>> from tl_lessons.models import FastNet
    >>> model = FastNet()
    >>> strategy = apply_strategy(model, "discriminative")
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
        rate = lr
        if strategy is not None and strategy.name == "discriminative":
            steps_below_head = len(stages) - 1 - index
            rate = lr * strategy.head_lr_factor * strategy.stage_decay ** steps_below_head
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
