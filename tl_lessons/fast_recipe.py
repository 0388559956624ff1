"""The `full` preset's recipe: what makes a small network learn CIFAR-10 in a few CPU minutes.

The ideas are Keller Jordan's airbench ("94 % on CIFAR-10 in 3.29 seconds on a single GPU", 2024),
written here for the kit's loop. Each one is a setting of `train.TrainConfig` that `fit` passes to
one function below, so a learner can switch them one at a time:

* ``whiten_stem`` (`whiten_stem`): the first layer starts as a *whitening* of the image patches,
  computed from the training images, and stays so;
* ``bn_scale_frozen`` and ``bn_shift_lr_factor`` (`recipe_param_groups`): BatchNorm's scale stays
  at 1 and its shift learns many times faster than the other weights;
* ``lookahead_every`` and ``lookahead_keep`` (`Lookahead`): the weights are pulled onto a running
  average of themselves every few steps;
* ``flip="alternate"``, ``shift=2``, ``shift_fill="reflect"`` (`tl_lessons.loader`): each image is
  mirrored in every other epoch instead of at random, and moved by up to 2 pixels;
* ``test_views`` (`tl_lessons.inference.view_logits`): the test answer averages the image, its
  mirror and shifted copies.

Two more pieces are part of the network (`models.AirbenchNet`: convolutions that start as
identities) and of the schedule (`train.learning_rate`: ``warmup_from``, ``decay_to``). What each
piece and the whole recipe measured: `docs/performance.md`.

    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.train import PRESETS
    >>> model = build_model("airbench", 10)
    >>> recipe_problems(model, PRESETS["full"], strategy=None)        # it can train this from scratch
    []
"""
import torch
import torch.nn.functional as F
from torch import nn

from tl_lessons.loader import normalise

WHITENING_IMAGES = 5000
"""How many training images (the first ones) the whitening filters are computed from: their 4.8 million
patches pin the 12 x 12 patch statistics down well, in about a second."""

WHITENING_EPS = 5e-4
"""Added to each eigenvalue before dividing by its square root, so that the rarest directions of the
patches (eigenvalues near 0, mostly noise) are not blown up."""


def whitening_filters(images: torch.Tensor, kernel_size: int, eps: float = WHITENING_EPS) -> torch.Tensor:
    """Convolution filters that *whiten* the `kernel_size` x `kernel_size` patches of `images`.

    Every patch of an image (here 3 channels x 2 x 2 pixels: 12 numbers) is a point in a 12-dimensional
    space. Neighbouring pixels are alike, so the points crowd along a few directions. The eigenvectors
    of the patches' second-moment matrix are those directions; projecting a patch on each and dividing
    by the square root of its eigenvalue gives 12 numbers that are uncorrelated and of equal size:
    *white*. Each filter comes with its negative (24 filters), so that the ReLU-like activation after
    the stem keeps both signs. Largest directions first.

    >>> images = torch.randn(20, 3, 8, 8)
    >>> whitening_filters(images, kernel_size=2).shape               # 2 x 12 filters of 3 x 2 x 2
    torch.Size([24, 3, 2, 2])
    """
    channels = images.shape[1]
    second_moment, count = 0, 0
    for chunk in images.split(1000):  # a thousand images' patches at a time: a few tens of MB, not hundreds
        patches = F.unfold(chunk, kernel_size).double()              # (images, 12, positions)
        second_moment = second_moment + torch.einsum("nip,njp->ij", patches, patches)
        count += patches.shape[0] * patches.shape[2]
    eigenvalues, eigenvectors = torch.linalg.eigh(second_moment / count)   # smallest first
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0)
    filters = filters.view(-1, channels, kernel_size, kernel_size).float()
    return torch.cat([filters, -filters])


def whiten_stem(model: nn.Module, train_set, mean, std, images: int = WHITENING_IMAGES) -> None:
    """Set the stem's convolution to `whitening_filters` of the first `images` training images (normalised
    with `mean` and `std`, as training will show them), and its bias to 0.

    The filters stay as they are for the whole run (`recipe_param_groups` gives them a rate of 0): the
    network starts from a first layer that already shows every later layer decorrelated inputs, and
    does not spend steps learning one. Only the bias learns.

    >>> from tl_lessons.data import load_dataset
    >>> from tl_lessons.models import build_model
    >>> train_set = load_dataset("synthetic10", "train")
    >>> model = build_model("airbench", 10)
    >>> whiten_stem(model, train_set, train_set.mean, train_set.std, images=100)
    >>> model.stem.conv.bias.abs().sum().item()
    0.0
    """
    conv = model.stem.conv
    x = normalise(train_set.images[:images].to(conv.weight.device), mean, std)
    with torch.no_grad():
        conv.weight.copy_(whitening_filters(x, conv.kernel_size[0]))
        conv.bias.zero_()


def recipe_problems(model: nn.Module, config, strategy) -> list[str]:
    """Why the recipe's settings in `config` cannot train `model` with `strategy`, as sentences (`fit` asks).

    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.train import PRESETS
    >>> recipe_problems(build_model("fastnet", 10), PRESETS["full"], strategy=None)
    ["whiten_stem needs a stem convolution with a filter and its negative for every direction of a patch (2 x 3 x k x k filters, as build_model('airbench', ...) has): turn whiten_stem off for this model."]
    """
    if not config.whiten_stem:
        return []
    conv = getattr(getattr(model, "stem", None), "conv", None)
    if not (isinstance(conv, nn.Conv2d) and conv.bias is not None
            and conv.out_channels == 2 * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]):
        return ["whiten_stem needs a stem convolution with a filter and its negative for every direction of a patch "
                "(2 x 3 x k x k filters, as build_model('airbench', ...) has): turn whiten_stem off for this model."]
    if strategy is not None and strategy.name != "scratch":
        return [f"whiten_stem sets the stem's filters from the training images, which would overwrite what the "
                f"{strategy.name} strategy keeps of the source model: use it only to train from scratch."]
    return []


