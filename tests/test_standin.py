"""The full-size CIFAR-100 stand-in: the official layout and sizes, loadable, and marked as a stand-in."""
import pytest

from tl_lessons import data, standin, synthetic
from tl_lessons.errors import ConfigError
from cifar_fixture import write_cifar10


@pytest.fixture(scope="module")
def small_standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    write_cifar10(root / "real")
    folder = standin.write_cifar100_standin(root, per_class={"train": 6, "test": 2}, cifar10_from=root / "real")
    return root, folder


def test_it_loads_as_cifar100_with_the_asked_sizes(small_standin):
    root, folder = small_standin
    train = data.load_cifar100("train", root=root)
    test = data.load_cifar100("test", root=root)
    assert len(train) == 600 and train.class_counts() == [6] * 100
    assert len(test) == 200 and test.num_classes == 100
    assert train.classes == synthetic.class_names(100)
    # 20 superclasses of 5 fine classes each, as in CIFAR-100
    assert len(train.coarse_classes) == 20
    for coarse in range(20):
        assert len({int(f) for f, c in zip(train.labels, train.coarse_labels) if c == coarse}) == 5


def test_its_images_are_synthetic100_images(small_standin):
    root, _ = small_standin
    expected = synthetic.make_synthetic(100, "test", n_per_class=2, seed=0)
    loaded = data.load_cifar100("test", root=root)
    assert (loaded.images == expected.images).all() and (loaded.labels == expected.labels).all()


def test_it_is_marked_and_links_the_real_cifar10(small_standin):
    root, folder = small_standin
    assert standin.is_standin(folder)
    assert "not CIFAR-100" in (folder / standin.MARKER).read_text()
    assert len(data.load_cifar10("test", root=root)) == 30


def test_it_never_overwrites_a_real_cifar100(tmp_path):
    from cifar_fixture import write_cifar100

    write_cifar100(tmp_path)
    before = (tmp_path / "cifar-100-python" / "train").read_bytes()
    with pytest.raises(ConfigError, match="not a stand-in"):
        standin.write_cifar100_standin(tmp_path, per_class={"train": 1, "test": 1})
    assert (tmp_path / "cifar-100-python" / "train").read_bytes() == before


def test_the_official_sizes_are_the_default():
    assert standin.OFFICIAL_PER_CLASS == {"train": 500, "test": 100}
    assert data.OFFICIAL_SIZES == {"train": 100 * 500, "test": 100 * 100}


def test_the_data_layer_names_it_a_stand_in_without_a_checksum_warning(small_standin, recwarn):
    root, _ = small_standin
    train = data.load_cifar100("train", root=root)
    assert "STAND-IN" in train.source and "not CIFAR-100" in train.source
    assert not [w for w in recwarn if issubclass(w.category, data.ChecksumMismatchWarning)]
