"""A full-size stand-in for CIFAR-100, to check that the kit keeps its time and memory budgets.

Our development copy of CIFAR-100 is partial (about 11 training images per class); a learner who
runs `make data` gets the official 500 per class. Whatever loads, subsets, caches or explores the
target data must stay within its stated time and memory on the official size too. Without the
official files, this module writes a folder with exactly the official layout and sizes (50,000
training and 10,000 test images, 100 fine and 20 coarse classes) filled with the kit's synthetic100
images (see `tl_lessons.synthetic`), and marks it as a stand-in so that nothing mistakes it for
CIFAR-100: `load_cifar100` then describes it as "a full-size synthetic stand-in". The command line
has no command for it; write it from Python, then open the chapters on it (`docs/data.md`):

    python -c 'from tl_lessons import standin; standin.write_cifar100_standin("/tmp/standin", cifar10_from="data")'
    TL_LESSONS_DATA=/tmp/standin make lab      # the chapters on official-size data

Accuracies measured on it say nothing about CIFAR-100; times and memory do.
"""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np

from tl_lessons import data, synthetic
from tl_lessons.errors import ConfigError

MARKER = data.STANDIN_MARKER
"""The file that marks a `cifar-100-python` folder as a stand-in (its text says what it holds)."""

OFFICIAL_PER_CLASS = {"train": 500, "test": 100}


def coarse_label(fine: int) -> int:
    """The stand-in's 20 superclasses: the left primitive, split by which half the right one is from.

    Like CIFAR-100, each superclass holds 5 fine classes.

    >>> [coarse_label(fine) for fine in (0, 4, 5, 99)]
    [0, 0, 1, 19]
    """
    left, right = synthetic.primitives_of(fine, 100)
    return 2 * left + (right >= 5)


def coarse_names() -> list[str]:
    """Names of the 20 stand-in superclasses."""
    names = synthetic.class_names(10)
    return [f"{names[left]} left, right from {('first', 'second')[half]} five" for left in range(10) for half in range(2)]


# ---------------------------------------------------------------------------------------
# The official files' format: a protocol-2 pickle of Python 2 strings, ints, floats, lists and uint8 arrays
#
# The official batch files were written by Python 2's cPickle. Their strings are Python 2 byte
# strings (the SHORT_BINSTRING / BINSTRING opcodes), which is why they load with str keys under
# `encoding="latin1"` and with bytes keys under `encoding="bytes"`. Python 3's pickle never writes
# those opcodes, so the few opcodes the files use are written by hand.
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


def _write_pickle(path: Path, content: dict) -> None:
    # Written to a temporary name first: an interrupted run never leaves a half-written batch file.
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(py2_pickle(content))
    os.replace(temporary, path)




def write_cifar100_standin(dest, per_class: dict | None = None, seed: int = 0, cifar10_from=None) -> Path:
    """Write DEST/cifar-100-python with the official layout and sizes, filled with synthetic100 images.

    per_class: images per class for "train" and "test" (default: the official 500 and 100).
    cifar10_from: a data folder holding the real `cifar-10-batches-py`, linked into DEST so that the
        chapters (whose source task is CIFAR-10) run on DEST unchanged.
    Returns the `cifar-100-python` folder.

    The chapters' stand-in is `write_cifar100_standin("/tmp/standin", cifar10_from="data")`; a small one:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as dest:
    ...     folder = write_cifar100_standin(dest, per_class={"train": 3, "test": 1})
    ...     test = data.load_cifar100("test", root=dest)
    ...     folder.name, is_standin(folder), len(test), test.num_classes, len(test.coarse_classes)
    ('cifar-100-python', True, 100, 100, 20)
    """
    per_class = {**OFFICIAL_PER_CLASS, **(per_class or {})}
    dest = Path(dest)
    folder = dest / "cifar-100-python"
    if (folder / "train").exists() and not (folder / MARKER).exists():
        raise ConfigError(f"{folder} holds a CIFAR-100 that is not a stand-in: choose an empty folder.")
    folder.mkdir(parents=True, exist_ok=True)
    names = synthetic.class_names(100)
    for split in ("train", "test"):
        images = synthetic.make_synthetic(100, split, n_per_class=per_class[split], seed=seed)
        fine = images.labels.tolist()
        _write_pickle(folder / split, {
            "filenames": [f"standin_{split}_{index:05d}.png" for index in range(len(fine))],
            "batch_label": f"synthetic stand-in, {split}",
            "fine_labels": fine,
            "coarse_labels": [coarse_label(label) for label in fine],
            "data": np.ascontiguousarray(images.images.reshape(len(fine), -1).numpy()),
        })
    _write_pickle(folder / "meta", {"fine_label_names": names, "coarse_label_names": coarse_names()})
    (folder / MARKER).write_text(
        f"A full-size synthetic stand-in for CIFAR-100, written by tl_lessons.standin (seed {seed}): "
        f"{per_class['train']} training and {per_class['test']} test images per class of synthetic100.\n"
        "It has the official layout and sizes, for measuring time and memory; it is not CIFAR-100.\n")
    if cifar10_from is not None:
        real = Path(cifar10_from) / "cifar-10-batches-py"
        if not (real / "test_batch").is_file():
            raise ConfigError(f"There is no CIFAR-10 in {real}: give the data folder that holds cifar-10-batches-py.")
        link = dest / "cifar-10-batches-py"
        if not link.exists():
            link.symlink_to(real.resolve(), target_is_directory=True)
    return folder


def is_standin(folder) -> bool:
    """Whether a `cifar-100-python` folder is a stand-in written by this module."""
    return (Path(folder) / MARKER).is_file()
