"""tl_lessons.data: reading CIFAR, checksums, errors a learner can meet, subsets."""
import hashlib
import json
import os
import pickle
import tarfile
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest
import torch

from cifar_fixture import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_COARSE_CLASSES,
    py2_pickle,
    write_cifar10,
    write_cifar100,
)
from local_servers import http_server
from tl_lessons import data, downloads
from tl_lessons.data import (
    ChecksumMismatchWarning,
    data_dir,
    label_fraction,
    load_cifar10,
    load_cifar100,
    load_dataset,
    per_class_subset,
    split_validation,
)
from tl_lessons.errors import ConfigError, CorruptDataError, DataUnavailableError
from tl_lessons.imageset import ImageSet

DOWNLOAD_COMMAND = "python -m tl_lessons data download cifar10"


def load_quietly(loader, *args, **kwargs):
    """Load a fixture folder, whose checksums are (rightly) not the official ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChecksumMismatchWarning)
        return loader(*args, **kwargs)


@pytest.fixture()
def cifar_root(tmp_path):
    return tmp_path, write_cifar10(tmp_path), write_cifar100(tmp_path)


@pytest.fixture()
def fixture_is_official(monkeypatch):
    """Pretend the fixture files are the official ones by making their own md5s the reference."""
    real_cifar_files = data.cifar_files

    def cifar_files_with_fixture_md5s(name):
        files = real_cifar_files(name)
        folder = data_dir() / files.folder
        md5 = {file: hashlib.md5((folder / file).read_bytes()).hexdigest() for file in files.md5}
        return data.CifarFiles(**{**files.__dict__, "md5": md5})

    monkeypatch.setattr(data, "cifar_files", cifar_files_with_fixture_md5s)


# --- reading ------------------------------------------------------------------------------


def test_cifar10_reads_pixels_labels_and_class_names(cifar_root):
    root, written, _ = cifar_root
    train = load_quietly(load_cifar10, "train", root)
    test = load_quietly(load_cifar10, "test", root)

    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.images.is_contiguous()
    assert train.labels.dtype == torch.int64 and train.labels.tolist() == written["train_labels"]
    # Channel-major rows: the first 1,024 values are the red plane, row by row.
    assert np.array_equal(train.images.reshape(100, -1).numpy(), written["train_images"])
    assert train.images[7, 0, 0, 5].item() == written["train_images"][7, 5]
    assert train.images[7, 2, 1, 0].item() == written["train_images"][7, 2048 + 32]
    assert train.classes == CIFAR10_CLASSES
    assert (train.name, train.split, train.num_classes, train.synthetic) == ("cifar10", "train", 10, False)
    assert train.coarse_labels is None
    assert len(test) == 30 and test.labels.tolist() == written["test_labels"]
    assert np.array_equal(test.images.reshape(30, -1).numpy(), written["test_images"])
    assert train.mean == data.CIFAR10_MEAN and train.std == data.CIFAR10_STD


def test_cifar100_reads_fine_and_coarse_labels(cifar_root):
    root, _, written = cifar_root
    train = load_quietly(load_cifar100, "train", root)

    assert train.images.shape == (200, 3, 32, 32) and train.images.dtype == torch.uint8
    assert np.array_equal(train.images.reshape(200, -1).numpy(), written["train_images"])
    assert train.labels.tolist() == written["train_labels"]
    assert train.coarse_labels.dtype == torch.int64
    assert train.coarse_labels.tolist() == written["train_coarse_labels"]
    assert train.classes == CIFAR100_CLASSES and train.coarse_classes == CIFAR100_COARSE_CLASSES
    assert train.num_classes == 100 and train.mean == data.CIFAR100_MEAN
    assert "holding 200 of the 50,000 official train images" in train.source
    assert len(load_quietly(load_cifar100, "test", root)) == 100


def test_fixture_is_in_the_official_format_torchvision_reads(cifar_root, monkeypatch):
    root, written, _ = cifar_root
    for file in ("data_batch_1", "batches.meta"):
        raw = (written["folder"] / file).read_bytes()
        assert isinstance(next(iter(pickle.loads(raw, encoding="latin1"))), str)
        assert isinstance(next(iter(pickle.loads(raw, encoding="bytes"))), bytes)
    import torchvision.datasets.cifar

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    reference = torchvision.datasets.CIFAR10(str(root), train=True, download=False)
    ours = load_quietly(load_cifar10, "train", root)
    assert reference.classes == ours.classes and reference.targets == ours.labels.tolist()
    assert np.array_equal(reference.data, ours.images.permute(0, 2, 3, 1).numpy())


def test_describe_says_what_was_read(cifar_root):
    root, _, _ = cifar_root
    train = load_quietly(load_cifar100, "train", root)
    assert train.describe().startswith("CIFAR-100 train: 200 images, 100 classes (2 per class); source: ")
    assert train.take([3, 1]).coarse_labels.tolist() == [3, 1]  # the superclasses travel with the rows


def test_load_dataset_by_name(cifar_root):
    root, _, _ = cifar_root
    assert load_quietly(load_dataset, "cifar10", "test", root).name == "cifar10"
    assert load_quietly(load_dataset, "cifar100", "test", root).coarse_labels is not None
    with pytest.raises(ConfigError, match="cifar10"):
        load_dataset("imagenet")
    with pytest.raises(ConfigError, match="'train' or 'test'"):
        load_dataset("cifar10", "validation", root)


def test_data_dir_prefers_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_LESSONS_DATA", str(tmp_path / "env"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("TL_LESSONS_DATA")
    assert data_dir() == data.REPO_ROOT / "data"


# --- checksums ----------------------------------------------------------------------------


def test_checksum_mismatch_warns_once_per_folder_naming_the_files(cifar_root):
    root, _, _ = cifar_root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_cifar10("train", root)
        load_cifar10("train", root)
        load_cifar10("test", root)
    mismatch = [w for w in caught if issubclass(w.category, ChecksumMismatchWarning)]
    assert len(mismatch) == 1
    assert issubclass(ChecksumMismatchWarning, UserWarning)
    message = str(mismatch[0].message)
    for file in ("data_batch_1", "data_batch_5", "test_batch", "batches.meta"):
        assert file in message
    assert DOWNLOAD_COMMAND in message
    assert "rebuilt copy" in train.source and "pixels may differ" in train.source
    assert str(root) not in train.source and "the data folder's cifar-10-batches-py" in train.source  # no machine path


def test_official_files_load_silently_and_say_so(cifar_root, fixture_is_official, monkeypatch):
    root, _, _ = cifar_root
    monkeypatch.setenv("TL_LESSONS_DATA", str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = load_cifar10("train")
    assert "official" in train.source and "rebuilt" not in train.source
    assert data.data_status()[0]["state"].startswith("official")


def test_md5_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "file"
    path.write_bytes(b"abc")
    expected = hashlib.md5(b"abc").hexdigest()
    assert data.file_md5(path) == expected

    def no_hashing(*args):
        raise AssertionError("hashed again")

    monkeypatch.setattr(data.hashlib, "md5", no_hashing)
    assert data.file_md5(path) == expected
    monkeypatch.setattr(data, "_MD5_CACHE", {})  # as in a new process: the digest stored beside the file is used
    assert data.file_md5(path) == expected
    path.write_bytes(b"abcd")  # new size: the cached digest no longer applies
    with pytest.raises(AssertionError, match="hashed again"):
        data.file_md5(path)


# --- corrupt files ------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_content"])
def test_corrupt_file_raises_corrupt_data_error_naming_it(cifar_root, damage):
    root, written, _ = cifar_root
    path = written["folder"] / "data_batch_3"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"<html>not found</html>")
    else:
        path.write_bytes(pickle.dumps({"data": np.zeros((4, 10), np.uint8), "labels": [0] * 4}))
    with pytest.raises(CorruptDataError) as error:
        load_quietly(load_cifar10, "train", root)
    message = str(error.value)
    assert str(path) in message and "delete it" in message and DOWNLOAD_COMMAND in message
    assert "Traceback" not in message


def test_pickle_that_would_run_code_is_refused(cifar_root):
    root, written, _ = cifar_root

    class RunsCode:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = written["folder"] / "test_batch"
    path.write_bytes(pickle.dumps({"data": RunsCode()}, protocol=2))
    with pytest.raises(CorruptDataError, match="print in a CIFAR file"):
        load_quietly(load_cifar10, "test", root)


# --- labels -------------------------------------------------------------------------------


def rewrite(path, **changes):
    """Rewrite a CIFAR batch file with some entries changed, in the official format."""
    with open(path, "rb") as file:
        content = pickle.load(file, encoding="latin1")
    path.write_bytes(py2_pickle({**content, **changes}))


BAD_LABELS = [(10, "10"), (-1, "-1"), ("cat", "'cat'"), (2**70, str(2**70)), (3.0, "3.0"), (3.7, "3.7")]


@pytest.mark.parametrize("bad, shown", BAD_LABELS, ids=["too_large", "negative", "string", "huge", "float", "fraction"])
def test_a_label_that_is_not_a_class_number_names_its_batch_file(cifar_root, bad, shown):
    root, written, _ = cifar_root
    path = written["folder"] / "data_batch_2"
    rewrite(path, labels=written["train_labels"][20:39] + [bad])
    with pytest.raises(CorruptDataError) as error:
        load_quietly(load_cifar10, "train", root)
    message = str(error.value)
    assert str(path) in message and "batches.meta" not in message.split("(")[0]
    assert f"holds {shown}" in message and "from 0 to 9" in message
    assert "delete it" in message and DOWNLOAD_COMMAND in message


def test_a_coarse_label_out_of_range_names_its_file(cifar_root):
    root, _, written = cifar_root
    path = written["folder"] / "test"
    rewrite(path, coarse_labels=written["test_coarse_labels"][:-1] + [20])
    with pytest.raises(CorruptDataError, match=r"test is corrupt.*'coarse_labels' entry holds 20.*from 0 to 19"):
        load_quietly(load_cifar100, "test", root)


# --- the md5 side cache -------------------------------------------------------------------


@pytest.fixture()
def official_md5s(cifar_root, monkeypatch):
    """Make the fixture files, as written now, the official ones (their md5s are the reference)."""
    root, written, _ = cifar_root
    real = data.cifar_files("cifar10")
    md5 = {file: hashlib.md5((written["folder"] / file).read_bytes()).hexdigest() for file in real.md5}
    files = data.CifarFiles(**{**real.__dict__, "md5": md5})
    monkeypatch.setattr(data, "cifar_files", lambda name: files if name == "cifar10" else real)
    monkeypatch.setattr(data, "_MD5_CACHE", {})
    assert data.data_status(root)[0]["state"] == "official (checksums verified)"
    return written["folder"], md5


def replace_keeping_size_and_time(path):
    """Random bytes in place of `path`, same size and modification time (as `cp -p` or tar would leave)."""
    stat = path.stat()
    replacement = path.with_name("replacement")
    replacement.write_bytes(np.random.default_rng(1).bytes(stat.st_size))
    os.replace(replacement, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_file_replaced_behind_the_cache_is_hashed_again(official_md5s, monkeypatch):
    folder, _ = official_md5s
    replace_keeping_size_and_time(folder / "data_batch_1")
    monkeypatch.setattr(data, "_MD5_CACHE", {})  # a new process
    row = data.data_status(folder.parent)[0]
    assert row["state"] == "rebuilt copy (checksums differ)" and row["mismatched"] == ["data_batch_1"]


def test_a_forged_cache_does_not_verify_random_bytes(official_md5s, monkeypatch):
    folder, md5 = official_md5s
    replace_keeping_size_and_time(folder / "data_batch_1")
    forged = {name: [(folder / name).stat().st_size, (folder / name).stat().st_mtime_ns, digest]
              for name, digest in md5.items()}  # size and time of the files now, the official digests
    (folder / data.MD5_CACHE_FILE).write_text(json.dumps(forged))
    monkeypatch.setattr(data, "_MD5_CACHE", {})
    assert data.data_status(folder.parent)[0]["mismatched"] == ["data_batch_1"]


@pytest.mark.parametrize("cache", ["[1, 2, 3]", '{"data_batch_1": "abc"}', '{"data_batch_1": [1, 2]}', "not json"])
def test_a_cache_of_the_wrong_shape_is_ignored(official_md5s, monkeypatch, cache):
    folder, _ = official_md5s
    (folder / data.MD5_CACHE_FILE).write_text(cache)
    monkeypatch.setattr(data, "_MD5_CACHE", {})
    assert data.data_status(folder.parent)[0]["state"] == "official (checksums verified)"


def test_a_data_folder_that_is_a_file_is_named_as_such(tmp_path):
    not_a_folder = tmp_path / "cifar"
    not_a_folder.write_text("a file")
    for attempt in (lambda: load_cifar10("train", not_a_folder), lambda: data.data_status(not_a_folder),
                    lambda: data.download_cifar("cifar10", not_a_folder)):
        with pytest.raises(DataUnavailableError, match="is a file, not a folder.*TL_LESSONS_DATA"):
            attempt()
    assert not_a_folder.read_text() == "a file"


# --- missing data and offline -------------------------------------------------------------


def test_missing_data_without_download_says_what_to_do(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_cifar10("train", tmp_path, download=False)
    message = str(error.value)
    assert DOWNLOAD_COMMAND in message and "make data" in message and "TL_LESSONS_DATA" in message
    assert "cifar-10-python.tar.gz" in message and str(tmp_path) in message


def test_incomplete_folder_names_the_missing_file(cifar_root):
    root, written, _ = cifar_root
    (written["folder"] / "data_batch_2").unlink()
    with pytest.raises(DataUnavailableError, match="data_batch_2"):
        load_cifar10("train", root)
    assert not data.cifar_available("cifar10", root)


def test_usable_datasets_are_the_synthetic_ones_and_cifar_where_it_is_on_disk(cifar_root):
    root, written, _ = cifar_root
    assert data.usable_datasets(root=root / "empty") == ["synthetic10", "synthetic100"]
    assert data.usable_datasets(("cifar10", "synthetic10"), root)[0] == "cifar10"
    (written["folder"] / "data_batch_2").unlink()  # an incomplete CIFAR-10 is not usable
    assert data.usable_datasets(("cifar10", "synthetic10"), root) == ["synthetic10"]


@pytest.mark.parametrize("failure", [urllib.error.URLError("no route to host"), OSError("network is unreachable")])
def test_offline_download_raises_data_unavailable(tmp_path, monkeypatch, failure):
    def offline(*args, **kwargs):
        raise failure

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(downloads, "PAUSE_S", 0.0)
    with pytest.raises(DataUnavailableError) as error:
        load_cifar100("train", tmp_path, download=True)
    message = str(error.value)
    assert "python -m tl_lessons data download cifar100" in message and "TL_LESSONS_DATA" in message
    assert f"({failure.reason if hasattr(failure, 'reason') else failure}; tried 3 times)" in message
    assert error.value.__cause__.__cause__ is failure


def make_archive(tmp_path, monkeypatch):
    """A cifar-10-python.tar.gz of a fixture folder, accepted as official by its md5."""
    written = write_cifar10(tmp_path / "made")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(written["folder"], arcname="cifar-10-batches-py")
    archive_md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    real_cifar_files = data.cifar_files
    monkeypatch.setattr(data, "cifar_files", lambda name: data.CifarFiles(
        **{**real_cifar_files(name).__dict__, "archive_md5": archive_md5}))
    return archive, written


def no_network(monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("the network must not be used")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


def test_archive_put_in_by_hand_is_unpacked_without_network(tmp_path, monkeypatch):
    archive, written = make_archive(tmp_path, monkeypatch)
    root = tmp_path / "data"
    root.mkdir()
    archive.rename(root / archive.name)
    no_network(monkeypatch)
    train = load_quietly(load_cifar10, "train", root, download=False)
    assert train.labels.tolist() == written["train_labels"]
    assert data.data_status(root)[0]["archive_present"]


def test_download_fetches_the_archive_and_unpacks_it(tmp_path, monkeypatch):
    archive, written = make_archive(tmp_path, monkeypatch)
    official = data.cifar_files("cifar10")
    assert official.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    with http_server({"/~kriz/cifar-10-python.tar.gz": (200, archive.read_bytes())}) as server:
        monkeypatch.setattr(data, "cifar_files", lambda name: data.CifarFiles(
            **{**official.__dict__, "url": f"{server.url}/~kriz/cifar-10-python.tar.gz"}))
        folder = data.download_cifar("cifar10", tmp_path / "data")
        assert server.requests == ["/~kriz/cifar-10-python.tar.gz"]
    assert folder == tmp_path / "data" / "cifar-10-batches-py" and (folder / "test_batch").is_file()
    assert load_quietly(load_cifar10, "test", tmp_path / "data").labels.tolist() == written["test_labels"]


def test_damaged_archive_is_named_with_the_fix(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"half a download")
    no_network(monkeypatch)
    with pytest.raises(CorruptDataError) as error:
        load_cifar10("train", tmp_path, download=False)
    assert "cifar-10-python.tar.gz" in str(error.value) and DOWNLOAD_COMMAND in str(error.value)


def test_data_status_reports_each_dataset(cifar_root, tmp_path):
    root, _, _ = cifar_root
    rows = {row["name"]: row for row in data.data_status(root)}
    assert rows["cifar10"]["available"] and rows["cifar10"]["state"].startswith("rebuilt")
    assert "test_batch" in rows["cifar10"]["mismatched"]
    empty = {row["name"]: row for row in data.data_status(tmp_path / "nothing")}
    assert not empty["cifar100"]["available"] and empty["cifar100"]["state"] == "missing"


# --- subsets ------------------------------------------------------------------------------


def numbered_set(counts):
    """An ImageSet whose image i has every pixel equal to i % 256 and index i in its first 2 pixels."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    images = torch.zeros(len(labels), 3, 32, 32, dtype=torch.uint8)
    index = torch.arange(len(labels))
    images[:, 0, 0, 0], images[:, 0, 0, 1] = index // 256, index % 256
    return ImageSet(images, labels, [f"class {c}" for c in range(len(counts))], "synthetic10", "train",
                    "test set", (0.5,) * 3, (0.25,) * 3)


