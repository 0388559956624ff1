"""`python -m tl_lessons`: the commands work end to end and bad input gives a sentence, not a trace."""
import csv
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error

import pytest

from disk_faults import fill, read_only, small_disk
from store_faults import STORE_FAULTS, faulty_store, file_hash
from tl_lessons import __main__ as cli
from tl_lessons import data, train
from tl_lessons.checkpoints import load_checkpoint
from tl_lessons.errors import RunStoreError
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

    transferred = tmp_path / "transferred.pt"
    assert cli.main(["transfer", "--source", str(checkpoint), "--data", "synthetic100", "--strategy", "freeze",
                     "--k", "2", "--per-class", "5", "--epochs", "1", "--save", str(transferred)]) == 0
    out = capsys.readouterr().out
    assert "frozen" in out  # the per-stage table printed before training
    assert "validation accuracy" in out
    # The test split once, after training: what it prints is the saved model's accuracy on every test image.
    test_set = data.load_dataset("synthetic100", "test")
    model, meta = load_checkpoint(transferred)
    _, test_acc = train.evaluate(model, test_set, mean=meta["mean"], std=meta["std"])
    assert meta["metrics"]["test_accuracy"] == pytest.approx(test_acc)
    assert f"test accuracy {test_acc:.2%} on {len(test_set):,} test images" in out

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


# --- faults: the run store, signals, saving, exporting, settings ------------------------------------

TRAIN = ["train", "--preset", "tutorial_fast", "--data", "synthetic10", "--epochs", "1"]
UNREADABLE_STORES = {"not_a_database", "malformed", "folder_in_its_place"}


@pytest.mark.parametrize("kind", STORE_FAULTS)
def test_runs_list_with_a_faulty_store_lists_what_it_can_or_says_why(kind, tmp_path, monkeypatch, capsys):
    with faulty_store(kind, tmp_path) as (path, says):
        monkeypatch.setenv("TL_LESSONS_RUNS", str(path))
        before = file_hash(path)
        code = cli.main(["runs", "list"])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        if kind in UNREADABLE_STORES:
            assert code == 2 and err.startswith("error: ") and re.search(says, err)
        else:
            assert code == 0 and "earlier run" in out, err
        assert file_hash(path) == before


@pytest.mark.parametrize("kind", ["not_a_database", "read_only_folder", "full_disk"])
def test_training_with_a_faulty_store_trains_without_storing(kind, empty_data, tmp_path, monkeypatch, capsys):
    with faulty_store(kind, tmp_path) as (path, says):
        monkeypatch.setenv("TL_LESSONS_RUNS", str(path))
        before = file_hash(path)
        assert cli.main(TRAIN) == 0
        out, err = capsys.readouterr()
        assert "test accuracy" in out
        (note,) = re.findall(r"note: ([^\r\n]*)", err)
        assert re.search(says, note) and "not stored" in note
        assert file_hash(path) == before


def test_a_store_that_fails_mid_run_does_not_stop_the_training(empty_data, tmp_path, monkeypatch, capsys):
    from tl_lessons import train

    real_fit = train.fit
    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("TL_LESSONS_RUNS", str(disk / "runs.sqlite"))

        def fit_on_a_filling_disk(*args, **kwargs):
            for event in real_fit(*args, **kwargs):
                yield event
                if event["kind"] == "epoch" and event["epoch"] == 1:
                    fill(disk)  # another program takes the last free space

        monkeypatch.setattr(train, "fit", fit_on_a_filling_disk)
        assert cli.main(TRAIN[:-1] + ["2"]) == 0
        out, err = capsys.readouterr()
        assert "finished: test accuracy" in out
        assert "Traceback" not in err
        (note,) = re.findall(r"note: ([^\r\n]*)", err)  # printed on a line of its own, above the progress bar
        assert "full" in note and "rest of this run is not stored" in note


