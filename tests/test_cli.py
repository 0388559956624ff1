"""`python -m tl_lessons`: the commands work end to end and bad input gives a sentence, not a trace."""
import csv
import subprocess
import sys
import urllib.error

import pytest

from tl_lessons import __main__ as cli
from tl_lessons.checkpoints import load_checkpoint
from tl_lessons.runs import RunStore


@pytest.fixture()
def empty_data(tmp_path, monkeypatch):
    folder = tmp_path / "no-data"
    monkeypatch.setenv("TL_LESSONS_DATA", str(folder))
    return folder


def test_data_status_reports_missing_cifar(empty_data, capsys):
    assert cli.main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "cifar10" in out and "cifar100" in out
    assert "missing" in out.lower()


def test_download_offline_is_one_sentence_and_exit_code_2(empty_data, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    import torchvision.datasets.utils

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", no_network)
    assert cli.main(["data", "download", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert "make data" in err or "data download" in err


@pytest.mark.slow
def test_train_save_transfer_and_runs(empty_data, run_store_path, tmp_path, capsys):
    checkpoint = tmp_path / "source.pt"
    assert cli.main(["train", "--preset", "quick", "--data", "synthetic10", "--epochs", "1",
                     "--save", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out.lower()
    assert "test accuracy" in out
    model, meta = load_checkpoint(checkpoint)
    assert meta["dataset"] == "synthetic10" and len(meta["classes"]) == 10
    assert meta["command"] == (f"python -m tl_lessons train --preset quick --data synthetic10 --epochs 1 "
                               f"--save {checkpoint}")

    assert cli.main(["transfer", "--source", str(checkpoint), "--data", "synthetic100", "--strategy", "freeze",
                     "--k", "2", "--per-class", "5", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "frozen" in out  # the per-stage table printed before training
    assert "validation accuracy" in out

    runs = RunStore(run_store_path).runs()
    assert [run["status"] for run in runs] == ["finished", "finished"]
    assert cli.main(["runs", "list"]) == 0
    listed = capsys.readouterr().out
    assert "freeze k=2" in listed

    exported = tmp_path / "runs.csv"
    assert cli.main(["runs", "export", str(exported)]) == 0
    rows = list(csv.DictReader(exported.open()))
    assert {row["run_id"] for row in rows} == {str(run["id"]) for run in runs}


@pytest.mark.slow
def test_invalid_freeze_depth_is_a_sentence(empty_data, run_store_path, tmp_path, capsys):
    checkpoint = tmp_path / "source.pt"
    assert cli.main(["train", "--preset", "quick", "--data", "synthetic10", "--epochs", "1",
                     "--no-store", "--save", str(checkpoint)]) == 0
    capsys.readouterr()
    assert cli.main(["transfer", "--source", str(checkpoint), "--data", "synthetic100", "--strategy", "freeze",
                     "--k", "9", "--per-class", "2", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "k must be between 0 and 4" in err
    assert RunStore(run_store_path).runs() == []  # nothing half-recorded


def test_a_transfer_setup_with_problems_is_refused_before_any_data_is_read(empty_data, run_store_path, capsys):
    # The data folder is empty: had the command read CIFAR-100 first, it would say the data is missing.
    assert cli.main(["transfer", "--source", "scratch", "--strategy", "freeze", "--lr", "-1", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert "nothing worth keeping frozen" in err and "learning rate must be a number above 0" in err
    assert "at least 1" in err and "not on this computer" not in err.lower() and "data download" not in err
    assert RunStore(run_store_path).runs() == []


@pytest.mark.slow
def test_module_entry_point_runs(empty_data):
    result = subprocess.run([sys.executable, "-m", "tl_lessons", "data", "synthetic", "--classes", "10"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "synthetic10 train" in result.stdout.lower() or "synthetic" in result.stdout.lower()


def test_scratch_needs_no_shipped_checkpoint(empty_data, monkeypatch, tmp_path):
    from tl_lessons import checkpoints, transfer_setup

    # As in a copy of the kit without the shipped model: loading it would fail.
    monkeypatch.setattr(transfer_setup, "SOURCE_CHECKPOINT", tmp_path / "missing.pt")
    monkeypatch.setattr(checkpoints, "SOURCE_CHECKPOINT", tmp_path / "missing.pt")
    setup = transfer_setup.TransferSetup(source="scratch", strategy="scratch", target="synthetic100", per_class=2)
    model, meta = transfer_setup.build_target_model(setup, 100)
    assert meta["arch"] == "fastnet"
    assert model(__import__("torch").zeros(1, 3, 32, 32)).shape == (1, 100)


@pytest.mark.slow
def test_transfer_from_imagenet_saves_a_checkpoint_that_loads_without_the_weights(
    empty_data, run_store_path, tmp_path, monkeypatch, capsys
):
    import torch
    import torchvision

    from tl_lessons import models

    cache = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(cache))
    weights = cache / "hub" / "checkpoints" / torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # stands in for the 45 MB download
    saved = tmp_path / "from-imagenet.pt"
    args = ["transfer", "--source", "imagenet", "--data", "synthetic100", "--strategy", "linear_probe",
            "--per-class", "2", "--epochs", "1", "--no-store", "--save", str(saved)]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert "stage4" in capsys.readouterr().out  # the per-stage table of the ResNet
    weights.unlink()  # loading the result must not need the ImageNet weights any more
    model, meta = load_checkpoint(saved)
    assert meta["arch"] == "imagenet_resnet18" and meta["num_classes"] == 100
    assert tuple(meta["mean"]) == models.IMAGENET_MEAN and tuple(meta["std"]) == models.IMAGENET_STD
    assert meta["command"] == "python -m tl_lessons " + " ".join(args)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 100)
