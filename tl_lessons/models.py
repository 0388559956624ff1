"""The networks of the lessons, each built as a stack of named stages.

Every model here is an `nn.Sequential` whose children are *stages* with names a learner can
read (`stem`, `stage1`, ..., `head`). The last stage is always `head` and always ends in the
`nn.Linear` classifier. Transfer learning is then a matter of choosing which stages learn:

>>> model = build_model("fastnet", num_classes=10)
>>> stage_names(model)
['stem', 'stage1', 'stage2', 'stage3', 'head']
>>> model = replace_head(model, num_classes=100)   # same body, a new classifier

`print(model)` shows the stages and the layers inside them.
"""
from collections import OrderedDict
import os
from pathlib import Path

import torch
from torch import nn

from tl_lessons import downloads
from tl_lessons.errors import ConfigError, WeightsUnavailableError


def TutorialNet(num_classes=10):
    """The network of PyTorch's "Training a classifier" tutorial (CIFAR-10), as named stages.

    Same layers, same order and the same 62,006 parameters for 10 classes as the tutorial's
    `Net`: two 5x5 convolutions (6 and 16 channels) each followed by ReLU and 2x2 max-pooling,
    then fully connected layers 400 -> 120 -> 84 -> classes. Only the grouping is new.

    >>> count_parameters(TutorialNet(10))
    62006
    """
    return nn.Sequential(OrderedDict(
        conv1=nn.Sequential(OrderedDict(
            conv=nn.Conv2d(3, 6, kernel_size=5), relu=nn.ReLU(), pool=nn.MaxPool2d(2))),
        conv2=nn.Sequential(OrderedDict(
            conv=nn.Conv2d(6, 16, kernel_size=5), relu=nn.ReLU(), pool=nn.MaxPool2d(2))),
        # The 16 feature maps of 5x5 pixels become one vector of 400 numbers here.
        fc1=nn.Sequential(OrderedDict(
            flatten=nn.Flatten(), fc=nn.Linear(16 * 5 * 5, 120), relu=nn.ReLU())),
        fc2=nn.Sequential(OrderedDict(fc=nn.Linear(120, 84), relu=nn.ReLU())),
        head=nn.Sequential(OrderedDict(fc=nn.Linear(84, num_classes))),
    ))


class Residual(nn.Module):
    """Adds a block's output to its input: `x + block(x)` (a ResNet "skip connection").

    The skip lets the signal and its gradient pass a block unchanged, which keeps
    training fast and stable.

    >>> Residual(nn.Identity())(torch.ones(1))
    tensor([2.])
    """

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


class Scale(nn.Module):
    """Multiplies its input by a fixed number (no parameters).

    >>> Scale(0.5)(torch.ones(2))
    tensor([0.5000, 0.5000])
    """

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

    def extra_repr(self):
        return f"factor={self.factor}"


def conv_bn_relu(in_channels, out_channels):
    """A 3x3 convolution, BatchNorm and ReLU: the building block of FastNet.

    The convolution has no bias because BatchNorm, right after it, subtracts the
    mean anyway and brings its own bias.

    >>> conv_bn_relu(3, 16)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16, 32, 32])
    """
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        bn=nn.BatchNorm2d(out_channels),
        relu=nn.ReLU(inplace=True),
    ))


FASTNET_WIDTHS = (16, 32, 64, 128)
"""FastNet's channels at width 1.0: stem (32x32 pixels), stage1 (16x16), stage2 (8x8), stage3 (4x4)."""


