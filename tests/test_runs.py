"""The run store: runs and events survive reopening, two processes can write at once, record() keeps the truth."""

import csv
import io
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tl_lessons.runs import RunStore, default_path, record


def fake_fit(epochs=3, steps_per_epoch=4, fail_at=None, status="finished"):
    """A stand-in for train.fit's event stream (runs.py must not depend on training)."""
    yield {"kind": "start", "total_steps": epochs * steps_per_epoch, "epochs": epochs}
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            if step == fail_at:
                raise RuntimeError("out of memory")
            yield {"kind": "step", "step": step, "epoch": epoch, "loss": 1.0 / step, "lr": 0.1}
        yield {"kind": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.1 * epoch,
               "val_loss": 1.1 / epoch, "val_acc": 0.2 * epoch, "elapsed": float(epoch)}
    yield {"kind": "end", "status": status, "message": "", "elapsed": 3.0,
           "val_acc": 0.2 * epochs, "best_val_acc": 0.2 * epochs}


def test_runs_and_events_survive_reopening(tmp_path):
    path = tmp_path / "nested" / "runs.sqlite"
    store = RunStore(path)
    first = store.start({"lr": 0.1, "strategy": "scratch"}, "first")
    second = store.start({"lr": 0.01, "strategy": {"name": "freeze", "k": 2}}, "second")
    store.log(first, {"kind": "epoch", "epoch": 1, "val_acc": 0.5})
    store.log_many(first, [{"kind": "step", "step": s, "loss": 2.0 - s / 10} for s in range(1, 6)])
    store.finish(first, "finished", {"val_acc": 0.5}, "done")

    reopened = RunStore(path)
    assert [run["id"] for run in reopened.runs()] == [second, first]  # newest first
    run = reopened.get(first)
    assert run["label"] == "first" and run["status"] == "finished" and run["message"] == "done"
    assert run["config"] == {"lr": 0.1, "strategy": "scratch"} and run["results"] == {"val_acc": 0.5}
    assert reopened.get(second)["status"] == "running"
    assert [e["step"] for e in reopened.events(first, "step")] == [1, 2, 3, 4, 5]
    assert [e["kind"] for e in reopened.events(first)] == ["epoch"] + ["step"] * 5
    with pytest.raises(KeyError):
        reopened.get(999)
    with pytest.raises(ValueError):
        reopened.finish(first, "exploded", {})

    reopened.delete(first)
    assert [run["id"] for run in reopened.runs()] == [second]
    assert reopened.events(first) == []


def test_default_path_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_LESSONS_RUNS", str(tmp_path / "elsewhere.sqlite"))
    assert default_path() == tmp_path / "elsewhere.sqlite"
    RunStore().start({}, "x")
    assert (tmp_path / "elsewhere.sqlite").exists()


WRITER = textwrap.dedent("""
    import sys, time
    from tl_lessons.runs import RunStore
    path, label, n, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    store = RunStore(path)
    run_id = store.start({"writer": label}, label)
    while time.time() < start_at:   # both processes begin writing at the same moment
        time.sleep(0.001)
    for step in range(n):           # one transaction per event: the worst case for locking
        store.log(run_id, {"kind": "step", "step": step, "loss": 1.0})
    store.finish(run_id, "finished", {"steps": n})
""")


def test_two_processes_write_at_once(tmp_path):
    path, n = tmp_path / "runs.sqlite", 300
    RunStore(path)
    start_at = time.time() + 1.5
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), label, str(n), str(start_at)],
                                stderr=subprocess.PIPE, text=True) for label in ("a", "b")]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    assert not any("locked" in error for error in errors)
    store = RunStore(path)
    runs = store.runs()
    assert sorted(run["label"] for run in runs) == ["a", "b"]
    for run in runs:
        assert run["status"] == "finished"
        assert [e["step"] for e in store.events(run["id"], "step")] == list(range(n))


def test_threads_share_a_store(tmp_path):
    # Streamlit runs each session in a thread: one RunStore object used from several threads.
    store = RunStore(tmp_path / "runs.sqlite")
    run_ids = [store.start({}, f"thread {i}") for i in range(4)]

    def write(run_id):
        for step in range(50):
            store.log(run_id, {"kind": "step", "step": step})

    threads = [threading.Thread(target=write, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(store.events(run_id, "step")) == 50 for run_id in run_ids)


def test_record_passes_the_stream_through_and_stores_it(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    original = list(fake_fit())
    passed = list(record(fake_fit(), store, {"lr": 0.1}, "complete"))
    run_id = passed[0]["run_id"]
    assert [{k: v for k, v in e.items() if k != "run_id"} for e in passed] == original
    assert store.events(run_id) == original
    run = store.get(run_id)
    assert run["status"] == "finished"
    assert run["results"]["epochs"] == 3 and run["results"]["best_val_acc"] == pytest.approx(0.6)


def test_record_keeps_the_end_status_of_the_stream(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    events = list(record(fake_fit(status="diverged"), store, {}, "blown up"))
    assert store.get(events[-1]["run_id"])["status"] == "diverged"


def test_record_marks_an_early_exit_as_stopped(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    stream = record(fake_fit(epochs=5), store, {}, "impatient")
    for event in stream:
        if event["kind"] == "epoch" and event["epoch"] == 2:
            break
    stream.close()
    run = store.get(event["run_id"])
    assert run["status"] == "stopped"
    assert run["results"]["epochs"] == 2
    assert [e["epoch"] for e in store.events(run["id"], "epoch")] == [1, 2]
    assert len(store.events(run["id"], "step")) == 8


def test_record_marks_a_crash_as_failed_and_reraises(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    seen = []
    with pytest.raises(RuntimeError, match="out of memory"):
        for event in record(fake_fit(fail_at=6), store, {}, "crashing"):
            seen.append(event)
    run = store.get(seen[0]["run_id"])
    assert run["status"] == "failed" and "out of memory" in run["message"]
    assert run["results"]["epochs"] == 1
    assert len(store.events(run["id"], "step")) == 5


def test_export_csv_has_one_row_per_epoch_with_config(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    list(record(fake_fit(epochs=2), store, {"lr": 0.1, "strategy": "scratch"}, "a"))
    list(record(fake_fit(epochs=3), store, {"lr": 0.01, "strategy": {"name": "freeze", "k": 2}}, "b"))
    buffer = io.StringIO()
    store.export_csv(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [(r["label"], r["epoch"]) for r in rows] == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("b", "3")]
    assert [r["strategy"] for r in rows] == ["scratch"] * 2 + ["freeze"] * 3
    assert rows[2]["config.strategy.k"] == "2" and rows[0]["config.lr"] == "0.1"
    assert float(rows[4]["val_acc"]) == pytest.approx(0.6)

    only_b = tmp_path / "b.csv"
    store.export_csv(only_b, run_ids=[store.runs()[0]["id"]])
    with open(only_b, newline="") as file:
        assert {row["label"] for row in csv.DictReader(file)} == {"b"}
