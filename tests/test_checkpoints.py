"""Checkpoints: a round trip keeps predictions and metadata; every bad file is refused clearly and harmlessly."""

import hashlib
import json

import numpy as np
import pytest
import torch

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
    with pytest.raises(OSError):
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