def image_ids(ds):
    return (ds.images[:, 0, 0, 0].long() * 256 + ds.images[:, 0, 0, 1].long()).tolist()


def test_per_class_subset_is_stratified_and_deterministic():
    ds = numbered_set([30, 40, 25])
    few = per_class_subset(ds, 10, seed=3)
    assert few.class_counts() == [10, 10, 10]
    assert image_ids(few) == image_ids(per_class_subset(ds, 10, seed=3))
    assert image_ids(few) != image_ids(per_class_subset(ds, 10, seed=4))
    ids = image_ids(few)
    assert ids == sorted(ids) and len(set(ids)) == 30  # dataset order, no repeats
    assert [ds.labels[i].item() for i in ids] == few.labels.tolist()


@pytest.mark.parametrize("per_class, most, says", [
    (5, None, None), (5, 5, None), (6, 5, "ask for at most 5 per class"), (0, None, "at least 1"),
    (2.0, None, "whole number"), (True, None, "whole number"), ("5", 10, "whole number")])
def test_one_check_says_why_images_per_class_cannot_be_had(per_class, most, says):
    problem = data.per_class_problem(per_class, most)
    assert problem is None if says is None else says in problem


@pytest.mark.parametrize("fraction, fine", [(0.1, True), (1, True), (0, False), (1.5, False), ("0.1", False),
                                            (float("nan"), False)])
