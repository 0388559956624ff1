"""What a dataset is in the kit: `ImageSet`, a labelled set of 32x32 colour images in memory.

Every dataset the chapters use, real (`tl_lessons.data`) or generated (`tl_lessons.synthetic`),
is an `ImageSet`: one uint8 tensor of images beside the labels, the class names, a sentence
saying where the images come from, and the per-channel statistics to normalise them with.

    >>> from tl_lessons.data import load_dataset
    >>> ds = load_dataset("synthetic10")
    >>> ds.images.shape, ds.num_classes
    (torch.Size([5000, 3, 32, 32]), 10)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

# How the four datasets are named in sentences for learners.
DISPLAY_NAMES = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "synthetic10": "Synthetic-10",
    "synthetic100": "Synthetic-100",
}


@dataclass(eq=False)  # compare ImageSets by identity: comparing their tensors is rarely meant
class ImageSet:
    """A labelled set of 32x32 colour images held in memory.

    >>> ds = ImageSet(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"],
    ...               "synthetic10", "train", "two black squares", (0.5,) * 3, (0.25,) * 3)
    >>> ds
    ImageSet(Synthetic-10 train: 2 images, 2 classes (1 per class); source: two black squares)
    """

    images: torch.Tensor  # uint8, (N, 3, 32, 32), contiguous
    labels: torch.Tensor  # int64, (N,)
    classes: list[str]  # class names, index = label
    name: str  # "cifar10" | "cifar100" | "synthetic10" | "synthetic100"
    split: str  # "train" | "test" | "val"
    source: str  # provenance sentence shown to learners
    mean: tuple[float, float, float]  # per-channel normalisation (0..1 scale)
    std: tuple[float, float, float]
    coarse_labels: torch.Tensor | None = None  # CIFAR-100 superclasses
    coarse_classes: list[str] | None = None

    @property
    def synthetic(self) -> bool:
        """True for the generated practice sets: `load_dataset("synthetic10").synthetic`."""
        return self.name.startswith("synthetic")

    @property
    def num_classes(self) -> int:
        """How many classes the labels can name: `load_dataset("cifar100").num_classes == 100`."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"ImageSet({self.describe()})"

    def take(self, indices, split: str | None = None) -> ImageSet:
        """The rows `indices` (a list, an index tensor or a boolean mask), in that order: `ds.take([0, 5, 9])`."""
        indices = torch.as_tensor(indices)
        if indices.dtype == torch.bool:
            indices = indices.nonzero().squeeze(1)
        indices = indices.long()
        coarse = None if self.coarse_labels is None else self.coarse_labels.index_select(0, indices)
        return replace(
            self,
            images=self.images.index_select(0, indices),
            labels=self.labels.index_select(0, indices),
            coarse_labels=coarse,
            split=self.split if split is None else split,
        )

    def class_counts(self) -> list[int]:
        """Images per class, index = label: `ds.class_counts()[3]` is the number of cats."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def describe(self) -> str:
        """One line for learners: `print(ds.describe())`."""
        counts = self.class_counts()
        if min(counts) == max(counts):
            per_class = f"{counts[0]:,} per class"
        else:
            per_class = f"{min(counts):,} to {max(counts):,} per class"
        title = DISPLAY_NAMES.get(self.name, self.name)
        return (
            f"{title} {self.split}: {len(self):,} images, {self.num_classes} classes ({per_class}); "
            f"source: {self.source}"
        )
