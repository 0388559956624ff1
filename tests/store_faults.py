"""Run stores with a fault, and a stand-in for fit's event stream, shared by the run-store and CLI tests.

    >>> with faulty_store("not_a_database", tmp_path) as (path, says):
    ...     RunStore(path)       # RunStoreError whose message matches the regular expression `says`
"""
import hashlib
import sqlite3
import threading
from contextlib import closing, contextmanager

import numpy as np

from disk_faults import fill, read_only, small_disk
from tl_lessons import runs
from tl_lessons.recording import record
from tl_lessons.runs import RunStore


def fake_fit(epochs=3, steps_per_epoch=4, fail_at=None, status="finished"):
    """A stand-in for train.fit's event stream (runs.py and recording.py must not depend on training)."""
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


def as_streamed(events):
    """The events without what record() adds to them: as the stream gave them."""
    return [{k: v for k, v in e.items() if k not in ("run_id", "store_notice", "store_state")} for e in events]


class WriteLock:
    """Another session's long write: a thread holding the store's write lock from `take()` to `release()`.

        >>> with WriteLock(path) as lock:
        ...     lock.take()      # returns once the lock is held: every write elsewhere now waits
        ...     lock.release()   # (or at the end of the block)
    """

    def __init__(self, path):
        self.path, self.thread = path, None
        self.held, self.free = threading.Event(), threading.Event()

    def take(self):
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()
        assert self.held.wait(10), "the other connection could not take the write lock"

    def _hold(self):
        with closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            db.execute("BEGIN EXCLUSIVE")
            self.held.set()
            self.free.wait()
            db.execute("ROLLBACK")

    def release(self):
        if self.thread is not None:
            self.free.set()
            self.thread.join(10)
            assert not self.thread.is_alive()
            self.thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def file_hash(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def healthy_store(path):
    """A store holding one finished run with two epochs."""
    store = RunStore(path)
    list(record(fake_fit(epochs=2), store, {"lr": 0.1}, "earlier run"))
    return path


@contextmanager
def faulty_store(kind, tmp_path):
    """A run store path with the fault `kind`; yields (path, what the message must say)."""
    path = tmp_path / "runs" / "runs.sqlite"
    path.parent.mkdir()
    if kind == "not_a_database":
        path.write_bytes(np.random.default_rng(0).bytes(8192))
        yield path, "is damaged.*move it aside"
    elif kind == "malformed":
        raw = bytearray(healthy_store(path).read_bytes())
        raw[4096:8192] = np.random.default_rng(0).bytes(4096)  # the second page: the runs table
        path.write_bytes(bytes(raw))
        yield path, "is damaged.*move it aside"
    elif kind == "folder_in_its_place":
        path.mkdir()
        yield path, "is a folder, not a run store file"
    elif kind == "newer_version":
        healthy_store(path)
        with closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA user_version = 99")
        yield path, "newer tl-lessons.*upgrade"
    elif kind == "unknown_required_column":
        # As a later version might make it: a column every new run must fill, which this one does not know.
        with closing(sqlite3.connect(path)) as db:
            db.executescript(runs.SCHEMA.replace("message  TEXT NOT NULL DEFAULT ''",
                                                 "message  TEXT NOT NULL DEFAULT '',\n    owner TEXT NOT NULL"))
            db.execute("INSERT INTO runs (label, created, config, status, owner) "
                       "VALUES ('earlier run', 1.0, '{}', 'finished', 'someone')")
            db.commit()
        yield path, "another version of tl-lessons.*owner"
    elif kind == "read_only_file":
        healthy_store(path)
        with read_only(path):
            yield path, "cannot be written.*read-only"
    elif kind == "read_only_folder":
        healthy_store(path)
        with read_only(path.parent):
            yield path, "cannot be written.*read-only"
    elif kind == "full_disk":
        with small_disk(path.parent):
            healthy_store(path)
            fill(path.parent)
            yield path, "full.*free some space"
    else:
        raise ValueError(kind)


STORE_FAULTS = ["not_a_database", "malformed", "folder_in_its_place", "newer_version", "unknown_required_column",
                "read_only_file", "read_only_folder", "full_disk"]