def test_one_check_says_why_a_label_fraction_cannot_be_kept(fraction, fine):
    assert (data.fraction_problem(fraction) is None) is fine


def test_every_subset_asks_the_same_checks():
    ds = numbered_set([30, 40, 25])
    for subset in (lambda n: per_class_subset(ds, n), lambda n: data.task_split(ds, per_class=n)):
        with pytest.raises(ConfigError) as error:
            subset(26)
        assert str(error.value) == data.per_class_problem(26, most=25)
    with pytest.raises(ConfigError) as error:
        data.at_most_per_class(ds, 0)
    assert str(error.value) == data.per_class_problem(0)
    with pytest.raises(ConfigError) as error:
        label_fraction(ds, "half")
    assert str(error.value) == data.fraction_problem("half")


def test_per_class_subset_asks_for_at_most_the_smallest_class():
    ds = numbered_set([30, 40, 25])
    with pytest.raises(ConfigError, match="at most 25 per class"):
        per_class_subset(ds, 26)
    with pytest.raises(ConfigError, match="at least 1"):
        per_class_subset(ds, 0)


def test_at_most_per_class_caps_each_class_and_keeps_small_ones_whole():
    ds = numbered_set([30, 40, 8])
    part = data.at_most_per_class(ds, 10, seed=1)
    assert part.class_counts() == [10, 10, 8]
    assert image_ids(part) == image_ids(data.at_most_per_class(ds, 10, seed=1))   # the same for every run
    assert set(image_ids(part)) >= {i for i in range(len(ds)) if ds.labels[i].item() == 2}
    assert data.at_most_per_class(ds, 40) is ds and data.at_most_per_class(ds, None) is ds
    with pytest.raises(ConfigError, match="at least 1"):
        data.at_most_per_class(ds, 0)


