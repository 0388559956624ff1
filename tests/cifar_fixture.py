"""Tiny CIFAR-10 and CIFAR-100 folders in the official "python version" format, for tests.

The files are written in the official files' exact pickle format (`tl_lessons.standin.py2_pickle`),
so they load with str keys under `encoding="latin1"` and with bytes keys under `encoding="bytes"`.

    >>> content = write_cifar10(tmp_path)        # tmp_path/cifar-10-batches-py/...
    >>> content["train_labels"][:3]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tl_lessons.standin import py2_pickle

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_CLASSES = [f"fine_{i:02d}" for i in range(100)]
CIFAR100_COARSE_CLASSES = [f"coarse_{i:02d}" for i in range(20)]


def _write(path: Path, content: dict) -> None:
    path.write_bytes(py2_pickle(content))


# ---------------------------------------------------------------------------------------
# The two folders
# ---------------------------------------------------------------------------------------


def _random_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root, per_batch: int = 20, n_test: int = 30, seed: int = 0) -> dict:
    """Write root/cifar-10-batches-py with 5 * `per_batch` training and `n_test` test images.

    Labels cycle 0, 1, ..., 9, so with multiples of 10 every class has the same count.
    Returns the folder and the arrays written (images as (N, 3072) rows, labels as lists).
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = [], []
    for batch in range(1, 6):
        images = _random_images(rng, per_batch)
        labels = [(batch * per_batch + i) % 10 for i in range(per_batch)]
        _write(folder / f"data_batch_{batch}", {
            "batch_label": f"training batch {batch} of 5", "labels": labels, "data": images,
        })
        train_images.append(images)
        train_labels += labels
    test_images = _random_images(rng, n_test)
    test_labels = [i % 10 for i in range(n_test)]
    _write(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test_images})
    _write(folder / "batches.meta", {"num_cases_per_batch": per_batch, "label_names": CIFAR10_CLASSES, "num_vis": 3072})
    return {
        "folder": folder,
        "train_images": np.concatenate(train_images),
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }


def write_cifar100(root, n_train: int = 200, n_test: int = 100, seed: int = 0) -> dict:
    """Write root/cifar-100-python with `n_train` and `n_test` images; fine label i % 100, coarse fine % 20.

    Returns the folder and the arrays written.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    content = {"folder": folder}
    for split, n in (("train", n_train), ("test", n_test)):
        images = _random_images(rng, n)
        fine = [i % 100 for i in range(n)]
        coarse = [label % 20 for label in fine]
        _write(folder / split, {
            "filenames": [f"image_{i:05d}.png" for i in range(n)],
            "batch_label": f"{'training' if split == 'train' else 'testing'} batch 1 of 1",
            "fine_labels": fine,
            "coarse_labels": coarse,
            "data": images,
        })
        content.update({f"{split}_images": images, f"{split}_labels": fine, f"{split}_coarse_labels": coarse})
    _write(folder / "meta", {"fine_label_names": CIFAR100_CLASSES, "coarse_label_names": CIFAR100_COARSE_CLASSES})
    return content
