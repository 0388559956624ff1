"""Checkpoints: a round trip keeps predictions and metadata; every bad file is refused clearly and harmlessly."""

import hashlib
import json
import os
import stat

import numpy as np
import pytest
import torch

from disk_faults import read_only, small_disk
from tl_lessons import checkpoints
from tl_lessons.checkpoints import load_checkpoint, load_source_model, save_checkpoint
from tl_lessons.errors import CheckpointError
from tl_lessons.models import TutorialNet

CLASSES = [f"class {i}" for i in range(10)]


def tutorial_net(seed=0, num_classes=10):
    torch.manual_seed(seed)
    return TutorialNet(num_classes)


def save(path, model, **overrides):
    options = dict(arch="tutorialnet", classes=CLASSES, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                   dataset="synthetic10", source="trained in a test", preset="tutorial",
                   metrics={"val_acc": 0.75})
    options.update(overrides)
    return save_checkpoint(path, model, **options)


def snapshot(folder):
    """Every file under `folder` with its content hash: loading must change none of them."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_round_trip_keeps_predictions_and_metadata(tmp_path):
    model = tutorial_net().eval()
    path = save(tmp_path / "sub" / "net.pt", model, metrics={"val_acc": torch.tensor(0.75), "per_class": np.arange(3)})
    loaded, meta = load_checkpoint(path, arch="tutorialnet", num_classes=10)
    images = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
    assert not loaded.training
    assert meta["format"] == "tl-lessons-checkpoint" and meta["version"] == 1
    assert meta["arch"] == "tutorialnet" and meta["num_classes"] == 10 and meta["classes"] == CLASSES
    assert tuple(meta["mean"]) == (0.5, 0.5, 0.5) and tuple(meta["std"]) == (0.25, 0.25, 0.25)
    assert meta["dataset"] == "synthetic10" and meta["source"] == "trained in a test" and meta["preset"] == "tutorial"
    assert meta["metrics"] == {"val_acc": 0.75, "per_class": [0, 1, 2]}
    assert meta["versions"]["torch"] == torch.__version__ and "created" in meta
    assert "state_dict" not in meta


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = save(tmp_path / "net.pt", tutorial_net(seed=0))
    before = snapshot(tmp_path)

    def disk_full(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save(path, tutorial_net(seed=1))
    assert snapshot(tmp_path) == before  # old file intact, no temporary file left behind


def test_save_refuses_classes_that_do_not_match_the_head(tmp_path):
    with pytest.raises(CheckpointError, match="10 outputs but 3 class names"):
        save(tmp_path / "net.pt", tutorial_net(), classes=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


class WritesAFile:
    """Unpickling this would call open(marker, "w"): proof of code running during a load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def write_bad_file(kind, folder):
    """Create one kind of file that load_checkpoint must refuse; returns its path."""
    path = folder / f"{kind}.pt"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "json":
        path.write_text(json.dumps({"arch": "tutorialnet", "state_dict": {}}))
    elif kind == "bare_state_dict":
        torch.save(tutorial_net().state_dict(), path)
    elif kind == "whole_model":
        torch.save(tutorial_net(), path)
    elif kind == "code":
        torch.save({"format": "tl-lessons-checkpoint", "payload": WritesAFile(folder / "pwned")}, path)
    elif kind == "directory":
        path.mkdir()
    elif kind in ("wrong_arch", "wrong_classes"):
        save(path, tutorial_net())
    elif kind == "not_numbers":
        # What a run that diverged leaves in its weights.
        model = tutorial_net()
        with torch.no_grad():
            model.conv1.conv.weight[0, 0, 0, 0] = float("nan")
            model.head.fc.bias[:] = float("inf")
        save(path, model)
    return path


BAD_FILES = [
    ("missing", {}, "no checkpoint file"),
    ("directory", {}, "no checkpoint file"),
    ("random_bytes", {}, "not a tl-lessons checkpoint"),
    ("empty", {}, "not a tl-lessons checkpoint"),
    ("json", {}, "not a tl-lessons checkpoint"),
    ("bare_state_dict", {}, "bare state_dict"),
    ("whole_model", {}, "could run code"),
    ("code", {}, "could run code"),
    ("wrong_arch", {"arch": "fastnet"}, "holds a tutorialnet model, not a fastnet"),
    ("wrong_classes", {"num_classes": 100}, "classifies 10 classes, not 100.*replace_head"),
    ("not_numbers", {}, r"not numbers \(NaN or infinite\) in conv1\.conv\.weight and head\.fc\.bias: "
                        r"the file is damaged, or was saved from a run that diverged\."),
]


@pytest.mark.parametrize("kind, expect, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_and_nothing_is_touched(tmp_path, kind, expect, message):
    path = write_bad_file(kind, tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, **expect)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "pwned").exists()


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    path = tmp_path / "net.pt"
    save(path, tutorial_net())
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"].pop(next(iter(checkpoint["state_dict"])))
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def test_source_model_missing_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "SOURCE_CHECKPOINT", tmp_path / "cifar10_fastnet.pt")
    with pytest.raises(CheckpointError, match="make source-model"):
        load_source_model()