def test_label_fraction_keeps_each_class_share():
    ds = numbered_set([30, 40, 20])
    tenth = label_fraction(ds, 0.1, seed=0)
    assert tenth.class_counts() == [3, 4, 2]
    assert image_ids(tenth) == image_ids(label_fraction(ds, 0.1, seed=0))
    assert label_fraction(ds, 0.01).class_counts() == [1, 1, 1]  # never an empty class
    assert len(label_fraction(ds, 1.0)) == 90
    with pytest.raises(ConfigError):
        label_fraction(ds, 0)


def test_split_validation_is_disjoint_stratified_and_deterministic():
    ds = numbered_set([30, 40, 20])
    train, val = split_validation(ds, 0.25, seed=5)
    assert val.split == "val" and train.split == "train"
    assert val.class_counts() == [8, 10, 5] and train.class_counts() == [22, 30, 15]
    assert not set(image_ids(train)) & set(image_ids(val))
    assert sorted(image_ids(train) + image_ids(val)) == list(range(90))
    again_train, again_val = split_validation(ds, 0.25, seed=5)
    assert image_ids(again_val) == image_ids(val) and image_ids(again_train) == image_ids(train)
    assert image_ids(split_validation(ds, 0.25, seed=6)[1]) != image_ids(val)
    with pytest.raises(ConfigError, match="at least 2 per class"):
        split_validation(numbered_set([5, 1]), 0.2)
    with pytest.raises(ConfigError):
        split_validation(ds, 1.0)