def FastNet(num_classes=10, width=1.0):
    """A small, fast residual CNN for CPUs: stages stem, stage1, stage2, stage3, head.

    The design follows the CIFAR-10 speed-run networks (David Page's "How to train your
    ResNet", 2018; Keller Jordan's airbench, 2024) but is much narrower, and it halves the
    image size *before* each stage's convolutions, so that nearly all work happens at
    16x16, 8x8 and 4x4 pixels:

    - stem:   3x3 conv-BN-ReLU at 32x32
    - stageN: 2x2 max-pool, conv-BN-ReLU, then a residual conv-BN-ReLU
    - head:   global max-pool, flatten, scale by 1/8, linear classifier

    The fixed 1/8 keeps the first logits small (Page's trick), which lets the head use the
    same high learning rate as the rest. `width` multiplies the channels of
    `FASTNET_WIDTHS` (16, 32, 64, 128), or gives the four channel counts directly.

    >>> FastNet(10, width=(8, 16, 32, 64))(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    channels = _fastnet_channels(width)
    stages = OrderedDict(stem=conv_bn_relu(3, channels[0]))
    for number, (in_channels, out_channels) in enumerate(zip(channels, channels[1:]), start=1):
        stages[f"stage{number}"] = nn.Sequential(OrderedDict(
            pool=nn.MaxPool2d(2),
            conv=conv_bn_relu(in_channels, out_channels),
            residual=Residual(conv_bn_relu(out_channels, out_channels)),
        ))
    stages["head"] = nn.Sequential(OrderedDict(
        pool=nn.AdaptiveMaxPool2d(1),
        flatten=nn.Flatten(),
        scale=Scale(1 / 8),
        fc=nn.Linear(channels[-1], num_classes),
    ))
    return nn.Sequential(stages)


def _fastnet_channels(width):
    """FastNet's four channel counts from a width factor or an explicit tuple."""
    if isinstance(width, (int, float)):
        if width <= 0:
            raise ConfigError(f"FastNet's width must be positive, not {width}: try 1.0.")
        return tuple(max(1, round(c * width)) for c in FASTNET_WIDTHS)
    channels = tuple(width)
    if len(channels) != 4 or not all(isinstance(c, int) and c > 0 for c in channels):
        raise ConfigError(
            f"FastNet's width must be a number or four positive channel counts "
            f"(stem, stage1, stage2, stage3), not {width!r}: try {FASTNET_WIDTHS}.")
    return channels


AIRBENCH_WIDTHS = (64, 128, 128)
"""AirbenchNet's channels: stage1 (at 15x15 pixels after its pooling), stage2 (7x7), stage3 (3x3)."""


def identity_start(conv):
    """Start a 3x3 convolution as an identity on its first `in_channels` filters (`nn.init.dirac_`).

    Filter i copies input channel i through unchanged (a 1 in the middle of its kernel, 0
    elsewhere); the filters beyond the input's channels keep PyTorch's random start. A deep
    stack without skip connections then starts out passing the image through instead of
    scrambling it, which is what a skip connection gives a ResNet.

    >>> conv = identity_start(nn.Conv2d(2, 3, 3, padding=1, bias=False))
    >>> x = torch.randn(1, 2, 5, 5)
    >>> torch.equal(conv(x)[:, :2], x)                  # the first two filters pass their channel through
    True
    """
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:conv.in_channels])
    return conv


def conv_pool_block(in_channels, out_channels, identity_init=True):
    """conv 3x3, max-pool 2, BatchNorm, GELU, conv 3x3, BatchNorm, GELU: one stage of AirbenchNet.

    Pooling right after the first convolution does the second one at a quarter of the pixels.
    BatchNorm keeps 40 % of each batch's statistics in its running ones (PyTorch's momentum
    0.4, not 0.1): a run of a few hundred steps needs running statistics that catch up fast.

    >>> conv_pool_block(24, 64)(torch.zeros(2, 24, 31, 31)).shape
    torch.Size([2, 64, 15, 15])
    """
    def conv(cin, cout):
        layer = nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)
        return identity_start(layer) if identity_init else layer

    return nn.Sequential(OrderedDict(
        conv1=conv(in_channels, out_channels),
        pool=nn.MaxPool2d(2),
        bn1=nn.BatchNorm2d(out_channels, eps=1e-12, momentum=0.4),
        act1=nn.GELU(),
        conv2=conv(out_channels, out_channels),
        bn2=nn.BatchNorm2d(out_channels, eps=1e-12, momentum=0.4),
        act2=nn.GELU(),
    ))


