"""The run store: runs and events survive reopening, two processes can write at once, record() keeps the truth."""

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import types
import warnings
from contextlib import closing

import pytest

from disk_faults import fill, read_only, small_disk
from store_faults import STORE_FAULTS, WriteLock, as_streamed, fake_fit, faulty_store, file_hash, healthy_store
from tl_lessons import recording, runs
from tl_lessons.errors import ConfigError, RunStoreError
from tl_lessons.recording import record
from tl_lessons.runs import RunStore, default_path, open_store


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


def diverging_fit():
    """A run whose loss blows up at step 3 of its first epoch: no epoch events at all."""
    yield {"kind": "start", "total_steps": 8, "epochs": 2}
    for step, loss in enumerate([2.3, 40.0, float("inf")], 1):
        yield {"kind": "step", "step": step, "epoch": 1, "loss": loss, "lr": 10.0, "elapsed": 0.1 * step}
    yield {"kind": "end", "status": "diverged", "message": "The loss became inf at step 3: lower the rate.",
           "elapsed": 0.3, "val_acc": None, "best_val_acc": None}


def exported(store, **options) -> list[dict]:
    buffer = io.StringIO()
    store.export_csv(buffer, **options)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def test_a_run_that_diverged_is_exported_with_its_steps_and_how_it_ended(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    list(record(fake_fit(epochs=1), store, {"lr": 0.1}, "fine"))
    list(record(diverging_fit(), store, {"lr": 10.0}, "too fast"))
    list(record(fake_fit(epochs=2, status="diverged"), store, {"lr": 3.0}, "late"))
    rows = exported(store)
    shown = [(r["label"], r["kind"], r["epoch"], r["step"], r["status"]) for r in rows]
    assert shown == [
        ("fine", "epoch", "1", "", "finished"),
        ("too fast", "step", "1", "1", "diverged"), ("too fast", "step", "1", "2", "diverged"),
        ("too fast", "step", "1", "3", "diverged"), ("too fast", "end", "1", "3", "diverged"),
        ("late", "epoch", "1", "", "diverged"), ("late", "epoch", "2", "", "diverged"),
        ("late", "end", "2", "8", "diverged"),
    ]
    assert [r["train_loss"] for r in rows[1:4]] == ["2.3", "40.0", "inf"]
    assert rows[4]["message"] == "The loss became inf at step 3: lower the rate." and rows[4]["config.lr"] == "10.0"
    assert rows[0]["message"] == ""


# --- a store that cannot be used: a sentence, training goes on, the file is left as it was ---------


@pytest.mark.parametrize("kind", STORE_FAULTS)
def test_a_store_that_cannot_be_used_is_a_sentence_and_stays_as_it_was(kind, tmp_path):
    with faulty_store(kind, tmp_path) as (path, says):
        before = file_hash(path)
        with pytest.raises(RunStoreError, match=says) as error:
            RunStore(path)
        message = str(error.value)
        assert str(path) in message and "TL_LESSONS_RUNS" in message
        assert "Traceback" not in message and "sqlite3" not in message
        assert file_hash(path) == before

        # open_store: the same sentence as a notice, and a store in memory that records as usual.
        store, notice = open_store(path)
        assert notice.startswith(message) and "not stored" in notice
        assert store.path is None
        events = list(record(fake_fit(epochs=2), store, {"lr": 0.1}, "kept in memory"))
        assert [run["status"] for run in store.runs()] == ["finished"]
        assert len(store.events(events[0]["run_id"], "epoch")) == 2
        assert file_hash(path) == before


def test_open_store_uses_a_healthy_file(tmp_path):
    store, notice = open_store(tmp_path / "runs.sqlite")
    assert notice is None and store.path == tmp_path / "runs.sqlite"


def test_a_store_that_cannot_be_made_leaves_nothing_behind(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        fill(disk)
        with pytest.raises(RunStoreError, match="full"):
            RunStore(disk / "runs.sqlite")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_read_only_store_can_still_be_read(tmp_path):
    path = healthy_store(tmp_path / "runs" / "runs.sqlite")
    with read_only(path.parent):
        store = RunStore(path, write=False)
        (run,) = store.runs()
        assert run["label"] == "earlier run" and run["status"] == "finished"
        assert len(store.events(run["id"], "epoch")) == 2


def test_rows_that_are_not_json_are_shown_with_a_placeholder(tmp_path):
    path = healthy_store(tmp_path / "runs.sqlite")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE runs SET config = 'lr=0.1 {', results = '[1, 2]'")
        db.execute("UPDATE events SET payload = 'garbage' WHERE kind = 'step'")
    store = RunStore(path)
    (run,) = store.runs()
    assert run["config"] == {} and run["results"] == {}
    assert run["unreadable"] == ["config", "results"]
    assert store.get(run["id"])["unreadable"] == ["config", "results"]
    assert [e["kind"] for e in store.events(run["id"])] == ["start", "epoch", "epoch", "end"]
    buffer = io.StringIO()
    store.export_csv(buffer)  # still exports the epochs it can read
    assert len(list(csv.DictReader(io.StringIO(buffer.getvalue())))) == 2


def filling_fit(disk, fill_after_epoch=1, epochs=3):
    """fake_fit that fills `disk` after an epoch, as another program might while a run trains."""
    for event in fake_fit(epochs=epochs):
        yield event
        if event["kind"] == "epoch" and event["epoch"] == fill_after_epoch:
            fill(disk)


def test_a_store_that_fails_mid_run_does_not_stop_training(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        store = RunStore(disk / "runs.sqlite")
        passed = list(record(filling_fit(disk), store, {"lr": 0.1}, "disk fills up"))
        # Every event of the stream went through, in order, and the run reached its end.
        assert as_streamed(passed) == list(fake_fit(epochs=3))
        notices = [e["store_notice"] for e in passed if "store_notice" in e]
        assert len(notices) == 1 and [e["store_state"] for e in passed if "store_state" in e] == ["failed"]
        assert "full" in notices[0] and "rest of this run is not stored" in notices[0]
        (disk / "filler").unlink()
        run_id = passed[0]["run_id"]
        assert [e["epoch"] for e in RunStore(disk / "runs.sqlite").events(run_id, "epoch")] == [1]


def test_a_store_that_fails_when_the_consumer_stops_does_not_raise(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        store = RunStore(disk / "runs.sqlite")
        stream = record(fake_fit(epochs=5), store, {}, "stopped on a full disk")
        for event in stream:
            if event["kind"] == "epoch" and event["epoch"] == 2:
                filler = fill(disk)
                break
        with pytest.warns(RuntimeWarning, match="full.*rest of this run is not stored"):
            stream.close()  # would store the pending steps and the "stopped" status: both fail, and say so
        filler.unlink()
        run = store.get(event["run_id"])
        assert run["status"] == "running"  # could not be closed; reads "interrupted" once this process ends
        assert [e["epoch"] for e in store.events(run["id"], "epoch")] == [1, 2]


# --- a store another session keeps locked: the points are kept, written later, and the learner is told ------


@pytest.fixture
def quick_lock_waits(monkeypatch):
    """Writes give up on a locked store after 0.2 s, and a run keeping points retries at every event."""
    monkeypatch.setattr(runs, "BUSY_TIMEOUT_S", 0.2)  # the store's wait, which recording reads there too
    monkeypatch.setattr(recording, "RETRY_WAIT_S", 0.01)
    monkeypatch.setattr(recording, "RETRY_AFTER_S", 0.0)
    monkeypatch.setattr(recording, "RETRY_AFTER_MAX_S", 0.0)
    monkeypatch.setattr(recording, "FLUSH_EVERY_S", 1000.0)  # steps are written with the next epoch: known write points


def where(event) -> str:
    """An event of fake_fit by its kind and number: "start", "step 5", "epoch 2", "end"."""
    number = event.get("step", event.get("epoch")) if event["kind"] in ("step", "epoch") else None
    return event["kind"] if number is None else f"{event['kind']} {number}"


def notices_of(passed) -> list[tuple]:
    return [(where(e), e["store_state"]) for e in passed if "store_notice" in e]


# When the other session takes the lock (before the run starts, or once the learner sees epoch 1),
# and when it lets go (once the learner has seen this event).
LOCKED = {"before_start": (None, "step 2"), "mid_run": ("epoch 1", "step 10")}


@pytest.mark.parametrize("when", LOCKED)
def test_a_busy_store_keeps_the_points_and_writes_them_all_once_it_is_free(when, tmp_path, quick_lock_waits):
    store = RunStore(tmp_path / "runs.sqlite")
    take_at, release_at = LOCKED[when]
    original, passed = list(fake_fit()), []
    with WriteLock(store.path) as lock:
        if take_at is None:
            lock.take()
        for event in record(fake_fit(), store, {"lr": 0.1}, "through a busy store"):
            passed.append(event)
            if where(event) == take_at:
                lock.take()
            if where(event) == release_at:
                lock.release()

    # Training went on: every event passed through, unchanged, in order.
    assert as_streamed(passed) == original
    # Told once that the points are kept (at the first write that found the store locked), once that
    # they are written (at the first try after the lock was let go), and nothing else.
    busy_at, stored_at = {"before_start": ("start", "step 3"), "mid_run": ("epoch 2", "step 11")}[when]
    assert notices_of(passed) == [(busy_at, "waiting"), (stored_at, "stored")]
    busy, stored = [e["store_notice"] for e in passed if "store_notice" in e]
    assert busy.startswith("The run store is busy") and "kept" in busy and "written as soon as it is free" in busy
    assert "Training goes on" in busy and "Traceback" not in busy and "sqlite" not in busy
    assert stored == "The run store is free again: all of this run's points so far are now stored."

    # Stored exactly as produced: no event lost, none twice, in order; one run, closed as the stream said.
    run_id = passed[-1]["run_id"]
    assert [run["id"] for run in store.runs()] == [run_id]
    assert store.events(run_id) == original
    assert [e["step"] for e in store.events(run_id, "step")] == list(range(1, 13))
    run = store.get(run_id)
    assert run["status"] == "finished" and run["results"]["epochs"] == 3
    assert run["results"]["best_val_acc"] == pytest.approx(0.6)
    # Before its row could be made, the run had no id to hand on; from then on, its one id.
    made = [where(e) for e in passed].index(stored_at) if when == "before_start" else 0
    assert [e["run_id"] for e in passed] == [None] * made + [run_id] * (len(passed) - made)


@pytest.mark.parametrize("when", LOCKED)
def test_a_store_busy_until_the_run_ends_says_the_run_was_not_stored(when, tmp_path, quick_lock_waits):
    store = RunStore(tmp_path / "runs.sqlite")
    take_at = LOCKED[when][0]
    passed = []
    with WriteLock(store.path) as lock:
        if take_at is None:
            lock.take()
        for event in record(fake_fit(), store, {"lr": 0.1}, "never stored"):  # no exception escapes
            passed.append(event)
            if where(event) == take_at:
                lock.take()

    assert as_streamed(passed) == list(fake_fit())
    busy_at = {"before_start": "start", "mid_run": "epoch 2"}[when]
    assert notices_of(passed) == [(busy_at, "waiting"), ("end", "not_stored")]
    final = passed[-1]["store_notice"]
    assert final.startswith("The run store stayed busy until this run ended")
    assert final.endswith("To keep it in the store, train it again once the store is free.")
    assert "Traceback" not in final and "sqlite" not in final
    end = passed[-1]
    assert end["kind"] == "end" and end["status"] == "finished" and end["best_val_acc"] == pytest.approx(0.6)
    if when == "before_start":
        assert "this run was not stored" in final
        assert [e["run_id"] for e in passed] == [None] * len(passed)
        assert store.runs() == []  # the refused start left no half-made run behind
    else:
        run_id = end["run_id"]
        assert f"run #{run_id} was not stored to its end: the store keeps its first epoch" in final
        assert store.events(run_id) == list(fake_fit())[:6]  # start, 4 steps, epoch 1: what was written before
        assert [run["id"] for run in store.runs()] == [run_id]
        assert store.get(run_id)["status"] == "running"  # never closed: reads "interrupted" once this process ends


def test_a_busy_store_is_tried_again_less_and_less_often(tmp_path, monkeypatch):
    # A clock that the stream moves on by a second per event: the tries' times are known exactly.
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(recording, "time", types.SimpleNamespace(time=time.time, monotonic=lambda: clock.now))
    monkeypatch.setattr(runs, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(recording, "RETRY_WAIT_S", 0.01)
    monkeypatch.setattr(recording, "RETRY_AFTER_MAX_S", 10.0)  # RETRY_AFTER_S as it is: 2 s
    store = RunStore(tmp_path / "runs.sqlite")
    tries = []
    write_run = store.write_run

    def counted(*args, wait=None, **kwargs):
        tries.append((clock.now, wait))
        return write_run(*args, wait=wait, **kwargs)

    def slow_fit():
        for event in fake_fit(epochs=5):  # 27 events
            clock.now += 1
            yield event

    monkeypatch.setattr(store, "write_run", counted)
    with WriteLock(store.path) as lock:
        lock.take()
        passed = list(record(slow_fit(), store, {}, "locked throughout"))
    # The start waits the full time; later tries wait briefly, 2, 4, 8, then at most 10 s apart;
    # the end waits the full time again. Training is not held up by a try at every event.
    assert tries == [(0, 0.2), (2, 0.01), (6, 0.01), (14, 0.01), (24, 0.01), (27, 0.2)]
    assert [state for _, state in notices_of(passed)] == ["waiting", "not_stored"]
    assert as_streamed(passed) == list(fake_fit(epochs=5))


def test_a_busy_store_when_the_consumer_stops_is_a_warning_not_an_error(tmp_path, quick_lock_waits):
    store = RunStore(tmp_path / "runs.sqlite")
    with WriteLock(store.path) as lock:
        lock.take()
        stream = record(fake_fit(epochs=5), store, {}, "stopped while the store is busy")
        for event in stream:
            if event["kind"] == "epoch":
                break
        with pytest.warns(RuntimeWarning, match="stayed busy until this run ended.*was not stored"):
            stream.close()
    assert store.runs() == []

    # The same, freed before the consumer stops: the stopped run is stored whole, without a warning.
    with WriteLock(store.path) as lock:
        lock.take()
        stream = record(fake_fit(epochs=5), store, {}, "stopped after the store was freed")
        for event in stream:
            if event["kind"] == "epoch":
                lock.release()
                break
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stream.close()
    (run,) = store.runs()
    assert run["status"] == "stopped" and run["results"]["epochs"] == 1
    assert store.events(run["id"]) == list(fake_fit(epochs=5))[:6]


# --- runs whose process died -------------------------------------------------------------------------

DIES_MID_RUN = textwrap.dedent("""
    import os, signal, sys
    from tl_lessons.runs import RunStore
    store = RunStore(sys.argv[1])
    run_id = store.start({"lr": 0.1}, "killed")
    store.log(run_id, {"kind": "epoch", "epoch": 1, "val_acc": 0.4})
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_run_whose_process_was_killed_reads_as_interrupted_with_its_epochs(tmp_path):
    path = tmp_path / "runs.sqlite"
    child = subprocess.run([sys.executable, "-c", DIES_MID_RUN, str(path)], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    store = RunStore(path)
    (run,) = store.runs()
    assert run["status"] == "interrupted"
    assert run["results"]["epochs"] == 1 and run["results"]["best_val_acc"] == pytest.approx(0.4)
    assert "ended without closing" in run["message"]
    assert store.get(run["id"])["status"] == "interrupted"
    assert store.events(run["id"], "epoch") == [{"kind": "epoch", "epoch": 1, "val_acc": 0.4}]


def test_a_run_of_a_living_process_or_of_another_computer_is_running(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    store.start({}, "this process")
    elsewhere = store.start({}, "another computer")
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE runs SET host = 'a-computer-far-away', pid = 1 WHERE id = ?", (elsewhere,))
    assert {run["label"]: run["status"] for run in store.runs()} == {"this process": "running",
                                                                      "another computer": "running"}


def test_a_reused_process_id_does_not_keep_a_dead_run_running(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.start({}, "same pid, other process")
    with closing(sqlite3.connect(store.path)) as db, db:  # this pid, but a process that started earlier
        db.execute("UPDATE runs SET process_start = 'an earlier start' WHERE id = ?", (run_id,))
    assert store.get(run_id)["status"] == "interrupted"


def test_a_store_made_before_runs_had_owners_is_upgraded_in_place(tmp_path):
    path = tmp_path / "runs.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(runs.SCHEMA)  # the first layout, user_version 0
        db.execute("INSERT INTO runs (label, created, config, status) VALUES ('old', 1.0, '{}', 'running')")
    store = RunStore(path)
    assert store.get(1)["status"] == "running"  # no owner recorded: nothing to say it died
    store.start({}, "new")
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == runs.SCHEMA_VERSION
        assert db.execute("SELECT pid FROM runs WHERE label = 'new'").fetchone()[0] == os.getpid()


def test_exporting_into_a_folder_or_a_missing_folder_is_a_sentence(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    with pytest.raises(ConfigError, match="is a folder: give a file name"):
        store.export_csv(tmp_path)
    with pytest.raises(ConfigError, match="does not exist: create it"):
        store.export_csv(tmp_path / "missing" / "runs.csv")
