"""The CIFAR tables and the glossary: consistent with each other and with the dataset files."""
import warnings

import pytest

from tl_lessons import vocabulary
from tl_lessons.errors import ConfigError


def test_superclasses_partition_the_hundred_classes():
    assert len(vocabulary.CIFAR100_SUPERCLASSES) == 20
    assert all(len(names) == 5 for names in vocabulary.CIFAR100_SUPERCLASSES.values())
    assert len(set(vocabulary.CIFAR100_CLASSES)) == 100
    assert vocabulary.superclass_of("tiger") == "large_carnivores"
    with pytest.raises(ConfigError):
        vocabulary.superclass_of("cat")


def test_lookalikes_name_real_classes_and_no_class_is_shared():
    assert set(vocabulary.LOOKALIKES) == set(vocabulary.CIFAR10_CLASSES)
    for names in vocabulary.LOOKALIKES.values():
        assert set(names) <= set(vocabulary.CIFAR100_CLASSES)
    assert not set(vocabulary.CIFAR10_CLASSES) & set(vocabulary.CIFAR100_CLASSES)
    rows = {row["cifar10"]: row for row in vocabulary.lookalike_rows()}
    assert rows["cat"]["superclasses"] == "large_carnivores"
    assert rows["bird"]["cifar100"] == "(none)"
    assert rows["truck"]["superclasses"] == "vehicles_1, vehicles_2"
    assert vocabulary.resembled_by("cattle") == ("deer", "horse")
    assert vocabulary.resembled_by("orchid") == ()


def test_glossary_text_lists_the_asked_terms():
    text = vocabulary.glossary_text(["fine-tuning", "negative transfer"])
    assert text.splitlines()[0].startswith("fine-tuning ")
    assert vocabulary.GLOSSARY["negative transfer"] in text
    assert len(vocabulary.glossary_text().splitlines()) == len(vocabulary.GLOSSARY)
    with pytest.raises(ConfigError):
        vocabulary.glossary_text(["transfusion"])


@pytest.mark.real_data
def test_tables_match_the_dataset_files(real_cifar_root):
    from tl_lessons.data import load_cifar10, load_cifar100

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rebuilt copy warns about its checksums
        cifar10 = load_cifar10("test", root=real_cifar_root)
        cifar100 = load_cifar100("test", root=real_cifar_root)
    assert tuple(cifar10.classes) == vocabulary.CIFAR10_CLASSES
    assert tuple(cifar100.classes) == vocabulary.CIFAR100_CLASSES
    assert tuple(cifar100.coarse_classes) == tuple(vocabulary.CIFAR100_SUPERCLASSES)
    for fine, coarse in zip(cifar100.labels.tolist(), cifar100.coarse_labels.tolist()):
        assert vocabulary.superclass_of(cifar100.classes[fine]) == cifar100.coarse_classes[coarse]