def AirbenchNet(num_classes=10, widths=AIRBENCH_WIDTHS, stem_kernel=2, identity_init=True):
    """The `full` preset's network: a small VGG-style CNN after Keller Jordan's airbench (2024), as stages.

    - stem:   a 2x2 convolution with 2 x 3 x 2 x 2 = 24 filters, GELU (32x32 -> 31x31 pixels).
              `train.TrainConfig.whiten_stem` sets its filters from the training images' patches
              before the first step and keeps them (`tl_lessons.fast_recipe.whiten_stem`)
    - stageN: `conv_pool_block`: two 3x3 convolutions around a 2x2 max-pool, no skip connection;
              with `identity_init` each convolution starts as an identity (`identity_start`)
    - head:   global max-pool, flatten, scale by 1/9, a linear classifier without bias

    It does five times FastNet's work per image (0.325 against 0.065 GFLOP per training image:
    `docs/performance.md`); the `full` preset trains it with the recipe in `tl_lessons.fast_recipe`.

    >>> model = AirbenchNet(10)
    >>> stage_names(model), model(torch.zeros(2, 3, 32, 32)).shape
    (['stem', 'stage1', 'stage2', 'stage3', 'head'], torch.Size([2, 10]))
    """
    stem_width = 2 * 3 * stem_kernel ** 2  # every whitening filter and its negative (see fast_recipe.whiten_stem)
    stages = OrderedDict(stem=nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, stem_width, kernel_size=stem_kernel, bias=True), act=nn.GELU())))
    for number, (cin, cout) in enumerate(zip((stem_width, *widths), widths), start=1):
        stages[f"stage{number}"] = conv_pool_block(cin, cout, identity_init)
    stages["head"] = nn.Sequential(OrderedDict(
        pool=nn.AdaptiveMaxPool2d(1),
        flatten=nn.Flatten(),
        scale=Scale(1 / 9),   # small first logits, as FastNet's 1/8
        fc=nn.Linear(widths[-1], num_classes, bias=False),
    ))
    return nn.Sequential(stages)


def _staged_resnet(resnet, stem):
    """Regroups a torchvision ResNet into stages stem, stage1..stage4, head."""
    return nn.Sequential(OrderedDict(
        stem=stem,
        stage1=resnet.layer1,
        stage2=resnet.layer2,
        stage3=resnet.layer3,
        stage4=resnet.layer4,
        # torchvision flattens inside `forward`; as a stage it needs its own Flatten layer.
        head=nn.Sequential(OrderedDict(pool=resnet.avgpool, flatten=nn.Flatten(), fc=resnet.fc)),
    ))


