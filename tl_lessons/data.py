"""CIFAR-10 and CIFAR-100: download, verify, read; plus the subsets the chapters use.

The images live in memory as one uint8 tensor of shape (N, 3, 32, 32): the CIFAR files
already store each image as three 32x32 colour planes, so reading a batch file is one
reshape, with no per-image work. Every loader returns an `ImageSet` (`tl_lessons.imageset`):
the pixels with their labels, class names, provenance and normalisation constants (CIFAR after `make data`):

    >>> print(load_dataset("synthetic10", "train").describe())
    Synthetic-10 train: 5,000 images, 10 classes (500 per class); source: ...
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import pickle
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tl_lessons import downloads
from tl_lessons.errors import ConfigError, CorruptDataError, DataUnavailableError, is_number, is_whole_number
from tl_lessons.imageset import DISPLAY_NAMES, ImageSet
from tl_lessons.synthetic import make_synthetic

DATASETS = ("cifar10", "cifar100", "synthetic10", "synthetic100")
SPLITS = ("train", "test")

# Per-channel mean and standard deviation of the training pixels on the 0..1 scale, over every
# pixel of the official training sets. (The (0.2023, 0.1994, 0.2010) often quoted as CIFAR-10's
# std is not the standard deviation of its pixels.)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

DOWNLOAD_HINT = "python -m tl_lessons data download {name}"


class ChecksumMismatchWarning(UserWarning):
    """CIFAR files that load fine but are not byte-for-byte the official ones."""


def say_copy_once() -> None:
    """For the chapters: a copy whose checksums differ is said once, in each dataset's description.

    Loading such a copy warns (`ChecksumMismatchWarning`); a chapter prints `describe()`, which names
    the copy, so the warning would only repeat it in every cell that loads data.
    """
    warnings.filterwarnings("ignore", category=ChecksumMismatchWarning)


# ---------------------------------------------------------------------------------------
# Where the data lives
# ---------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(root=None) -> Path:
    """The data folder: the argument, else $TL_LESSONS_DATA, else <repo>/data.

    >>> data_dir("/tmp/cifar")
    PosixPath('/tmp/cifar')
    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("TL_LESSONS_DATA"):
        return Path(os.environ["TL_LESSONS_DATA"]).expanduser()
    return REPO_ROOT / "data"


def _data_folder(root) -> Path:
    """`data_dir(root)`, refusing a path that is a file (a typo in TL_LESSONS_DATA, say)."""
    folder = data_dir(root)
    if folder.exists() and not folder.is_dir():
        raise DataUnavailableError(
            f"{folder} is a file, not a folder: set TL_LESSONS_DATA (or root=) to the folder that holds "
            "cifar-10-batches-py/ and cifar-100-python/, or to an empty folder to download them into."
        )
    return folder


@dataclass(frozen=True)
class CifarFiles:
    """What the official archive of one CIFAR dataset holds (names and md5s from torchvision)."""

    name: str
    url: str
    archive: str
    archive_md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    md5: dict  # file name -> official md5

    def files(self, split: str) -> tuple[str, ...]:
        return self.train_files if split == "train" else self.test_files


def cifar_files(name: str) -> CifarFiles:
    """The official file list of "cifar10" or "cifar100": `cifar_files("cifar10").archive_md5`."""
    # torchvision lists the official per-file checksums; reading them avoids retyping 16 md5s.
    from torchvision.datasets import CIFAR10, CIFAR100

    dataset = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
    md5 = {file: digest for file, digest in dataset.train_list + dataset.test_list}
    md5[dataset.meta["filename"]] = dataset.meta["md5"]
    return CifarFiles(
        name=name,
        url=dataset.url,
        archive=dataset.filename,
        archive_md5=dataset.tgz_md5,
        folder=dataset.base_folder,
        train_files=tuple(file for file, _ in dataset.train_list),
        test_files=tuple(file for file, _ in dataset.test_list),
        meta_file=dataset.meta["filename"],
        md5=md5,
    )