# --- the real CIFAR-10 --------------------------------------------------------------------


@pytest.mark.real_data
def test_real_cifar10_has_50000_plus_10000_balanced_images(real_cifar_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChecksumMismatchWarning)  # the shared copy is a rebuilt one
        train = load_cifar10("train", real_cifar_root)
        test = load_cifar10("test", real_cifar_root)
    assert train.images.shape == (50_000, 3, 32, 32) and test.images.shape == (10_000, 3, 32, 32)
    assert train.class_counts() == [5_000] * 10 and test.class_counts() == [1_000] * 10
    assert train.classes == CIFAR10_CLASSES
    # The stored mean matches the pixels (a JPEG-rebuilt copy is within a few thousandths).
    measured = train.images[:10_000].float().div(255).mean(dim=(0, 2, 3))
    assert torch.allclose(measured, torch.tensor(train.mean), atol=0.01)


# ---------------------------------------------------------------------------------------
# The few-shot task: training images, and validation images from the rest of the training split
# ---------------------------------------------------------------------------------------


def _task_set(counts):
    """An ImageSet whose class c has counts[c] images (pixel value = row number, to follow rows)."""
    from tl_lessons.imageset import ImageSet

    labels = torch.tensor([c for c, n in enumerate(counts) for _ in range(n)])
    images = torch.arange(len(labels), dtype=torch.int64).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).to(torch.uint8)
    return ImageSet(images.contiguous(), labels, [f"c{c}" for c in range(len(counts))], "cifar100", "train",
                    "test rows", (0.5,) * 3, (0.25,) * 3)