def resnet18_cifar(num_classes=10):
    """torchvision's ResNet-18 adapted to 32x32 images, as stages stem, stage1..stage4, head.

    ImageNet's stem (7x7 stride-2 convolution, then max-pooling) shrinks an image 4 times
    before the first stage: fine for 224x224 pixels, too much for 32x32. The CIFAR
    version uses a 3x3 stride-1 convolution and no max-pooling, so stage1 sees 32x32.

    >>> resnet18_cifar(10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    import torchvision  # here, not at the top: importing it takes seconds, and FastNet does not need it

    resnet = torchvision.models.resnet18(num_classes=num_classes)
    stem = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False),
        bn=resnet.bn1,
        relu=resnet.relu,
    ))
    return _staged_resnet(resnet, stem)


# torchvision's ImageNet models learnt from images normalised with these (on the 0..1 scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_resnet18(num_classes=10, pretrained=True):
    """torchvision's ResNet-18 with ImageNet weights and a new `num_classes` head, as stages.

    The stem stays ImageNet's (7x7 stride-2 convolution and max-pooling) because the
    weights were learnt with it; on 32x32 images stage4 then works on 1x1 pixels.
    The weights (45 MB) are downloaded once into torch's cache (`$TORCH_HOME`, by default
    `~/.cache/torch`); offline and without them this raises `WeightsUnavailableError`.
    `pretrained=False` builds the same network with random weights (to load a checkpoint).
    With `num_classes=1000` the ImageNet classifier itself is kept; otherwise it is replaced.
    Its inputs should be normalised with IMAGENET_MEAN and IMAGENET_STD, as in its training.

    >>> model = imagenet_resnet18(10, pretrained=False)   # True (default) needs the weights
    >>> stage_names(model)
    ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'head']
    """
    import torchvision  # here, not at the top: importing it takes seconds, and FastNet does not need it

    resnet = torchvision.models.resnet18()
    if pretrained:
        resnet.load_state_dict(_imagenet_weights(torchvision.models.ResNet18_Weights.DEFAULT))
    stem = nn.Sequential(OrderedDict(
        conv=resnet.conv1, bn=resnet.bn1, relu=resnet.relu, pool=resnet.maxpool))
    staged = _staged_resnet(resnet, stem)
    return staged if pretrained and num_classes == 1000 else replace_head(staged, num_classes)


def _imagenet_weights(weights):
    """The state dict of torchvision `weights`, downloaded once into torch's cache, with learner-facing errors.

    The download gives up after `downloads.TIMEOUT_S` seconds of silence, `downloads.TRIES` times,
    and keeps the file only if it matches the checksum in its name, as torch's own download does.
    """
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    file = cache / os.path.basename(weights.url)
    if not file.is_file():
        match = torch.hub.HASH_REGEX.search(file.name)  # "resnet18-f37072fd.pth": sha256 starts f37072fd
        try:
            cache.mkdir(parents=True, exist_ok=True)
            downloads.download(weights.url, file, checksum=("sha256", match.group(1)) if match else None)
        except OSError as error:
            raise WeightsUnavailableError(
                f"The ImageNet weights of ResNet-18 are not cached in {cache} and could not be downloaded "
                f"from {weights.url} ({error}): connect to the network and try again, or download that "
                f"address another way (a browser) and put it into {cache} (set TORCH_HOME to choose "
                "another folder).",
                headline="The ImageNet weights of ResNet-18 are not on this computer and could not be downloaded: "
                         "they need a network connection once.") from None
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or damaged file: torch.load has no single error for these
        raise WeightsUnavailableError(
            f"The cached ImageNet weights {file} could not be read ({error}): delete that file "
            f"and try again with the network on to download a fresh copy.") from None


ARCHITECTURES = {
    "tutorialnet": TutorialNet,
    "fastnet": FastNet,
    "airbench": AirbenchNet,
    "resnet18": resnet18_cifar,
    "imagenet_resnet18": imagenet_resnet18,
}
"""Architecture name -> function building it from `num_classes` (and its own options)."""


def build_model(arch, num_classes=10, **options):
    """Builds the architecture named `arch` with a `num_classes`-way head.

    `options` go to the builder, e.g. `width` for FastNet or `pretrained` for
    imagenet_resnet18.

    >>> build_model("tutorialnet", 10)[-1]
    Sequential(
      (fc): Linear(in_features=84, out_features=10, bias=True)
    )
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"Unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}.")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"The number of classes must be a positive whole number, not {num_classes!r}.")
    return ARCHITECTURES[arch](num_classes, **options)


def stage_names(model):
    """The names of the model's stages, input side first.

    >>> stage_names(TutorialNet())
    ['conv1', 'conv2', 'fc1', 'fc2', 'head']
    """
    return [name for name, _ in model.named_children()]


def classifier(model):
    """The final `nn.Linear` of the model's head (the layer `replace_head` swaps).

    >>> classifier(TutorialNet(10)).out_features
    10
    """
    head = getattr(model, "head", None)
    if head is None or not isinstance(head[-1], nn.Linear):
        raise ConfigError(
            "This model has no stage named 'head' ending in an nn.Linear: build it with "
            "tl_lessons.models (for example build_model('fastnet', 10)).")
    return head[-1]


def output_count(model):
    """How many classes the model's classifier scores; None for a model not built the kit's way.

    Saving and training use it to catch a head that does not fit the classes; a model without
    a `head` stage (one a learner wrote by hand) is not checked.

    >>> output_count(TutorialNet(10))
    10
    """
    try:
        return classifier(model).out_features
    except (ConfigError, TypeError):  # no `head` stage, or a head that is a single layer
        return None


def replace_head(model, num_classes):
    """Swaps the final classifier for a new, randomly initialised one with `num_classes` outputs.

    Everything before it (including the rest of the head, e.g. pooling) is kept, and so
    are its learnt weights: this is the first step of every transfer. The model is changed
    in place and returned.

    >>> model = replace_head(TutorialNet(10), num_classes=100)
    >>> model(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 100])
    """
    old = classifier(model)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    model.head[-1] = new
    return model


def count_parameters(module, trainable_only=False):
    """The number of parameters (single numbers) in `module`; only learnable ones if asked.

    >>> count_parameters(nn.Linear(84, 10))
    850
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