def _check_cifar_name(name: str) -> None:
    if name not in ("cifar10", "cifar100"):
        raise ConfigError(f"Unknown CIFAR dataset {name!r}: choose 'cifar10' or 'cifar100'.")


def _missing_message(name: str, root: Path, what: str) -> str:
    files = cifar_files(name)
    return (
        f"{DISPLAY_NAMES[name]} {what} in {root}: run `{DOWNLOAD_HINT.format(name=name)}` "
        f"(or `make data`), or put {files.archive} or the extracted folder {files.folder}/ "
        f"into {root}, or set TL_LESSONS_DATA to the folder that holds it."
    )


def cifar_available(name: str, root=None) -> bool:
    """True when every file of the extracted dataset is on disk: `cifar_available("cifar10")`."""
    _check_cifar_name(name)
    files = cifar_files(name)
    folder = data_dir(root) / files.folder
    return all((folder / file).is_file() for file in files.md5)


def usable_datasets(names=DATASETS, root=None) -> list[str]:
    """The datasets among `names` that can be read here: a synthetic set always, CIFAR only when it is on disk.

    The first of a list is the one to use: `usable_datasets(("cifar10", "synthetic10"))[0]` is
    CIFAR-10 where `make data` fetched it, else its synthetic practice set.

    >>> usable_datasets(root="/nowhere")
    ['synthetic10', 'synthetic100']
    """
    return [name for name in names if name.startswith("synthetic") or cifar_available(name, root)]


# ---------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------


def download_cifar(name: str, root=None) -> Path:
    """Download (unless already there) and unpack the official md5-checked archive; returns the folder.

    The download gives up after `downloads.TIMEOUT_S` seconds of silence, `downloads.TRIES` times.

    download_cifar("cifar10")   # needs the network once, about 170 MB (so it is not run as a doctest)
    """
    from torchvision.datasets.utils import extract_archive

    _check_cifar_name(name)
    files = cifar_files(name)
    root = _data_folder(root)
    archive = root / files.archive
    command = DOWNLOAD_HINT.format(name=name)
    # An archive that is already here and intact (downloaded before, or copied in by hand)
    # is unpacked without touching the network.
    if not (archive.is_file() and file_md5(archive) == files.archive_md5):
        try:
            root.mkdir(parents=True, exist_ok=True)
            downloads.download(files.url, archive, checksum=("md5", files.archive_md5))
        except OSError as err:
            raise DataUnavailableError(
                f"Could not download {DISPLAY_NAMES[name]} from {files.url} into {root} ({err}): check the "
                f"internet connection and the free space there, then run `{command}` again. Or download "
                f"{files.url} another way (a browser) and put {files.archive} into {root}, or copy the "
                f"extracted {files.folder}/ folder there, or set TL_LESSONS_DATA to a folder that holds it."
            ) from err
    try:
        extract_archive(str(archive), str(root))
    except (OSError, tarfile.TarError) as err:
        raise DataUnavailableError(
            f"Could not unpack {archive} into {root} ({err}): check the free disk space and write "
            f"permission there, then run `{command}` again."
        ) from err
    return root / files.folder


# ---------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------

# md5 digests: hashing CIFAR-10's 180 MB takes about half a second, so each file is hashed once,
# not on every load. The digests are also stored beside the files (MD5_CACHE_FILE), so that a new
# Python process need not hash them again. A digest is used only while the file looks untouched
# since it was hashed: same size and modification time, and the same change time and inode, which,
# unlike the modification time, a copy (`cp -p`, tar, rsync) or `touch` cannot set back.
# (Earlier versions kept size, mtime and digest in ".tl_lessons_md5.json" and cannot read more
# values: a file of its own keeps both working on one data folder.)
MD5_CACHE_FILE = ".tl_lessons_checksums.json"
_MD5_CACHE: dict[tuple, str] = {}
# Folders already warned about, so a notebook that loads CIFAR ten times warns once.
_WARNED_FOLDERS: set[str] = set()


