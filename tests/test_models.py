"""Tests for tl_lessons.models: staged networks, heads, parameter counts, ImageNet weights offline."""
import urllib.error
import urllib.request

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from tl_lessons import downloads, models, transfer
from tl_lessons.errors import ConfigError, WeightsUnavailableError
from tl_lessons.models import (ARCHITECTURES, AirbenchNet, FastNet, TutorialNet, build_model, classifier,
                               count_parameters, imagenet_resnet18, replace_head, resnet18_cifar,
                               stage_names)



class TutorialReference(nn.Module):
    """The tutorial's `Net`, written as the tutorial writes it (layers as attributes, F.relu in forward)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def test_tutorialnet_is_the_tutorials_network():
    ours, reference = TutorialNet(10), TutorialReference()
    assert count_parameters(ours) == count_parameters(reference) == 62006
    # Same parameters in the same order: copying them across must give the same outputs.
    with torch.no_grad():
        for mine, theirs in zip(ours.parameters(), reference.parameters(), strict=True):
            assert mine.shape == theirs.shape
            mine.copy_(theirs)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(ours(x), reference(x))
    assert stage_names(ours) == ["conv1", "conv2", "fc1", "fc2", "head"]


@pytest.mark.parametrize("arch, stages", [
    ("tutorialnet", ["conv1", "conv2", "fc1", "fc2", "head"]),
    ("fastnet", ["stem", "stage1", "stage2", "stage3", "head"]),
    ("airbench", ["stem", "stage1", "stage2", "stage3", "head"]),
    ("resnet18", ["stem", "stage1", "stage2", "stage3", "stage4", "head"]),
])
def test_every_architecture_is_named_stages_ending_in_a_linear_head(arch, stages):
    model = build_model(arch, 7)
    assert isinstance(model, nn.Sequential)
    assert stage_names(model) == stages
    assert isinstance(model.head[-1], nn.Linear) and classifier(model) is model.head[-1]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_imagenet_resnet18_structure_without_weights():
    model = imagenet_resnet18(5, pretrained=False)
    assert stage_names(model) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert model.stem.conv.kernel_size == (7, 7) and isinstance(model.stem.pool, nn.MaxPool2d)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert "imagenet_resnet18" in ARCHITECTURES


def test_resnet18_cifar_has_a_small_image_stem():
    model = resnet18_cifar(10)
    conv = model.stem.conv
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.stem.modules())
    # Only the stem's kernel differs from torchvision's ResNet-18 (7x7 -> 3x3, 64 filters of 3 channels).
    difference = 64 * 3 * (7 * 7 - 3 * 3)
    assert count_parameters(model) == count_parameters(torchvision.models.resnet18(num_classes=10)) - difference
    # The stem keeps 32x32 pixels, so stage4 still sees 4x4.
    x = torch.randn(1, 3, 32, 32)
    assert nn.Sequential(*list(model.children())[:5])(x).shape == (1, 512, 4, 4)


def test_staged_imagenet_resnet18_computes_what_torchvision_computes(monkeypatch):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    monkeypatch.setattr(models, "_imagenet_weights", lambda weights: reference.state_dict())
    model = imagenet_resnet18(10).eval()
    reference.fc = nn.Identity()   # compare the 512 features that feed the (new) head
    features = nn.Sequential(*list(model.children())[:-1], model.head.pool, model.head.flatten)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(features(x), reference(x))
    assert classifier(model).out_features == 10


@pytest.mark.parametrize("failure", [urllib.error.URLError("Name or service not known"),
                                     OSError("Network is unreachable")])
def test_imagenet_weights_offline_raise_a_learner_error(tmp_path, monkeypatch, failure):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached there

    def offline(*args, **kwargs):
        raise failure

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(downloads, "PAUSE_S", 0.0)
    with pytest.raises(WeightsUnavailableError) as caught:
        imagenet_resnet18(10)
    message = str(caught.value)
    assert "network" in message and "TORCH_HOME" in message and str(tmp_path) in message
    assert caught.value.__suppress_context__  # no urllib traceback chained below it


def test_corrupt_cached_imagenet_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(WeightsUnavailableError, match="delete"):
        imagenet_resnet18(10)
    with pytest.raises(WeightsUnavailableError, match=str(cached)):
        imagenet_resnet18(10)


@pytest.mark.parametrize("width, channels", [(1.0, models.FASTNET_WIDTHS), (0.5, (8, 16, 32, 64)),
                                             ((4, 8, 8, 16), (4, 8, 8, 16))])
def test_fastnet_width(width, channels):
    model = FastNet(3, width=width)
    assert model.stem.conv.out_channels == channels[0]
    assert [getattr(model, f"stage{i}").conv.conv.out_channels for i in (1, 2, 3)] == list(channels[1:])
    assert classifier(model).in_features == channels[-1]
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    assert model.to(memory_format=torch.channels_last)(x).shape == (2, 3)


@pytest.mark.parametrize("width", [0, -1.0, (8, 16, 32), (8, 16, 0, 32), "wide"])
def test_fastnet_rejects_impossible_widths(width):
    with pytest.raises(ConfigError, match="width"):
        FastNet(10, width=width)


def test_fastnet_convolutions_before_batchnorm_have_no_bias():
    convs = [m for m in FastNet().modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7 and all(conv.bias is None for conv in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in FastNet().modules()) == 7


@pytest.mark.parametrize("arch", ["tutorialnet", "fastnet", "airbench", "resnet18"])
def test_replace_head_keeps_the_body_and_swaps_the_classifier(arch):
    model = build_model(arch, 10)
    old = classifier(model)
    body_before = {name: p.clone() for name, p in model.named_parameters() if not name.startswith("head")}
    for p in model.parameters():
        p.requires_grad_(False)
    same = replace_head(model, 100)
    assert same is model
    new = classifier(model)
    assert new is not old and new.in_features == old.in_features and new.out_features == 100
    assert all(p.requires_grad for p in new.parameters())
    for name, p in model.named_parameters():
        if not name.startswith("head"):
            assert torch.equal(p, body_before[name])
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_replace_head_needs_a_staged_model():
    with pytest.raises(ConfigError, match="head"):
        replace_head(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)), 5)


def test_output_count_reads_the_classifier_and_leaves_hand_written_models_alone():
    assert models.output_count(replace_head(TutorialNet(10), 7)) == 7
    assert models.output_count(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))) is None


def test_build_model_rejects_unknown_names_and_class_counts():
    with pytest.raises(ConfigError, match="fastnet"):
        build_model("vgg16", 10)
    with pytest.raises(ConfigError, match="classes"):
        build_model("fastnet", 0)
    assert classifier(build_model("fastnet", 4, width=0.5)).in_features == 64


def test_count_parameters_trainable_only():
    model = TutorialNet(10)
    model.head.requires_grad_(False)
    assert count_parameters(model) == 62006
    assert count_parameters(model, trainable_only=True) == 62006 - (84 * 10 + 10)


def test_fastnet_stages_are_residual():
    block = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    torch.testing.assert_close(models.Residual(block)(x), x + block(x))
    model = FastNet()
    assert all(isinstance(getattr(model, f"stage{i}").residual, models.Residual) for i in (1, 2, 3))


def test_airbench_convolutions_start_as_identities_unless_asked_not_to():
    model = AirbenchNet(10)
    x = torch.randn(2, 64, 15, 15)
    # stage2's first convolution: 64 channels in, 128 out; the first 64 filters pass their channel through.
    torch.testing.assert_close(model.stage2.conv1(x)[:, :64], x)
    y = torch.randn(2, 128, 7, 7)
    torch.testing.assert_close(model.stage2.conv2(y), y)
    random = AirbenchNet(10, identity_init=False)
    assert not torch.allclose(random.stage2.conv1(x)[:, :64], x)


def test_airbench_shapes_and_stem():
    model = AirbenchNet(10)
    assert model.stem.conv.out_channels == 2 * 3 * 2 * 2 and model.stem.conv.bias is not None
    assert classifier(model).bias is None and [model.stage1.conv1.out_channels, model.stage2.conv1.out_channels,
                                               model.stage3.conv1.out_channels] == list(models.AIRBENCH_WIDTHS)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    assert model.to(memory_format=torch.channels_last)(x).shape == (2, 10)


@pytest.mark.parametrize("strategy", list(transfer.STRATEGY_TABLE))
def test_every_transfer_strategy_works_on_airbench(strategy):
    torch.manual_seed(0)
    model = replace_head(AirbenchNet(10), 4)
    chosen = transfer.apply_strategy(model, strategy)
    frozen = transfer.STRATEGY_TABLE[strategy].frozen(chosen, len(stage_names(model)), 0)
    assert transfer.frozen_stages(model) == stage_names(model)[:frozen]
    optimizer = torch.optim.SGD(transfer.param_groups(model, chosen, lr=0.1), lr=0.1)
    before = {name: p.clone() for name, p in model.named_parameters()}
    for epoch in range(2):   # the scheduled strategies unfreeze a stage at epoch 1
        transfer.on_epoch_start(model, chosen, epoch, optimizer)
        transfer.set_train_mode(model, chosen)
        loss = F.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.arange(8) % 4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = {name.split(".")[0] for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert "head" in changed and not changed & set(transfer.frozen_stages(model))
