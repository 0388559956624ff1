"""Tiny CIFAR-10 and CIFAR-100 folders in the official "python version" format, for tests.

The official batch files were written by Python 2's cPickle with protocol 2. Their strings
are Python 2 byte strings (the SHORT_BINSTRING / BINSTRING opcodes), which is why they load
with str keys under `encoding="latin1"` (torchvision's way) and with bytes keys under
`encoding="bytes"` (the dataset page's recipe). Python 3's pickle never writes those opcodes
for str, so this module writes the handful of opcodes the files use by hand.

    >>> content = write_cifar10(tmp_path)        # tmp_path/cifar-10-batches-py/...
    >>> content["train_labels"][:3]
"""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_CLASSES = [f"fine_{i:02d}" for i in range(100)]
CIFAR100_COARSE_CLASSES = [f"coarse_{i:02d}" for i in range(20)]


# ---------------------------------------------------------------------------------------
# A protocol-2 pickle writer for dicts of Python 2 strings, ints, floats, lists and uint8 arrays
# ---------------------------------------------------------------------------------------


def _py2_str(text) -> bytes:
    """A Python 2 byte string: SHORT_BINSTRING below 256 bytes, BINSTRING above."""
    raw = text.encode("latin1") if isinstance(text, str) else bytes(text)
    if len(raw) < 256:
        return pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw
    return pickle.BINSTRING + struct.pack("<i", len(raw)) + raw


def _int(number: int) -> bytes:
    if 0 <= number < 256:
        return pickle.BININT1 + bytes([number])
    if -(2**31) <= number < 2**31:
        return pickle.BININT + struct.pack("<i", number)
    raw = number.to_bytes(number.bit_length() // 8 + 1, "little", signed=True)  # a Python 2 long
    return pickle.LONG1 + bytes([len(raw)]) + raw


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii")


def _uint8_array(array: np.ndarray) -> bytes:
    """numpy's own pickled form of a C-ordered uint8 array, as numpy 1.x under Python 2 wrote it."""
    assert array.dtype == np.uint8 and array.ndim == 2
    empty_array = (  # _reconstruct(ndarray, (0,), "b")
        _global("numpy.core.multiarray", "_reconstruct")
        + _global("numpy", "ndarray") + _int(0) + pickle.TUPLE1 + _py2_str("b") + pickle.TUPLE3 + pickle.REDUCE
    )
    uint8_dtype = (  # dtype("u1", 0, 1) with state (3, "|", None, None, None, -1, -1, 0)
        _global("numpy", "dtype") + _py2_str("u1") + _int(0) + _int(1) + pickle.TUPLE3 + pickle.REDUCE
        + pickle.MARK + _int(3) + _py2_str("|") + pickle.NONE * 3 + _int(-1) + _int(-1) + _int(0)
        + pickle.TUPLE + pickle.BUILD
    )
    shape = b"".join(_int(n) for n in array.shape) + pickle.TUPLE2
    state = (  # (version 1, shape, dtype, fortran order False, raw bytes)
        pickle.MARK + _int(1) + shape + uint8_dtype + pickle.NEWFALSE
        + _py2_str(np.ascontiguousarray(array).tobytes()) + pickle.TUPLE
    )
    return empty_array + state + pickle.BUILD


def _value(value) -> bytes:
    if isinstance(value, np.ndarray):
        return _uint8_array(value)
    if isinstance(value, str):
        return _py2_str(value)
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return pickle.BINFLOAT + struct.pack(">d", value)
    if isinstance(value, list):
        if not value:
            return pickle.EMPTY_LIST
        return pickle.EMPTY_LIST + pickle.MARK + b"".join(_value(item) for item in value) + pickle.APPENDS
    raise TypeError(f"cannot write {type(value).__name__} in a CIFAR pickle")


def py2_pickle(content: dict) -> bytes:
    """The bytes of `content` pickled as the official CIFAR files are (protocol 2, Python 2 strings)."""
    items = b"".join(_py2_str(key) + _value(value) for key, value in content.items())
    return pickle.PROTO + bytes([2]) + pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS + pickle.STOP


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