def _rows(ds):
    return set(ds.images[:, 0, 0, 0].tolist())


def test_task_split_gives_the_budget_and_disjoint_validation_images():
    ds = _task_set([20, 20, 20])
    train, val = data.task_split(ds, per_class=5, val_per_class=5)
    assert train.class_counts() == [5, 5, 5] and val.class_counts() == [5, 5, 5]
    assert not _rows(train) & _rows(val) and val.split == "val" and train.split == "train"


def test_the_validation_images_do_not_depend_on_the_training_budget():
    ds = _task_set([30, 30])
    vals = [_rows(data.task_split(ds, per_class=n, val_per_class=5)[1]) for n in (1, 5, 25)]
    assert vals[0] == vals[1] == vals[2]
    # ... and a larger budget keeps the smaller one's images: the same draw, more of it
    assert _rows(data.task_split(ds, per_class=1)[0]) < _rows(data.task_split(ds, per_class=5)[0])


def test_a_small_class_gives_fewer_validation_images_and_never_shares_one():
    ds = _task_set([5, 7, 30])     # like the partial copy's smallest classes
    train, val = data.task_split(ds, per_class=5, val_per_class=5)
    assert train.class_counts() == [5, 5, 5] and val.class_counts() == [0, 2, 5]
    assert not _rows(train) & _rows(val)