def wait_for_an_epoch(path, child, deadline_s=600):
    """Poll the run store until the child's run has stored an epoch; fail if the child ends first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1][-3000:]
        try:
            runs = RunStore(path, write=False).runs() if path.exists() else []
            if runs and RunStore(path, write=False).events(runs[0]["id"], "epoch"):
                return
        except RunStoreError:
            pass  # caught the store while the child was making it
        time.sleep(0.2)
    pytest.fail("the child process stored no epoch")


@pytest.mark.slow  # trains, or starts a process that does: not for the inner loop
@pytest.mark.parametrize("stop, status", [(signal.SIGTERM, "stopped"), (signal.SIGHUP, "stopped"),
                                          (signal.SIGKILL, "interrupted")], ids=["SIGTERM", "SIGHUP", "SIGKILL"])
def test_a_training_ended_by_a_signal_keeps_its_epochs(stop, status, tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.sqlite"
    env = {**os.environ, "TL_LESSONS_RUNS": str(path), "TL_LESSONS_DATA": str(tmp_path / "no-data"),
           "TL_LESSONS_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "tl_lessons", *TRAIN[:-1], "100", "--batch-size", "500"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_an_epoch(path, child)
        child.send_signal(stop)
        _, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "Traceback" not in err
    assert child.returncode == (-stop if stop == signal.SIGKILL else 128 + stop)
    store = RunStore(path)
    (run,) = store.runs()
    assert run["status"] == status
    assert run["results"]["epochs"] >= 1
    assert len(store.events(run["id"], "epoch")) == run["results"]["epochs"]
    monkeypatch.setenv("TL_LESSONS_RUNS", str(path))
    assert cli.main(["runs", "list"]) == 0
    assert status in capsys.readouterr().out


@pytest.mark.parametrize("destination, says", [
    ("", "empty"),
    ("folder", "is a folder"),
    ("a-file/model.pt", "a-file is a file, not a folder"),
    ("read-only/model.pt", "cannot be written"),
])
def test_a_bad_save_destination_is_refused_before_training(destination, says, empty_data, run_store_path,
                                                           tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "read-only").mkdir()
    target = "" if destination == "" else str(tmp_path / destination)
    with read_only(tmp_path / "read-only"):
        assert cli.main([*TRAIN, "--save", target]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and says in err and "Traceback" not in err
    assert "test accuracy" not in out  # refused before training
    assert not run_store_path.exists() or RunStore(run_store_path).runs() == []
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_a_save_onto_a_full_disk_keeps_the_model_elsewhere(empty_data, run_store_path, tmp_path, monkeypatch,
                                                           capsys):
    import tempfile

    fallback = tmp_path / "temporary-files"
    fallback.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(fallback))
    with small_disk(tmp_path / "disk", size="64k") as disk:
        old = disk / "model.pt"
        old.write_bytes(b"an older checkpoint")
        assert cli.main([*TRAIN, "--save", str(old)]) == 2
        out, err = capsys.readouterr()
        assert "test accuracy" in out and "Traceback" not in err
        (kept,) = fallback.glob("*.pt")
        last = err.splitlines()[-1]
        assert last.startswith("error: ") and str(old) in last and str(kept) in last
        assert old.read_bytes() == b"an older checkpoint"
        assert sorted(p.name for p in disk.iterdir()) == ["model.pt"]  # no temporary file left
    model, meta = load_checkpoint(kept)
    assert meta["dataset"] == "synthetic10"


@pytest.mark.parametrize("command", [
    TRAIN,
    ["transfer", "--source", "scratch", "--strategy", "scratch", "--data", "synthetic10", "--per-class", "10",
     "--batch-size", "16", "--epochs", "1"],
], ids=["train", "transfer"])
def test_a_run_that_diverges_exits_3_and_says_the_model_was_not_saved(command, empty_data, run_store_path, tmp_path,
                                                                       capsys):
    destination = tmp_path / "model.pt"
    assert cli.main([*command, "--lr", "10", "--save", str(destination)]) == 3
    out, err = capsys.readouterr()
    assert "the learning rate 10 is too large; try 1 or smaller" in out  # the run's own end message
    assert err.splitlines()[-1] == (f"error: The training diverged, so the model was not saved to {destination}: "
                                    "run it again with a smaller learning rate, for example --lr 1.")
    assert not destination.exists() and list(tmp_path.glob("*.tmp")) == []
    assert RunStore(run_store_path).runs()[0]["status"] == "diverged"
    assert cli.main([*command, "--lr", "10", "--no-store"]) == 3
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: The training diverged: run it again with a smaller learning rate, for example --lr 1.")


SAVE_THEN_TERMINATE = textwrap.dedent("""
    import os, signal, sys, torch
    from tl_lessons import __main__ as cli

    real_save = torch.save

    def save_interrupted(checkpoint, file):
        file.write(b"the first bytes of a checkpoint")
        os.kill(os.getpid(), signal.SIGTERM)   # the learner's `kill`, half-way through the save
        real_save(checkpoint, file)

    torch.save = save_interrupted
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.slow  # trains, or starts a process that does: not for the inner loop
def test_a_save_ended_by_sigterm_leaves_no_temporary_file(tmp_path):
    env = {**os.environ, "TL_LESSONS_DATA": str(tmp_path / "no-data"), "TL_LESSONS_THREADS": "1"}
    folder = tmp_path / "models"
    folder.mkdir()
    child = subprocess.run([sys.executable, "-c", SAVE_THEN_TERMINATE, *TRAIN, "--no-store",
                            "--save", str(folder / "model.pt")], env=env, capture_output=True, text=True,
                           timeout=600)
    assert child.returncode == 128 + signal.SIGTERM, child.stderr[-3000:]
    assert "Traceback" not in child.stderr
    assert list(folder.iterdir()) == []