def _identity(stat: os.stat_result) -> list[int]:
    """What must not have changed since a file was hashed for its cached digest to hold."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _stored_digests(folder: Path) -> dict:
    """{file name: identity + [digest]} from the side cache; anything not of that shape is ignored."""
    try:
        stored = json.loads((folder / MD5_CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    return {name: entry for name, entry in stored.items()
            if isinstance(entry, list) and len(entry) == 5 and isinstance(entry[4], str)}


def file_md5(path) -> str:
    """The md5 hex digest of a file, hashed again whenever the file may have changed: `file_md5("data/x.tar.gz")`."""
    path = Path(path).resolve()
    identity = _identity(path.stat())
    key = (str(path), *identity)
    if key in _MD5_CACHE:
        return _MD5_CACHE[key]
    stored = _stored_digests(path.parent)
    *hashed, digest = stored.get(path.name, [None] * 5)
    if hashed != identity:
        md5 = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                md5.update(chunk)
        digest = md5.hexdigest()
        stored[path.name] = [*identity, digest]
        try:
            (path.parent / MD5_CACHE_FILE).write_text(json.dumps(stored))
        except OSError:
            pass  # a read-only data folder only means hashing again in the next process
    _MD5_CACHE[key] = digest
    return digest


def mismatched_files(name: str, root=None) -> list[str]:
    """Files of the extracted dataset whose md5 differs from the official one (missing ones skipped).

    mismatched_files("cifar10")      # [] after `make data` fetched the official files
    """
    files = cifar_files(name)
    folder = data_dir(root) / files.folder
    return [
        file
        for file, official in files.md5.items()
        if (folder / file).is_file() and file_md5(folder / file) != official
    ]


STANDIN_MARKER = "STANDIN.txt"  # the file tl_lessons.standin leaves in a stand-in's folder

OFFICIAL_SIZES = {"train": 50_000, "test": 10_000}  # images per split, for CIFAR-10 and CIFAR-100 alike


def _where(folder: Path) -> str:
    """A dataset folder as a sentence names it: by its name in the data folder, never this computer's path
    (sentences end up in saved notebooks, shared pages and recorded runs; `data status` prints the path)."""
    return f"the data folder's {folder.name}"


def _source_sentence(name: str, split: str, folder: Path, mismatched: list[str], n_images: int) -> str:
    if not mismatched:
        return f"the official {DISPLAY_NAMES[name]} files in {_where(folder)} (checksums verified)"
    sentence = (f"a rebuilt copy of {DISPLAY_NAMES[name]} in {_where(folder)} whose checksums differ from the "
                "official files")
    if name == "cifar10":
        # The shared development copy went through JPEG; any rebuilt copy may have been altered.
        sentence += ", so its pixels may differ from the official ones (for example after JPEG re-encoding)"
    if n_images < OFFICIAL_SIZES[split]:
        sentence += f", holding {n_images:,} of the {OFFICIAL_SIZES[split]:,} official {split} images"
    return sentence


def _warn_once(name: str, folder: Path, mismatched: list[str]) -> None:
    key = str(folder.resolve())
    if not mismatched or key in _WARNED_FOLDERS:
        return
    _WARNED_FOLDERS.add(key)
    warnings.warn(
        f"{DISPLAY_NAMES[name]} in {folder}: {', '.join(mismatched)} do not match the official "
        f"checksums; loading them anyway as a rebuilt copy (results may differ slightly from the "
        f"official dataset). Re-download with `{DOWNLOAD_HINT.format(name=name)}` for the official files.",
        ChecksumMismatchWarning,
        stacklevel=4,  # point at the learner's load_cifar10/100 call
    )


# ---------------------------------------------------------------------------------------
# Reading the batch files
# ---------------------------------------------------------------------------------------

_NUMPY_ARRAY_REBUILDER = np.empty(0).__reduce__()[0]  # numpy's own _reconstruct, whatever its module path


class _CifarUnpickler(pickle.Unpickler):
    """Reads CIFAR pickles, which hold only dicts, lists, strings and one numpy array.

    Any other global in the file is refused, so a tampered file cannot run code.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _NUMPY_ARRAY_REBUILDER,
        ("numpy._core.multiarray", "_reconstruct"): _NUMPY_ARRAY_REBUILDER,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR file")
        return self.ALLOWED[(module, name)]