def test_every_image_but_the_validation_ones_and_fractions():
    ds = _task_set([12, 30])
    train, val = data.task_split(ds, per_class=None, val_per_class=5)
    assert train.class_counts() == [7, 25] and val.class_counts() == [5, 5]
    train, _ = data.task_split(ds, per_class=None, fraction=0.2, val_per_class=5)
    assert train.class_counts() == [1, 5]


def test_the_task_draw_is_fixed_and_checked():
    ds = _task_set([10, 10])
    assert _rows(data.task_split(ds)[0]) == _rows(data.task_split(ds)[0])
    assert data.task_split(ds, val_per_class=0)[1] is None
    with pytest.raises(ConfigError, match="at most 10 per class"):
        data.task_split(ds, per_class=11)
    with pytest.raises(ConfigError, match="No training image .* is left to validate on"):
        data.task_split(ds, per_class=10)


def test_a_dataset_is_read_once_and_again_when_its_file_changes(tmp_path):
    content = write_cifar10(tmp_path)
    first = data.load_dataset("cifar10", "test", root=tmp_path)
    assert data.load_dataset("cifar10", "test", root=tmp_path) is first     # no second read
    write_cifar10(tmp_path, n_test=40, seed=1)                               # the file changed on disk
    again = data.load_dataset("cifar10", "test", root=tmp_path)
    assert again is not first and len(again) == 40 and len(first) == len(content["test_labels"])


def test_the_chapters_say_a_rebuilt_copy_once_not_in_every_cell():
    import warnings

    from tl_lessons import data as data_module

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data_module.say_copy_once()
        warnings.warn("a rebuilt copy", data_module.ChecksumMismatchWarning)
        warnings.warn("something else", UserWarning)
    assert [str(w.message) for w in caught] == ["something else"]
