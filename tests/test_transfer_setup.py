"""One transfer run from plain values: its defaults, what is wrong with it, sources, normalisation, the ImageNet source.

The ImageNet weights are never downloaded here: a randomly initialised torchvision ResNet-18 is
saved where torch caches the real file, which is what torchvision finds and loads.
"""
import dataclasses

import pytest
import torch
import torchvision

from tl_lessons import data, models, train, transfer, transfer_setup
from tl_lessons.checkpoints import SOURCE_CHECKPOINT, load_source_model
from tl_lessons.dashboard import sources
from tl_lessons.errors import ConfigError
from tl_lessons.transfer_setup import TransferSetup

TINY = TransferSetup(target="synthetic100", per_class=2, epochs=1, batch_size=50, val_per_class=2)
STAGES = ["stem", "stage1", "stage2", "stage3", "head"]


def problems(setup):
    return setup.problems(STAGES, smallest_class=5)


# ---------------------------------------------------------------------------------------
# Defaults and what is wrong with a setup
# ---------------------------------------------------------------------------------------


def test_each_strategy_starts_from_its_tuned_rate_and_its_options_defaults():
    for name, row in transfer.STRATEGY_TABLE.items():
        assert TransferSetup(strategy=name).lr == row.lr
    assert TransferSetup(strategy="finetune", lr=0.02).lr == 0.02  # a rate given is kept
    assert TransferSetup().as_strategy() == transfer.Strategy("linear_probe")  # the options' defaults are Strategy's


def test_a_label_shows_only_the_options_the_strategy_takes():
    assert TransferSetup(strategy="freeze", k=3, per_class=10).label() == "freeze k=3 · bn eval · lr 0.3 · 10/class"
    assert TransferSetup(strategy="discriminative", fraction=0.1, lr=0.03).label() == (
        "discriminative · head×10 decay 0.5 · lr 0.03 · 10% labels")
    assert TransferSetup(strategy="finetune", source="runs/sources/mine.pt", lr=0.1).label() == (
        "finetune · lr 0.1 · 5/class · from mine.pt")
    # Training without augmentation says so; with it (the kit's default) the label is silent.
    assert TransferSetup(strategy="scratch", extra={"augment": False}).label() == "scratch · lr 0.3 · plain images · 5/class"
    assert TransferSetup(strategy="scratch", extra={"augment": True}).label() == TransferSetup(strategy="scratch").label()


def test_a_sensible_setup_has_no_problems():
    assert problems(TransferSetup(per_class=5, strategy="freeze", k=4)) == {}
    assert TransferSetup().problems() == {}  # every image, the test split, without knowing the model


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"strategy": "freeze", "k": 5}, "k", "between 0 and 4"),
        ({"strategy": "freeze", "k": -1}, "k", "between 0 and 4"),
        ({"strategy": "bogus"}, "strategy", "choose one of scratch"),
        ({"source": "scratch", "strategy": "linear_probe"}, "strategy", "from scratch"),
        ({"per_class": 6}, "per_class", "at most 5"),
        ({"per_class": 0}, "per_class", "at least 1"),
        ({"per_class": None, "fraction": 1.5}, "fraction", "at most 1"),
        ({"fraction": 0.5}, "fraction", "not both"),
        ({"lr": 0.0}, "lr", "above 0"),
        ({"lr": "0.1"}, "lr", "a number"),
        ({"epochs": 0}, "epochs", "at least 1"),
        ({"epochs": 2.5}, "epochs", "whole number"),
        ({"epochs": 101}, "epochs", "at most 100"),
        ({"batch_size": 0}, "batch_size", "at least 1"),
        ({"seed": -1}, "seed", "from 0 to"),
        ({"target": "imagenet"}, "target", "cifar100"),
        ({"val_per_class": 0}, "val_per_class", "at least 1"),
        ({"extra": {"colour": "red"}}, "extra", "colour"),
        ({"strategy": "head_first", "head_epochs": 8, "epochs": 8}, "head_epochs", "at most 7 epochs"),
        ({"strategy": "head_first", "head_epochs": 0}, "head_epochs", "1 or more"),
        ({"strategy": "discriminative", "stage_decay": 0.0}, "stage_decay", "above 0"),
        ({"strategy": "discriminative", "head_lr_factor": -2.0}, "head_lr_factor", "above 0"),
        ({"strategy": "gradual", "unfreeze_every": 0}, "unfreeze_every", "every 1"),
        ({"strategy": "linear_probe", "bn": "frozen"}, "bn", "'eval'"),
    ],
)
def test_each_problem_is_one_sentence_for_its_own_field(changes, field, words):
    found = problems(dataclasses.replace(TransferSetup(per_class=5), **changes))
    assert list(found) == [field]
    assert words in found[field] and found[field].endswith(".")


def test_the_labels_and_schedule_sentences_are_the_one_home_checks():
    assert problems(TransferSetup(per_class=6))["per_class"] == data.per_class_problem(6, most=5)
    assert problems(TransferSetup(per_class=None, fraction=2.0))["fraction"] == data.fraction_problem(2.0)
    head_first = TransferSetup(per_class=5, strategy="head_first", head_epochs=3, epochs=3)
    assert problems(head_first)["head_epochs"] == transfer.schedule_problem(head_first.as_strategy(), 3)


def test_prepare_is_the_model_of_prepare_model_on_the_tasks_images():
    model, strategy, train_set, _, config = transfer_setup.prepare(TINY)
    alone, alone_strategy, alone_config = transfer_setup.prepare_model(TINY, train_set.num_classes)
    assert (alone_strategy, alone_config) == (strategy, config)
    same = [name for name, tensor in model.state_dict().items() if torch.equal(tensor, alone.state_dict()[name])]
    assert same == [name for name in model.state_dict() if not name.startswith("head.fc.")]  # a new head each


