"""tl_lessons.synthetic: deterministic, balanced, learnable, and built from shared primitives."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tl_lessons.data import load_dataset
from tl_lessons.errors import ConfigError
from tl_lessons.loader import Loader
from tl_lessons.synthetic import PRIMITIVE_NAMES, class_names, make_synthetic, primitives_of


def test_same_seed_same_images_other_seed_other_images():
    a = make_synthetic(10, "train", n_per_class=20, seed=1)
    b = make_synthetic(10, "train", n_per_class=20, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, make_synthetic(10, "train", n_per_class=20, seed=2).images)
    assert not torch.equal(a.images, make_synthetic(10, "test", n_per_class=20, seed=1).images)


@pytest.mark.slow
def test_default_sizes_shapes_and_balance():
    for num_classes, split, total in ((10, "train", 5000), (10, "test", 1000), (100, "train", 10000),
                                      (100, "test", 2000)):
        ds = load_dataset(f"synthetic{num_classes}", split)
        assert ds.images.shape == (total, 3, 32, 32) and ds.images.dtype == torch.uint8
        assert ds.labels.dtype == torch.int64
        assert ds.class_counts() == [total // num_classes] * num_classes
        assert ds.synthetic and ds.name == f"synthetic{num_classes}" and ds.split == split
        assert "synthetic" in ds.source


def test_sizes_can_be_overridden():
    assert len(make_synthetic(100, "train", n_per_class=3)) == 300


def test_synthetic100_classes_are_pairs_of_synthetic10_primitives():
    assert class_names(10) == PRIMITIVE_NAMES and len(set(PRIMITIVE_NAMES)) == 10
    names = class_names(100)
    assert len(set(names)) == 100
    for label in (0, 12, 57, 99):
        left, right = primitives_of(label, 100)
        assert names[label] == f"{PRIMITIVE_NAMES[left]} left of {PRIMITIVE_NAMES[right]}"
    assert primitives_of(7, 10) == (7,)


@pytest.mark.slow
def test_statistics_constants_match_the_images():
    for num_classes in (10, 100):
        ds = make_synthetic(num_classes, "train", n_per_class=2000 // num_classes)
        pixels = ds.images.float().div(255).transpose(0, 1).reshape(3, -1)
        assert torch.allclose(pixels.mean(1), torch.tensor(ds.mean), atol=0.01)
        assert torch.allclose(pixels.std(1), torch.tensor(ds.std), atol=0.01)


def test_bad_requests_are_config_errors():
    with pytest.raises(ConfigError):
        make_synthetic(20)
    with pytest.raises(ConfigError):
        make_synthetic(10, "val")
    with pytest.raises(ConfigError):
        make_synthetic(10, n_per_class=0)


def tiny_cnn(num_classes):
    # Small enough to train on a laptop CPU in a few seconds.
    return nn.Sequential(
        nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 64), nn.ReLU(), nn.Linear(64, num_classes),
    )


@pytest.mark.slow
def test_a_tiny_cnn_learns_synthetic10_in_seconds():
    torch.manual_seed(0)
    train = make_synthetic(10, "train", n_per_class=150)
    test = make_synthetic(10, "test", n_per_class=50)
    model = tiny_cnn(10)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(4):
        for x, y in Loader(train, batch_size=64, shuffle=True):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    with torch.no_grad():
        x, y = next(iter(Loader(test, batch_size=len(test))))
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1
