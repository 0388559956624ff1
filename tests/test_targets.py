"""tl_lessons.targets: near and far are fixed CIFAR-100 class lists, and a run can learn one of them."""
import dataclasses

import pytest
import torch

from tl_lessons import data, targets, transfer_setup, vocabulary
from tl_lessons.errors import ConfigError
from tl_lessons.transfer_setup import TransferSetup


def test_near_and_far_are_fifteen_cifar100_classes_each_and_share_none():
    for target in (targets.NEAR, targets.FAR):
        assert target.size() == 15
        assert set(target.classes) <= set(vocabulary.CIFAR100_CLASSES)
    assert not set(targets.NEAR.classes) & set(targets.FAR.classes)


def test_near_is_the_lookalike_table_and_far_resembles_nothing():
    lookalikes = {name for names in vocabulary.LOOKALIKES.values() for name in names}
    assert set(targets.NEAR.classes) == lookalikes
    assert all(vocabulary.resembled_by(name) == () for name in targets.FAR.classes)


def test_restrict_keeps_only_the_target_classes_and_relabels_them_in_the_targets_order():
    ds = data.load_dataset("synthetic100", "test")
    named = dataclasses.replace(ds, classes=list(vocabulary.CIFAR100_CLASSES))   # synthetic images, CIFAR-100 names
    far = targets.restrict(named, "far")
    assert far.classes == list(targets.FAR.classes)
    expected = sum(int((ds.labels == vocabulary.CIFAR100_CLASSES.index(name)).sum()) for name in targets.FAR.classes)
    assert len(far) == expected and far.labels.max().item() == 14
    # every kept image keeps its class: its new label names the class its old label named
    original = torch.tensor([vocabulary.CIFAR100_CLASSES.index(name) for name in targets.FAR.classes])[far.labels]
    kept = torch.isin(ds.labels, torch.tensor([vocabulary.CIFAR100_CLASSES.index(n) for n in targets.FAR.classes]))
    assert torch.equal(original, ds.labels[kept])
    assert targets.restrict(ds, "all") is ds


def test_a_dataset_without_cifar100_names_gets_a_stand_in_of_the_same_size_and_says_so():
    ds = data.load_dataset("synthetic100", "test")
    near, far = targets.restrict(ds, "near"), targets.restrict(ds, "far")
    assert near.num_classes == far.num_classes == 15
    assert not set(near.classes) & set(far.classes)
    assert "stand in" in near.source
    with pytest.raises(ConfigError, match="needs 15 classes"):
        targets.restrict(data.load_dataset("synthetic10", "test"), "near")


def test_a_transfer_setup_trains_and_tests_on_its_targets_classes_only():
    setup = TransferSetup(target="synthetic100", classes="far", per_class=3)
    train_set, val_set = transfer_setup.load_target(setup)
    test_set = transfer_setup.load_test(setup)
    assert train_set.num_classes == val_set.num_classes == test_set.num_classes == 15
    assert train_set.class_counts() == [3] * 15
    assert "far classes" in setup.label()
    assert TransferSetup(classes="nearby").problems()["classes"].startswith("Choose the target classes among all")