def _batchnorm_parameters(model: nn.Module) -> tuple[set, set]:
    """(ids of every BatchNorm scale, ids of every BatchNorm shift) in `model`."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]
    return {id(m.weight) for m in norms}, {id(m.bias) for m in norms}


def recipe_param_groups(model: nn.Module, groups: list[dict], config) -> list[dict]:
    """`transfer.param_groups`' groups, each split where the recipe gives some weights other rates.

    * held still (rate 0, no weight decay): BatchNorm's scales with ``bn_scale_frozen``, and the
      whitened stem's filters with ``whiten_stem``. A BatchNorm layer scales its normalised output by
      a learnt factor and adds a learnt shift; a ReLU or GELU after it cares about where the shift
      puts the values far more than about their scale, and the next BatchNorm undoes any scale
      anyway. Fixing the scale at 1 leaves one thing less to learn.
    * BatchNorm's shifts learn ``bn_shift_lr_factor`` times faster than the group (64 in the recipe),
      with the weight decay divided by as much, so that they shrink as fast as every other weight: a
      shift is one number per channel and moves little per step at the rate that suits the
      convolutions' thousands.

    The held parameters stay in the optimiser (at rate 0), so a strategy that unfreezes their stage
    still finds them there (`transfer.on_epoch_start`). With the defaults the groups come back as they are.

    >>> from tl_lessons import transfer
    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.train import PRESETS
    >>> model = build_model("airbench", 10)
    >>> groups = recipe_param_groups(model, transfer.param_groups(model, None, lr=1.5), PRESETS["full"])
    >>> [(group["stage"], group.get("part", "the rest"), group["lr"]) for group in groups[:3]]
    [('stem', 'held still', 0.0), ('stem', 'the rest', 1.5), ('stage1', 'held still', 0.0)]
    >>> [group["lr"] for group in groups if group.get("part") == "batchnorm shift"]     # 1.5 x 64
    [96.0, 96.0, 96.0]
    """
    scales, shifts = _batchnorm_parameters(model)
    held = set(scales) if config.bn_scale_frozen else set()
    if config.whiten_stem:
        held.add(id(model.stem.conv.weight))
    faster = shifts - held if config.bn_shift_lr_factor != 1 else set()
    if not held and not faster:
        return groups
    factor = config.bn_shift_lr_factor
    split = []
    for group in groups:
        parts = (("held still", [p for p in group["params"] if id(p) in held], {"lr": 0.0, "weight_decay": 0.0}),
                 ("batchnorm shift", [p for p in group["params"] if id(p) in faster],
                  {"lr": group["lr"] * factor, "weight_decay": config.weight_decay / factor}),
                 (None, [p for p in group["params"] if id(p) not in held and id(p) not in faster], {}))
        for part, params, rates in parts:
            if params:
                split.append({**group, "params": params, **rates, **({"part": part} if part else {})})
    return split


class Lookahead:
    """Every `every` steps, pull the weights onto a running average of themselves (lookahead averaging).

    At step `s` of `total_steps` (counted after the update), when `s` is a multiple of `every`:

        keep    = keep_per_step ** every * (s / total_steps) ** 3
        average = keep * average + (1 - keep) * weights
        weights = average

    Early in the run `keep` is about 0: the average is the weights, and nothing changes. Towards the
    end it nears keep_per_step ** every (0.77 with the recipe's 0.95 and 5): the weights become an
    average over their last few dozen steps. The steps of a high learning rate jump around a valley
    of the loss; their average lies nearer its floor than any one of them. Every floating-point
    tensor of the model's state is averaged: the weights and BatchNorm's running statistics.

    >>> weight = nn.Parameter(torch.tensor([0.0]))
    >>> lookahead = Lookahead(nn.ParameterList([weight]), every=2, keep_per_step=0.5)
    >>> with torch.no_grad():
    ...     _ = weight.fill_(1.0)                 # what two optimiser steps did
    >>> lookahead.after_step(step=2, total_steps=2)  # keep = 0.5 ** 2 * 1 ** 3 = 0.25
    >>> weight.item()                              # 0.25 * 0 + 0.75 * 1
    0.75
    """

    def __init__(self, model: nn.Module, every: int, keep_per_step: float):
        self.every, self.keep_per_step = every, keep_per_step
        # The state dict's tensors share their memory with the model: copying into them sets the model.
        self.tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """Apply the rule above after optimiser step `step` (1-based) of `total_steps`."""
        if step % self.every:
            return
        keep = self.keep_per_step ** self.every * (step / total_steps) ** 3
        for average, tensor in zip(self.average, self.tensors):
            average.lerp_(tensor, 1 - keep)
            tensor.copy_(average)


def lookahead_for(model: nn.Module, config) -> Lookahead | None:
    """The `Lookahead` that `config.lookahead_every` asks for on `model`, or None (0: no lookahead).

    >>> from tl_lessons.train import PRESETS
    >>> lookahead_for(nn.Linear(2, 2), PRESETS["quick"]) is None, lookahead_for(nn.Linear(2, 2), PRESETS["full"]).every
    (True, 5)
    """
    return Lookahead(model, config.lookahead_every, config.lookahead_keep) if config.lookahead_every else None
