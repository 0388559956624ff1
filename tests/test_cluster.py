"""Sweeps on any executor (`tl_lessons.executors`): the same results as one after another, in the same order.

The slow test trains a few tiny runs on a Dask `LocalCluster` of two worker processes, one thread
each, listening on 127.0.0.1 only (`executors.dask_executor(workers=2)`: `Client(LocalCluster(...))`
and its `get_executor()`), and compares them with the same runs trained here, to the bit:
accuracies, losses, each test image's answer. The others check the plumbing with a thread pool.
"""
import concurrent.futures
import dataclasses
import sys
import time

import pytest
import torch

from tl_lessons import __main__ as cli
from tl_lessons import analysis, checkpoints, executors, models, reference_runs, transfer_gain
from tl_lessons.errors import ConfigError, LessonError, WorkerError
from tl_lessons.synthetic import make_synthetic
from tl_lessons.transfer_setup import TransferSetup

WIDTH = (4, 8, 8, 16)
TIMING = {"seconds", "elapsed", "val_seconds"}   # how long a run took: the one thing that may differ


def without_timing(value):
    """A result with every duration left out, however deep."""
    if isinstance(value, dict):
        return {key: without_timing(item) for key, item in value.items() if key not in TIMING}
    if isinstance(value, list):
        return [without_timing(item) for item in value]
    return value


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Transfer from a tiny FastNet on synthetic10 to 2 images per class of synthetic100: a run takes a fraction of a second.

    Everything a worker process needs comes from the setup: the checkpoint's path and the synthetic
    set's name (a monkeypatched loader, as tests/test_analysis.py uses, would not reach a worker).
    """
    source_set = make_synthetic(10, "train", n_per_class=4)
    torch.manual_seed(0)
    path = checkpoints.save_checkpoint(tmp_path_factory.mktemp("source") / "source.pt", models.FastNet(10, width=WIDTH),
                                       arch="fastnet", classes=source_set.classes, mean=source_set.mean,
                                       std=source_set.std, dataset="synthetic10", source="test",
                                       arch_options={"width": WIDTH})
    return TransferSetup(source=str(path), target="synthetic100", per_class=2, val_per_class=2, epochs=1,
                         batch_size=64, k=2)


# Python's __main__ when this file was imported. Streamlit's AppTest, run by earlier tests in the same
# process, leaves the app's script as __main__, and a worker process started by "spawn" runs __main__'s
# file again first: app.py, whose imports a worker cannot resolve ("Nanny failed to start").
MAIN = sys.modules["__main__"]


@pytest.mark.slow
@pytest.mark.timeout(300)   # a cluster that never starts must not hold up the suite
def test_a_sweep_on_a_local_dask_cluster_gives_the_sequential_results_to_the_bit(base, monkeypatch):
    monkeypatch.setitem(sys.modules, "__main__", MAIN)
    setups = analysis.strategy_setups(base, strategies=("linear_probe", "finetune"))
    here = analysis.compare_strategies(setups, seeds=(0, 1), test_per_class=1)
    tuned_here = transfer_gain.tune(setups[1:], lrs=(0.03, 0.3))
    with executors.dask_executor(workers=2) as executor:   # closed again, workers and all, at the block's end
        there = analysis.compare_strategies(setups, seeds=(0, 1), test_per_class=1, executor=executor)
        tuned_there = transfer_gain.tune(setups[1:], lrs=(0.03, 0.3), executor=executor)
        missing = dataclasses.replace(base, source=base.source + ".gone")
        with pytest.raises(WorkerError) as failed:
            analysis.compare_strategies([missing], executor=executor)
    assert [(r["label"], r["config"]["seed"]) for r in there] == [(s.label(), seed) for s in setups for seed in (0, 1)]
    assert all("model" not in r and len(r["test_correct"]) == r["test_images"] == 100 for r in there)
    assert without_timing(there) == without_timing(here)   # accuracies, losses, every test image's answer
    assert tuned_there == tuned_here
    # The seeds matter: the two seeds of a setting did not give the same runs (else equal results prove little).
    assert here[0]["test_correct"] != here[1]["test_correct"] or here[0]["epochs"] != here[1]["epochs"]
    # A run that fails on a worker: which one, what to do, and no traceback of the worker's.
    message = str(failed.value)
    assert message.startswith(f"The run '{missing.label()} · seed 0' failed on a worker: ")
    assert "Traceback" not in message and failed.value.__cause__ is None and failed.value.__suppress_context__


def test_results_come_back_in_the_order_handed_out_whichever_finishes_first():
    def slow_for_small(n):
        time.sleep(0.02 * (5 - n))
        return {"n": n, "model": "large", "threads": torch.get_num_threads()}

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(executors.in_order(slow_for_small, range(5), pool, drop=("model",)))
    assert results == [{"n": n, "threads": torch.get_num_threads()} for n in range(5)]


def test_without_an_executor_each_item_runs_here_only_when_its_result_is_asked_for():
    ran = []
    results = executors.in_order(lambda n: ran.append(n) or n, [1, 2])
    assert ran == []
    assert next(results) == 1 and ran == [1]


def test_a_worker_runs_on_the_callers_threads_and_gets_its_own_back():
    previous = torch.get_num_threads()
    assert executors.on_threads(lambda _: torch.get_num_threads(), previous + 1, (), None) == previous + 1
    assert torch.get_num_threads() == previous


def test_a_failed_run_says_which_and_what_to_do_and_stops_the_rest():
    started = []

    def work(n):
        started.append(n)
        if n == 1:
            raise ConfigError("The learning rate must be positive: try 0.01.")
        if n == 2:
            raise KeyError("stage9")
        time.sleep(0.2)
        return n

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(WorkerError) as failed:
            list(executors.in_order(work, range(6), pool, describe=lambda n: f"run {n}"))
    assert str(failed.value) == "The run 'run 1' failed on a worker: The learning rate must be positive: try 0.01."
    assert failed.value.__cause__ is None and isinstance(failed.value, LessonError)
    assert max(started) < 5   # what had not started is cancelled
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(WorkerError, match=r"^The run 'run 2' failed on a worker \(KeyError: 'stage9'\)\. "
                                              r"Train it here without an executor"):
            list(executors.in_order(work, [2], pool, describe=lambda n: f"run {n}"))


def test_asking_for_a_cluster_without_distributed_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed -> ImportError
    with pytest.raises(LessonError, match=r"needs Dask's `distributed`, which is not installed: run "
                                          r"`pip install 'tl-lessons\[cluster\]'`"):
        with executors.dask_executor(workers=2):
            pass
    assert cli.main(["reference-runs", "--workers", "2", "--out", "unused.json"]) == 2   # the sentence, no traceback


def test_the_reference_runs_and_the_tuning_hand_their_executor_to_every_sweep(monkeypatch):
    seen = []

    def sweep(setups, *args, executor=None, **options):
        seen.append(executor)
        return [{"label": "x", "strategy": "x", "config": {"per_class": 1}, "final_val_acc": 0.5}]

    executor = concurrent.futures.ThreadPoolExecutor(1)
    for name in ("compare_strategies", "label_regimes", "freeze_depth_curve"):
        monkeypatch.setattr(analysis, name, sweep)
    reference_runs.chapter_runs(seeds=(0,), progress=False, executor=executor)
    transfer_gain.tune([dataclasses.replace(transfer_gain.BASE, strategy="finetune")], lrs=(0.3,), augments=(True,),
                       executor=executor)
    assert seen == [executor] * 4
    executor.shutdown()


def test_the_command_line_trains_the_reference_runs_on_the_cluster_it_is_given(monkeypatch, tmp_path):
    calls = []

    class Cluster:
        def __init__(self, address, workers):
            calls.append(("cluster", address, workers))

        def __enter__(self):
            return "the executor"

        def __exit__(self, *exc):
            calls.append("closed")

    monkeypatch.setattr(executors, "dask_executor", Cluster)
    monkeypatch.setattr(reference_runs, "record_reference_runs",
                        lambda out, executor=None: calls.append(("record", out, executor)))
    assert cli.main(["reference-runs", "--cluster", "tcp://scheduler:8786", "--out", "x.json"]) == 0
    assert cli.main(["reference-runs", "--out", "y.json"]) == 0
    assert calls == [("cluster", "tcp://scheduler:8786", None), ("record", "x.json", "the executor"), "closed",
                     ("record", "y.json", None)]
