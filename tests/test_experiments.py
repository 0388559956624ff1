"""One transfer experiment from plain values: sources, normalisation, the ImageNet source.

The ImageNet weights are never downloaded here: a randomly initialised torchvision ResNet-18 is
saved where torch caches the real file, which is what torchvision finds and loads.
"""
import dataclasses

import pytest
import torch
import torchvision

from tl_lessons import dashboard, experiments, models, train
from tl_lessons.checkpoints import SOURCE_CHECKPOINT, load_source_model
from tl_lessons.experiments import TransferSetup

TINY = TransferSetup(target="synthetic100", per_class=2, epochs=1, batch_size=50, val=0.2)


@pytest.fixture()
def cached_imagenet(tmp_path, monkeypatch) -> dict:
    """A stand-in for the cached ImageNet weights of ResNet-18; returns its state dict."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    state = torchvision.models.resnet18().state_dict()
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    return state


def test_the_imagenet_source_brings_its_weights_and_its_normalisation(cached_imagenet):
    assert dashboard.imagenet_problem() is None  # the dashboard now offers it
    setup = dataclasses.replace(TINY, source="imagenet", strategy="linear_probe", lr=0.5)
    model, strategy, train_set, val_set, config = experiments.prepare(setup)
    assert models.stage_names(model) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert torch.equal(model.stem.conv.weight, cached_imagenet["conv1.weight"])
    assert torch.equal(model.stage4[1].bn2.running_var, cached_imagenet["layer4.1.bn2.running_var"])
    assert models.classifier(model).out_features == 100
    assert config.arch == "imagenet_resnet18"
    assert (config.mean, config.std) == (models.IMAGENET_MEAN, models.IMAGENET_STD)
    # Only the new head trains, and a short run on 32x32 images goes through end to end.
    history = train.train(model, train_set, val_set, config, strategy=strategy, progress=False)
    assert history.status == "finished"
    assert torch.equal(model.stem.conv.weight, cached_imagenet["conv1.weight"])
    assert history.start["trainable"] == models.count_parameters(models.classifier(model))


def test_scratch_on_the_imagenet_architecture_needs_no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached, and nothing may be fetched

    def no_download(*args, **kwargs):
        raise AssertionError("a scratch run must not load ImageNet weights")

    monkeypatch.setattr(models, "_imagenet_weights", no_download)
    setup = dataclasses.replace(TINY, source="imagenet", strategy="scratch")
    model, _, _, _, config = experiments.prepare(setup)
    assert models.stage_names(model)[-2] == "stage4" and config.arch == "imagenet_resnet18"
    assert config.mean is None  # a network that learnt nothing yet uses the target's own statistics


@pytest.mark.skipif(not SOURCE_CHECKPOINT.is_file(), reason="the shipped checkpoint is not in this copy")
def test_a_pretrained_source_sees_images_scaled_as_in_its_own_training():
    _, meta = load_source_model()
    *_, config = experiments.prepare(dataclasses.replace(TINY, strategy="freeze", k=2))
    assert (config.mean, config.std) == (tuple(meta["mean"]), tuple(meta["std"]))
    assert config.arch == meta["arch"]
    *_, scratch = experiments.prepare(dataclasses.replace(TINY, strategy="scratch"))
    assert scratch.mean is None and scratch.std is None


def test_an_unknown_checkpoint_path_is_a_config_error(tmp_path):
    with pytest.raises(experiments.ConfigError, match="no checkpoint"):
        experiments.prepare(dataclasses.replace(TINY, source=str(tmp_path / "missing.pt")))


def test_extra_settings_may_override_the_normalisation():
    setup = dataclasses.replace(TINY, strategy="scratch", extra={"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})
    *_, config = experiments.prepare(setup)
    assert config.mean == (0.5, 0.5, 0.5) and config.std == (0.5, 0.5, 0.5)