def test_options_of_other_strategies_are_not_checked():
    assert problems(TransferSetup(per_class=5, strategy="finetune", k=99, stage_decay=7.0, head_epochs=-3)) == {}


def test_an_unavailable_source_says_why():
    found = TransferSetup(per_class=5, source="imagenet").problems(STAGES, 5, {"imagenet": "ImageNet weights need the network."})
    assert found == {"source": "ImageNet weights need the network."}


def test_prepare_refuses_a_setup_with_problems_before_reading_any_data(monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("a setup with problems must not read data")

    monkeypatch.setattr(data, "load_dataset", no_data)
    with pytest.raises(ConfigError) as caught:
        transfer_setup.prepare(dataclasses.replace(TINY, strategy="freeze", k=9, lr="fast"))
    assert "k must be between 0 and" in str(caught.value) and "learning rate must be a number" in str(caught.value)


def test_source_stages_need_no_weights_and_leave_the_random_state_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no ImageNet weights cached
    before = torch.random.get_rng_state()
    assert transfer_setup.source_stages("imagenet") == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert torch.equal(torch.random.get_rng_state(), before)


# ---------------------------------------------------------------------------------------
# Sources and normalisation
# ---------------------------------------------------------------------------------------


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


@pytest.mark.slow
def test_the_imagenet_source_brings_its_weights_and_its_normalisation(cached_imagenet):
    assert sources.imagenet_problem() is None  # the dashboard now offers it
    setup = dataclasses.replace(TINY, source="imagenet", strategy="linear_probe", lr=0.5)
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup)
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


@pytest.mark.slow
def test_scratch_on_the_imagenet_architecture_needs_no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached, and nothing may be fetched

    def no_download(*args, **kwargs):
        raise AssertionError("a scratch run must not load ImageNet weights")

    monkeypatch.setattr(models, "_imagenet_weights", no_download)
    setup = dataclasses.replace(TINY, source="imagenet", strategy="scratch")
    model, _, _, _, config = transfer_setup.prepare(setup)
    assert models.stage_names(model)[-2] == "stage4" and config.arch == "imagenet_resnet18"
    assert config.mean is None  # a network that learnt nothing yet uses the target's own statistics


@pytest.mark.slow
@pytest.mark.skipif(not SOURCE_CHECKPOINT.is_file(), reason="the shipped checkpoint is not in this copy")
def test_a_pretrained_source_sees_images_scaled_as_in_its_own_training():
    _, meta = load_source_model()
    *_, config = transfer_setup.prepare(dataclasses.replace(TINY, strategy="freeze", k=2))
    assert (config.mean, config.std) == (tuple(meta["mean"]), tuple(meta["std"]))
    assert config.arch == meta["arch"]
    *_, scratch = transfer_setup.prepare(dataclasses.replace(TINY, strategy="scratch"))
    assert scratch.mean is None and scratch.std is None


@pytest.mark.slow
def test_an_unknown_checkpoint_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        transfer_setup.prepare(dataclasses.replace(TINY, source=str(tmp_path / "missing.pt")))


@pytest.mark.slow
def test_extra_settings_may_override_the_normalisation():
    setup = dataclasses.replace(TINY, strategy="scratch", extra={"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})
    *_, config = transfer_setup.prepare(setup)
    assert config.mean == (0.5, 0.5, 0.5) and config.std == (0.5, 0.5, 0.5)


def test_a_setup_validates_on_held_out_training_images_and_tests_on_the_test_split():
    train_set, val_set = transfer_setup.load_target(TINY)
    test_set = transfer_setup.load_test(TINY)
    assert train_set.class_counts() == [2] * 100 and val_set.class_counts() == [2] * 100
    assert val_set.split == "val" and test_set.split == "test"
    full_train = data.load_dataset("synthetic100", "train")
    # every validation image is a training-split image, and none is trained on
    rows = {image.numpy().tobytes(): None for image in full_train.images}
    assert all(image.numpy().tobytes() in rows for image in val_set.images)
    assert not {i.numpy().tobytes() for i in train_set.images} & {i.numpy().tobytes() for i in val_set.images}
    # the seed of a run changes its training, not its images
    other, _ = transfer_setup.load_target(dataclasses.replace(TINY, seed=7))
    assert torch.equal(other.images, train_set.images)


def test_the_default_task_is_the_few_shot_one():
    setup = TransferSetup()
    assert (setup.per_class, setup.val_per_class) == (data.FEW_SHOT, data.VAL_PER_CLASS) == (5, 5)
    assert setup.label().endswith("5/class")


def test_runs_of_one_task_share_its_images():
    """Thirty learners' thirty strategies on one task hold one copy of its images (the classroom's memory)."""
    probe = TransferSetup(target="synthetic100", per_class=3, strategy="linear_probe")
    finetune = dataclasses.replace(probe, strategy="finetune", seed=4, epochs=2)
    train_a, val_a = transfer_setup.load_target(probe)
    train_b, val_b = transfer_setup.load_target(finetune)
    assert train_a.images is train_b.images and val_a.images is val_b.images
    other_task = transfer_setup.load_target(dataclasses.replace(probe, per_class=4))[0]
    assert other_task.images is not train_a.images and len(other_task) == 4 * 100
    near = transfer_setup.load_target(dataclasses.replace(probe, classes="near"))[0]
    assert near.num_classes == 15 and transfer_setup.load_target(dataclasses.replace(probe, classes="near"))[0] is near
