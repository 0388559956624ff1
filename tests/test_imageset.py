"""tl_lessons.imageset: what a dataset is: rows taken together, counts per class, one line for learners."""
import torch

from tl_lessons.imageset import ImageSet


def small_set() -> ImageSet:
    """Five images, image i filled with the value i; labels 0, 1, 0, 2, 1 with superclasses 0, 1, 0, 1, 1."""
    images = torch.arange(5, dtype=torch.uint8).view(5, 1, 1, 1).expand(5, 3, 32, 32).contiguous()
    return ImageSet(images, torch.tensor([0, 1, 0, 2, 1]), ["a", "b", "c"], "cifar100", "train", "made here",
                    (0.5,) * 3, (0.25,) * 3, coarse_labels=torch.tensor([0, 1, 0, 1, 1]), coarse_classes=["x", "y"])


def test_take_keeps_the_metadata_and_picks_rows_in_order():
    ds = small_set()
    part = ds.take([3, 1], split="val")
    assert part.split == "val" and part.labels.tolist() == [2, 1] and part.coarse_labels.tolist() == [1, 1]
    assert part.images[:, 0, 0, 0].tolist() == [3, 1]
    assert part.classes is ds.classes and part.source == ds.source and part.mean == ds.mean
    assert ds.take(ds.labels == 0).images[:, 0, 0, 0].tolist() == [0, 2]  # a boolean mask
    assert ds.take(torch.tensor([4])).split == "train"


def test_counts_and_the_learners_line():
    ds = small_set()
    assert len(ds) == 5 and ds.num_classes == 3 and ds.class_counts() == [2, 2, 1]
    assert ds.describe() == "CIFAR-100 train: 5 images, 3 classes (1 to 2 per class); source: made here"
    assert not ds.synthetic and ds.take([0, 1, 3]).describe().startswith("CIFAR-100 train: 3 images, 3 classes (1 per class)")