def test_source_model_is_a_fastnet(tmp_path, monkeypatch):
    from tl_lessons.models import FastNet

    wrong = tmp_path / "tutorial.pt"
    save(wrong, tutorial_net())
    monkeypatch.setattr(checkpoints, "SOURCE_CHECKPOINT", wrong)
    with pytest.raises(CheckpointError, match="not a fastnet"):
        load_source_model()

    right = tmp_path / "cifar10_fastnet.pt"
    save(right, FastNet(10), arch="fastnet")
    monkeypatch.setattr(checkpoints, "SOURCE_CHECKPOINT", right)
    model, meta = load_source_model()
    assert meta["arch"] == "fastnet" and meta["num_classes"] == 10


# --- saving where it cannot be saved ---------------------------------------------------------------


@pytest.mark.parametrize("destination, says", [
    ("", "empty: give a file name"),
    ("folder", "is a folder: give a file name inside it"),
    ("a-file/net.pt", "a-file is a file, not a folder"),
    ("a-file/deeper/net.pt", "a-file is a file, not a folder"),
])
def test_a_destination_that_cannot_hold_a_checkpoint_is_refused(tmp_path, destination, says):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    path = "" if destination == "" else tmp_path / destination
    before = snapshot(tmp_path)
    for attempt in (checkpoints.check_destination, lambda p: save(p, tutorial_net())):
        with pytest.raises(CheckpointError, match=says):
            attempt(path)
    assert snapshot(tmp_path) == before


def test_a_read_only_folder_is_refused_before_training(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with read_only(folder):
        with pytest.raises(CheckpointError, match="cannot be written"):
            checkpoints.check_destination(folder / "net.pt")
    checkpoints.check_destination(folder / "net.pt")
    assert list(folder.iterdir()) == []  # the check writes nothing


def test_a_save_onto_a_full_disk_is_a_sentence_and_keeps_the_old_file(tmp_path):
    with small_disk(tmp_path / "disk", size="64k") as disk:
        old = disk / "net.pt"
        old.write_bytes(b"an older checkpoint")
        with pytest.raises(CheckpointError) as error:
            save(old, tutorial_net())  # about 250 kB
        message = str(error.value)
        assert str(old) in message and "free some space" in message
        assert "enforce fail" not in message and "Traceback" not in message
        assert old.read_bytes() == b"an older checkpoint"
        assert sorted(p.name for p in disk.iterdir()) == ["net.pt"]


def test_save_with_fallback_keeps_the_model_in_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    model = tutorial_net().eval()
    with small_disk(tmp_path / "disk", size="64k") as disk:
        saved, notice = checkpoints.save_with_fallback(
            disk / "net.pt", model, arch="tutorialnet", classes=CLASSES, mean=(0.5,) * 3, std=(0.25,) * 3,
            dataset="synthetic10", source="trained in a test")
        assert list(disk.iterdir()) == []
    assert saved.parent == tmp_path / "temporary" and saved.name.startswith("net-")
    assert str(disk / "net.pt") in notice and str(saved) in notice
    loaded, _ = load_checkpoint(saved)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))

    fine, notice = checkpoints.save_with_fallback(
        tmp_path / "net.pt", model, arch="tutorialnet", classes=CLASSES, mean=(0.5,) * 3, std=(0.25,) * 3,
        dataset="synthetic10", source="trained in a test")
    assert fine == tmp_path / "net.pt" and notice is None


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_checkpoint_has_the_users_usual_file_mode(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = save(tmp_path / "net.pt", tutorial_net())
        plain_file = tmp_path / "plain.txt"
        plain_file.write_text("made like any other file")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain_file.stat().st_mode) == 0o666 & ~umask


def test_an_interrupted_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupted(checkpoint, file):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path / "net.pt", tutorial_net())
    assert list(tmp_path.iterdir()) == []


def test_provenance_prints_a_checkpoints_numbers_in_the_kits_words():
    meta = {"arch": "fastnet", "dataset": "cifar10", "preset": "quick", "created": "2026-11-21T07:09:08+00:00",
            "source": "a copy", "metrics": {"test_accuracy": 0.7881, "test_loss": 0.6713093444824219,
                                            "seconds": 1155.1651967480002},
            "versions": {"torch": "2.14.1"}, "command": "python -m tl_lessons train"}
    lines = checkpoints.provenance(meta).splitlines()
    assert lines[3] == "created  : 2026-11-21"
    assert "metrics  : test accuracy 78.8 %, test loss 0.671, 1,155 s of training" in lines
    assert "0.6713093444824219" not in "\n".join(lines) and "versions : torch 2.14.1" in lines
    assert "preset" not in checkpoints.provenance({**meta, "preset": None})