def _corrupt(path: Path, name: str, why: str) -> CorruptDataError:
    return CorruptDataError(
        f"{path} is corrupt or truncated ({why}): delete it and re-download with "
        f"`{DOWNLOAD_HINT.format(name=name)}`."
    )


def _read_pickle(path: Path, name: str) -> dict:
    # encoding="latin1" turns the Python 2 strings of the official files into str keys.
    try:
        with open(path, "rb") as f:
            content = _CifarUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError) as err:
        raise _corrupt(path, name, f"{type(err).__name__}: {err}") from err
    if not isinstance(content, dict):
        raise _corrupt(path, name, "it does not hold a dictionary")
    return content


def _read_batch(path: Path, name: str, classes: dict[str, list[str]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Pixels (N, 3, 32, 32) uint8 and one int64 tensor per label key in `classes` (key -> class names)."""
    content = _read_pickle(path, name)
    data = content.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise _corrupt(path, name, "its 'data' entry is not a uint8 array of 3,072 values per image")
    labels = []
    for key, names in classes.items():
        values = content.get(key)
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(data):
            raise _corrupt(path, name, f"its '{key}' entry does not have one label per image")
        labels.append(_class_numbers(path, name, key, values, len(names)))
    # Each row is already channel-major (1,024 red, then green, then blue values), so a reshape
    # is the whole conversion; the copy makes the tensor writable and owned by torch.
    images = torch.from_numpy(data.copy()).reshape(-1, 3, 32, 32)
    return images, labels


def _class_numbers(path: Path, name: str, key: str, values: list, num_classes: int) -> torch.Tensor:
    """The labels of one batch file as int64, each a whole number from 0 to num_classes - 1.

    Anything else (a string, a float, a number past the class names) means the file is corrupt:
    converting it anyway would fail deep inside torch, or silently truncate 3.7 to 3.
    """
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < num_classes:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise _corrupt(path, name, f"its '{key}' entry holds {shown}, which is not a class number "
                                       f"from 0 to {num_classes - 1}")
    return torch.tensor(values, dtype=torch.int64)


def _read_names(path: Path, name: str, key: str) -> list[str]:
    names = _read_pickle(path, name).get(key)
    if not isinstance(names, list):
        raise _corrupt(path, name, f"it has no '{key}' list")
    return [str(n) for n in names]


def _locate(name: str, split: str, root, download: bool) -> Path:
    """The extracted folder, unpacking or downloading the archive when allowed."""
    if split not in SPLITS:
        raise ConfigError(f"Unknown split {split!r}: choose 'train' or 'test'.")
    files = cifar_files(name)
    root = _data_folder(root)
    folder = root / files.folder
    if not cifar_available(name, root):
        archive = root / files.archive
        if archive.is_file() and file_md5(archive) != files.archive_md5 and not download:
            raise CorruptDataError(
                f"{archive} does not match the official checksum (an interrupted download?): delete it "
                f"and run `{DOWNLOAD_HINT.format(name=name)}`."
            )
        if not download and not archive.is_file():
            missing = [f for f in files.md5 if not (folder / f).is_file()]
            what = "is not downloaded" if not folder.is_dir() else f"is incomplete (missing {', '.join(missing)})"
            raise DataUnavailableError(_missing_message(name, root, what))
        download_cifar(name, root)
    return folder


def _load_cifar(name: str, split: str, root, download: bool, names: dict[str, str]):
    """(images, one label tensor and one list of class names per label key, source sentence) of one split.

    `names` maps each label key of the batch files to the key of its class names in the meta file.
    """
    folder = _locate(name, split, root, download)
    files = cifar_files(name)
    classes = {key: _read_names(folder / files.meta_file, name, names_key) for key, names_key in names.items()}
    parts = [_read_batch(folder / file, name, classes) for file in files.files(split)]
    images = torch.cat([images for images, _ in parts]) if len(parts) > 1 else parts[0][0]
    labels = [torch.cat([part_labels[i] for _, part_labels in parts]) for i in range(len(names))]
    if (folder / STANDIN_MARKER).is_file():  # written by tl_lessons.standin: say so, and hash nothing
        source = (f"a full-size synthetic STAND-IN for {DISPLAY_NAMES[name]} in {_where(folder)} (synthetic100 images in "
                  f"{DISPLAY_NAMES[name]}'s layout and sizes, for measuring time and memory; not {DISPLAY_NAMES[name]})")
        return images, labels, list(classes.values()), source
    mismatched = mismatched_files(name, folder.parent)
    _warn_once(name, folder, mismatched)
    return images, labels, list(classes.values()), _source_sentence(name, split, folder, mismatched, len(images))


def load_cifar10(split: str = "train", root=None, download: bool = False) -> ImageSet:
    """CIFAR-10: 50,000 train / 10,000 test images of 10 classes: `test = load_cifar10("test")` after `make data`."""
    images, (labels,), (classes,), source = _load_cifar("cifar10", split, root, download, {"labels": "label_names"})
    return ImageSet(images, labels, classes, "cifar10", split, source, CIFAR10_MEAN, CIFAR10_STD)


def load_cifar100(split: str = "train", root=None, download: bool = False) -> ImageSet:
    """CIFAR-100: 100 fine classes grouped into 20 coarse superclasses (`coarse_labels`).

    train = load_cifar100("train"); train.coarse_classes[train.coarse_labels[0]]    # after `make data`
    """
    images, (labels, coarse), (classes, coarse_classes), source = _load_cifar(
        "cifar100", split, root, download,
        {"fine_labels": "fine_label_names", "coarse_labels": "coarse_label_names"},
    )
    return ImageSet(
        images, labels, classes, "cifar100", split, source, CIFAR100_MEAN, CIFAR100_STD,
        coarse_labels=coarse, coarse_classes=coarse_classes,
    )


def data_status(root=None) -> list[dict]:
    """One row per CIFAR dataset for `python -m tl_lessons data status`.

    >>> [(row["name"], row["state"]) for row in data_status(root="/nowhere")]
    [('cifar10', 'missing'), ('cifar100', 'missing')]
    """
    rows = []
    root = _data_folder(root)
    for name in ("cifar10", "cifar100"):
        files = cifar_files(name)
        available = cifar_available(name, root)
        mismatched = mismatched_files(name, root) if available else []
        if not available:
            state = "missing"
        elif mismatched:
            state = "rebuilt copy (checksums differ)"
        else:
            state = "official (checksums verified)"
        rows.append({
            "name": name,
            "folder": str(root / files.folder),
            "available": available,
            "state": state,
            "mismatched": mismatched,
            "archive_present": (root / files.archive).is_file(),
            "download_command": DOWNLOAD_HINT.format(name=name),
        })
    return rows


def load_dataset(name: str, split: str = "train", root=None, download: bool = False, seed: int = 0) -> ImageSet:
    """Any of the four datasets by name; `seed` only changes the synthetic ones.

    A dataset is read (or generated) once per program: asking again returns the same ImageSet, so
    that the many runs of a chapter's sweep do not each spend a second reading 50,000 images. Treat
    it as read-only (`take`, `task_split` and the other subsets make copies). A CIFAR file that
    changed on disk since is read again.

    >>> train = load_dataset("synthetic10", "train")
    """
    if name not in DATASETS:
        raise ConfigError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")
    if name.startswith("synthetic"):
        key = (name, split, seed)
    else:
        folder = _data_folder(root) / cifar_files(name).folder
        key = (name, split, str(folder), _files_state(folder))
    if key not in _LOADED:
        if name == "cifar10":
            _LOADED[key] = load_cifar10(split, root, download)
        elif name == "cifar100":
            _LOADED[key] = load_cifar100(split, root, download)
        else:
            _LOADED[key] = make_synthetic(int(name.removeprefix("synthetic")), split, seed=seed)
    return _LOADED[key]


_LOADED: dict = {}  # what load_dataset has read or generated in this program


def _files_state(folder: Path) -> tuple:
    """The size and modification time of every data file in a folder (not the kit's own checksum notes)."""
    if not folder.is_dir():
        return ()
    return tuple(sorted((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                        for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith(".")))


# ---------------------------------------------------------------------------------------
# Subsets: fewer labels, and a validation split
# ---------------------------------------------------------------------------------------


def _indices_by_class(ds: ImageSet, seed: int) -> list[torch.Tensor]:
    """For each class, its row indices in a random order fixed by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds), generator=generator)
    shuffled_labels = ds.labels[order]
    return [order[shuffled_labels == c] for c in range(ds.num_classes)]


def _split_per_class(ds: ImageSet, counts: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of (the first counts[c] shuffled rows of each class c, all other rows), sorted."""
    chosen, rest = [], []
    for indices, n in zip(_indices_by_class(ds, seed), counts):
        chosen.append(indices[:n])
        rest.append(indices[n:])
    # Sorting keeps the subset in dataset order, so classes stay interleaved as in the original.
    return torch.cat(chosen).sort().values, torch.cat(rest).sort().values


def per_class_problem(per_class, most: int | None = None) -> str | None:
    """Why `per_class` labelled images of every class cannot be had (None when they can).

    The one check of an images-per-class request: the subsets below, the transfer setups, the
    dashboard. `most`: the most images a class can give here, the caller's limit: its smallest
    class, less any images the caller keeps aside to validate on (None: not checked).

    >>> per_class_problem(50, most=11)
    'No class here can give more than 11 images: ask for at most 11 per class.'
    """
    if not (is_whole_number(per_class) and per_class >= 1):
        return "Use a whole number of images per class, at least 1."
    if most is not None and per_class > most:
        return f"No class here can give more than {most:,} images: ask for at most {most:,} per class."
    return None


def fraction_problem(fraction) -> str | None:
    """Why `fraction` of each class's labels cannot be kept (None when it can).

    >>> fraction_problem(1.5)
    'The label fraction must be above 0 and at most 1 (0.1 keeps 10 % of the labels).'
    """
    if is_number(fraction) and 0 < fraction <= 1:
        return None
    return "The label fraction must be above 0 and at most 1 (0.1 keeps 10 % of the labels)."


def _check(problem: str | None) -> None:
    """Raise the sentence of a check as a ConfigError (nothing when there is none)."""
    if problem is not None:
        raise ConfigError(problem)


def _smallest_class(ds: ImageSet) -> tuple[int, str]:
    counts = ds.class_counts()
    smallest = min(range(len(counts)), key=counts.__getitem__)
    return counts[smallest], ds.classes[smallest]


def per_class_subset(ds: ImageSet, n_per_class: int, seed: int = 0) -> ImageSet:
    """`n_per_class` random images of every class, the same ones for the same seed.

    >>> per_class_subset(load_dataset("synthetic10"), 10).class_counts()    # 10 labelled images per class
    [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    """
    _check(per_class_problem(n_per_class, most=_smallest_class(ds)[0]))
    return ds.take(_split_per_class(ds, [n_per_class] * ds.num_classes, seed)[0])


def at_most_per_class(ds: ImageSet, n_per_class: int | None, seed: int = 0) -> ImageSet:
    """Up to `n_per_class` random images of every class (every image of a class that has fewer); None: all.

    The same images for the same seed, so every run scored on it sees the same ones. Chapter 04 tests
    its many runs on such a part of the test split: the official files' 100 images per class cost a
    few seconds per run, a copy with fewer gives every image it has.

    >>> len(at_most_per_class(load_dataset("synthetic100", "test"), 5))     # 5 of each class's 20
    500
    """
    if n_per_class is None:
        return ds
    _check(per_class_problem(n_per_class))  # no upper limit: a smaller class gives every image it has
    counts = [min(n_per_class, count) for count in ds.class_counts()]
    if counts == ds.class_counts():
        return ds
    return ds.take(_split_per_class(ds, counts, seed)[0])


def label_fraction(ds: ImageSet, fraction: float, seed: int = 0) -> ImageSet:
    """Keep `fraction` of each class's images (at least one each), chosen by `seed`.

    >>> len(label_fraction(load_dataset("synthetic10", "train"), 0.1))     # a tenth of 5,000
    500
    """
    _check(fraction_problem(fraction))
    counts = [max(1, round(fraction * count)) for count in ds.class_counts()]
    return ds.take(_split_per_class(ds, counts, seed)[0])


# The kit's few-shot transfer task: both the official CIFAR-100 (500 training images per class) and
# the partial development copy (5 to 22) can give every class this many labelled training images.
FEW_SHOT = 5
# Validation images per class, held out from the other training images (fewer where a class has no more).
VAL_PER_CLASS = 5
# The draw of a task's images is part of the task: fixed, whatever seed a training run uses.
TASK_SEED = 0


def task_split(ds: ImageSet, per_class: int | None = FEW_SHOT, fraction: float | None = None,
               val_per_class: int = VAL_PER_CLASS, seed: int = TASK_SEED) -> tuple[ImageSet, ImageSet | None]:
    """The labelled images of a task drawn from the training split `ds`: (training images, validation images).

    Each class's images are put in an order fixed by `seed`. The training images are the first
    `per_class` of them (or `fraction` of the class's images not held out; with neither, all of them);
    the validation images are the last `val_per_class` of the images left over. So the validation
    images never overlap the training ones, they come from the training split (the test split is kept
    for the final, reported number), and on a copy with enough images per class they are the same
    images whatever the training budget. A class with too few images gives fewer validation images
    (the partial development copy of CIFAR-100 has classes of 5). Returns (train, None) when
    `val_per_class` is 0.

    >>> [len(images) for images in task_split(load_dataset("synthetic100", "train"))]   # 5 per class, 5 to validate
    [500, 500]
    """
    smallest, _ = _smallest_class(ds)
    if per_class is not None:
        _check(per_class_problem(per_class, most=smallest))
    if fraction is not None:
        _check(fraction_problem(fraction))
    train_rows, val_rows = [], []
    for indices in _indices_by_class(ds, seed):
        held = min(val_per_class, len(indices) - 1)  # every class keeps an image to train on
        if per_class is not None:
            count = per_class
        elif fraction is not None:
            count = max(1, round(fraction * (len(indices) - held)))
        else:
            count = len(indices) - held
        train_rows.append(indices[:count])
        val_rows.append(indices[max(count, len(indices) - held):])
    train = ds.take(torch.cat(train_rows).sort().values)
    if val_per_class == 0:
        return train, None
    val_rows = torch.cat(val_rows).sort().values
    if len(val_rows) == 0:
        # Every class gave all its images to training: one of each would have to stay aside.
        raise ConfigError(f"No training image of {DISPLAY_NAMES.get(ds.name, ds.name)} is left to validate on. "
                          + per_class_problem(smallest, most=smallest - 1))
    return train, ds.take(val_rows, split="val")


def split_validation(ds: ImageSet, val_fraction: float = 0.1, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Hold out `val_fraction` of each class as a validation set: `train, val = split_validation(ds)`.

    The two parts never share an image, and every class keeps at least one image on each side.
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"The validation fraction must be between 0 and 1 (e.g. 0.1), not {val_fraction}.")
    smallest, smallest_name = _smallest_class(ds)
    if smallest < 2:
        raise ConfigError(
            f"Class '{smallest_name}' has {smallest} image(s): a validation split needs at least 2 per class."
        )
    counts = [min(count - 1, max(1, round(val_fraction * count))) for count in ds.class_counts()]
    val_rows, train_rows = _split_per_class(ds, counts, seed)
    return ds.take(train_rows), ds.take(val_rows, split="val")