def test_exporting_runs_into_a_folder_or_a_missing_folder_is_a_sentence(run_store_path, tmp_path, capsys):
    RunStore(run_store_path).start({}, "a run")
    assert cli.main(["runs", "export", str(tmp_path)]) == 2
    assert "is a folder: give a file name" in capsys.readouterr().err
    assert cli.main(["runs", "export", str(tmp_path / "missing" / "runs.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err


def test_data_folder_that_is_a_file_is_named_as_such(tmp_path, monkeypatch, capsys):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("not a folder")
    monkeypatch.setenv("TL_LESSONS_DATA", str(not_a_folder))
    assert cli.main(["data", "status"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "TL_LESSONS_DATA" in err
    assert cli.main(["train", "--data", "cifar10", "--epochs", "1"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert not_a_folder.read_text() == "not a folder"


def test_the_command_line_uses_tl_lessons_threads(empty_data, monkeypatch, capsys):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("TL_LESSONS_THREADS", str(before + 1))
    try:
        assert cli.main(["data", "synthetic", "--classes", "10"]) == 0
        assert torch.get_num_threads() == before + 1
        monkeypatch.setenv("TL_LESSONS_THREADS", "many")
        assert cli.main(["data", "synthetic", "--classes", "10"]) == 2
        assert "TL_LESSONS_THREADS must be a whole number" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


def test_a_busy_port_says_how_to_pick_another(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["check-port", "127.0.0.1", str(port)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and f"make app PORT={port + 1}" in err
    assert cli.main(["check-port", "127.0.0.1", str(port)]) == 0


def test_a_larger_label_budget_says_what_it_will_cost_before_it_trains(empty_data, run_store_path, capsys, monkeypatch):
    from tl_lessons import analysis

    measured = []
    monkeypatch.setattr(analysis, "estimate_seconds", lambda setup: measured.append(setup.per_class) or 4000.0)
    args = ["transfer", "--source", "scratch", "--strategy", "scratch", "--data", "synthetic100", "--epochs", "1",
            "--no-store"]
    assert cli.main([*args, "--per-class", "20"]) == 0
    out = capsys.readouterr().out
    assert "2,000 training images x 1 epochs: about 1 h 7 min on this machine" in out
    assert out.index("about 1 h 7 min") < out.index("validation accuracy")   # said before the run's result
    assert cli.main([*args, "--per-class", "5"]) == 0                  # the few-shot task: nothing to warn about
    assert "on this machine" not in capsys.readouterr().out
    assert measured == [20]


def budget_args(*words):
    return cli.parser().parse_args(["train", *words])


@pytest.mark.parametrize("words, minutes", [
    (["--preset", "full"], 10),                      # the full preset's own budget
    (["--preset", "full", "--minutes", "2"], 2),
    (["--preset", "full", "--epochs", "3"], None),   # --epochs fixes the epochs: nothing to plan
    (["--preset", "quick"], None),                   # the other presets train their epochs ...
    (["--preset", "quick", "--minutes", "1.5"], 1.5),  # ... or fit a budget when given one
])
def test_the_time_budget_comes_from_minutes_or_the_preset_unless_the_epochs_are_given(words, minutes):
    args = budget_args(*words)
    assert cli.budgeted(train.PRESETS[args.preset], args).minutes == minutes


@pytest.mark.parametrize("words, says", [
    (["--preset", "full", "--minutes", "2", "--epochs", "3"], "not both"),
    (["--preset", "quick", "--minutes", "0"], "minutes above 0"),
])
def test_a_budget_that_cannot_be_kept_is_refused_before_any_data_is_read(empty_data, words, says, capsys):
    # The data folder is empty: had the command read CIFAR-10 first, it would say the data is missing.
    assert cli.main(["train", *words, "--no-store"]) == 2
    err = capsys.readouterr().err
    assert says in err and "not on this computer" not in err.lower()


@pytest.mark.slow
def test_a_budget_too_small_for_one_epoch_says_how_much_would_do(empty_data, capsys):
    # 0.06 s: less than measuring the pace takes on any computer, so no epoch can fit, however fast it is.
    assert cli.main(["train", "--preset", "tutorial_fast", "--data", "synthetic10", "--minutes", "0.001",
                     "--no-store"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: One epoch does not fit ") and "Give it at least 1 minute." in err


@pytest.mark.slow
def test_the_full_preset_plans_ten_minutes_with_its_test_views(empty_data, monkeypatch, capsys):
    from tl_lessons import budget, inference

    planned = {}

    def plan(config, train_set, test_images, budget_s, spent_s):
        planned.update(budget_s=budget_s, spent_s=spent_s, test_images=test_images)
        return dataclasses.replace(config, arch="tutorialnet", epochs=1, whiten_stem=False), "It fits, because."

    evaluated = {}
    evaluate = inference.evaluate
    monkeypatch.setattr(budget, "plan_run", plan)
    monkeypatch.setattr(inference, "evaluate", lambda *a, **k: evaluated.update(k) or evaluate(*a, **k))
    assert cli.main(["train", "--preset", "full", "--data", "synthetic10", "--no-store"]) == 0
    out = capsys.readouterr().out
    assert planned["budget_s"] == 600 and planned["spent_s"] > 0 and "It fits, because." in out
    assert planned["test_images"] == 1000   # the plan gets the test split's size, never its images
    assert evaluated["views"] == "flip_and_shift" and "with test-time views (flip_and_shift)" in out and "in all" in out


@pytest.mark.slow
def test_any_preset_trains_within_a_budget(empty_data, monkeypatch, capsys):
    from tl_lessons import budget

    # A budget of minutes holds many epochs of this small net on any computer: the run stops at one.
    monkeypatch.setattr(budget, "MOST_EPOCHS", 1)
    assert cli.main(["train", "--preset", "tutorial_fast", "--data", "synthetic10", "--minutes", "10",
                     "--no-store"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"This computer trains [\d,]+ images/s: 10 min would hold [\d,]+ epochs of 5,000 images", out)
    assert "the recipe stops at 1" in out and "finished" in out
