"""The run store: every training run, its settings and its curves, in one SQLite file.

A run is one call of `train.fit`. The store keeps a row per run (label, settings, status,
results) and a row per event of its stream (steps, epochs, the end), so the dashboard, the
notebooks and the command line can list past runs, draw their curves and compare them.

SQLite is a single file that needs no server. Two habits make it safe to share:

* **WAL mode** ("write-ahead log") lets readers read while a writer writes, and a
  **busy timeout** makes a second writer wait its turn instead of failing with
  "database is locked". So two processes (a notebook and the dashboard) can record at once.
* **A connection per call.** Streamlit runs each page in its own thread and a SQLite
  connection must not be shared between threads, so every method opens its own.

    >>> store = RunStore(":memory:")             # a chapter's: RunStore("runs/runs.sqlite")
    >>> run_id = store.start({"lr": 0.1, "strategy": "linear_probe"}, "linear probe")
    >>> store.finish(run_id, "finished", {"val_acc": 0.61})
    >>> [(run["label"], run["status"]) for run in store.runs()]
    [('linear probe', 'finished')]

Runs get into the store while they train: `tl_lessons.recording.record` passes a `fit` stream on
and writes it here as it goes. This module only keeps the file: makes it, writes what it is given
(a run and its events, all or nothing), reads it back, and exports it as CSV.

Losing a learner's work is worse than not storing a run, so faults are handled like this:

* **A store that cannot be used** (a read-only or damaged file, a full disk, a store made by a
  newer tl-lessons) raises `RunStoreError` when it is opened, with a sentence that says what to
  do, and the file is left exactly as it was. `open_store` then hands out a store in memory
  instead, so training goes on.
* **A store that is busy or fails during a run** raises `RunStoreBusy` or `RunStoreError` from
  the write and stores nothing of it; `recording.record` then keeps the points for a later try, or
  stops storing, and training goes on (its docstring tells how).
* **A run whose process died** (killed, or the computer stopped) cannot close itself. Each run
  remembers the process recording it, so a "running" run whose process is gone reads as
  "interrupted", with the epochs it stored.
"""

import csv
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

from tl_lessons.errors import ConfigError, RunStoreError

STATUSES = ("running", "finished", "stopped", "diverged", "failed")
# Never stored: how a "running" run reads once the process that recorded it has gone.
INTERRUPTED = "interrupted"
# How long a write waits for another writer's lock before it gives up (`RunStoreBusy`);
# `recording` waits as long too, except for its quick retries while the store is busy.
BUSY_TIMEOUT_S = 30.0
# The path that asks for a store in memory, as with sqlite3.connect(":memory:").
MEMORY = ":memory:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    label    TEXT NOT NULL,
    created  REAL NOT NULL,
    ended    REAL,
    config   TEXT NOT NULL,
    status   TEXT NOT NULL,
    results  TEXT NOT NULL DEFAULT '{}',
    message  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    step     INTEGER,
    epoch    INTEGER,
    payload  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, kind, id);
"""

# The layout's version lives in SQLite's `user_version`. MIGRATIONS[v] brings a store of version
# v to v + 1; a new store is made with SCHEMA and then every migration, so old and new end alike.
MIGRATIONS = [
    # 1: the process recording each run, to tell a run in progress from one whose process died.
    "ALTER TABLE runs ADD COLUMN pid INTEGER; ALTER TABLE runs ADD COLUMN host TEXT; "
    "ALTER TABLE runs ADD COLUMN process_start TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)
# The columns this version fills when it adds a row. A store with another required column (one
# a later version added) would refuse every new row, so it is refused when opened instead.
RUN_COLUMNS = ("label", "created", "config", "status", "pid", "host", "process_start")
EVENT_COLUMNS = ("run_id", "kind", "step", "epoch", "payload")


class RunStoreBusy(RunStoreError):
    """Another writer kept the run store locked for longer than the write would wait: a later try may succeed."""


def default_path() -> Path:
    """Where runs are stored: `$TL_LESSONS_RUNS`, else `<repo>/runs/runs.sqlite`.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_RUNS": "/srv/class/runs.sqlite"}):
    ...     default_path()
    PosixPath('/srv/class/runs.sqlite')
    """
    if os.environ.get("TL_LESSONS_RUNS"):
        return Path(os.environ["TL_LESSONS_RUNS"])
    return Path(__file__).resolve().parent.parent / "runs" / "runs.sqlite"


def to_json(value) -> str:
    """JSON text for a config, a result or an event; dataclasses (TrainConfig, Strategy) become dicts.

    >>> to_json({"lr": 0.1})
    '{"lr": 0.1}'
    """
    def plain(obj):
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, Path):
            return str(obj)
        if hasattr(obj, "item"):  # a 0-d tensor or numpy scalar slipped into an event
            return obj.item()
        raise TypeError(f"{type(obj).__name__} cannot be stored in the run store")

    return json.dumps(value, default=plain)


class RunStore:
    """A SQLite file of training runs and their events.

    `RunStoreError` when the file cannot be used, before anything is written to it.
    `write=False` only reads (and so also reads a store in a read-only folder);
    `RunStore(":memory:")` keeps its runs in memory until the program ends.

    >>> store = RunStore(":memory:")            # RunStore(): $TL_LESSONS_RUNS or <repo>/runs/runs.sqlite
    >>> store.runs()
    []
    """

    def __init__(self, path=None, write: bool = True):
        if path == MEMORY:
            self.path = None
            # One connection for the store's life (a second would see another, empty database),
            # shared by threads one at a time.
            self._memory = sqlite3.connect(MEMORY, check_same_thread=False)
            self._memory.row_factory = sqlite3.Row
            self._memory_lock = threading.Lock()
            self._prepare()
            return
        self._memory = None
        self.path = Path(path) if path is not None else default_path()
        if self.path.is_dir():
            raise RunStoreError(
                f"The run store {self.path} is a folder, not a run store file: move it aside, or set "
                f"TL_LESSONS_RUNS to a file such as {self.path / 'runs.sqlite'}."
            )
        self._uri = self.path.resolve().as_uri()  # reading adds ?mode=ro (or ?immutable=1)
        if write:
            self._make()
        else:
            self._open_for_reading()

    def _make(self):
        """Open the file for writing, making it (and its folder) when it is not there yet."""
        existed = self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunStoreError(
                f"The folder {self.path.parent} for the run store cannot be made ({error.strerror}): "
                "set TL_LESSONS_RUNS to a file in a folder you can write to."
            ) from error
        try:
            self._prepare()
        except RunStoreError:
            if not existed:  # a store this call began to make (on a full disk, say): leave nothing behind
                for leftover in (self.path, *sidecars(self.path)):
                    leftover.unlink(missing_ok=True)
            raise

    def _prepare(self):
        """Check that the store can be used, then make its tables or bring an older layout up to date.

        The checks come first and only read, so a store that cannot be used is left untouched.
        """
        with self.connect() as db:
            read_where_runs_are_written(db)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RunStoreError(
                    f"The run store {self.path} was written by a newer tl-lessons (layout {version}; this "
                    f"one knows up to {SCHEMA_VERSION}): upgrade tl-lessons, or set TL_LESSONS_RUNS to another file."
                )
            check_columns(db, self.path)
            # WAL is a property of the file: set once, every later connection uses it.
            db.execute("PRAGMA journal_mode=WAL")
            if version == SCHEMA_VERSION:
                # Prove that the file can be written before a run counts on it, without changing it.
                db.execute("BEGIN IMMEDIATE")
                db.execute(f"PRAGMA user_version = {version}")
                db.rollback()
                return
            db.executescript(SCHEMA)
            for step in range(version, SCHEMA_VERSION):
                # One transaction per step: a step is done completely or not at all.
                db.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")

    def _open_for_reading(self):
        """Open the file read-only; where that fails (a read-only folder, a full disk), read it as it is."""
        for mode in ("mode=ro", "immutable=1"):
            self._uri = f"{self.path.resolve().as_uri()}?{mode}"
            try:
                with self.connect() as db:
                    db.execute("SELECT count(*) FROM runs").fetchone()
                return
            except RunStoreError:
                # Reading a WAL store takes a "-shm" file beside it, which a read-only folder or a
                # full disk cannot hold. Without one, nobody can be writing the store either, so
                # "immutable" may read the file as it is on disk.
                if mode != "mode=ro" or not self.path.is_file():
                    raise

    @contextmanager
    def connect(self, wait: float | None = None):
        """One short-lived connection, committed on success and always closed.

        SQLite's errors come out as `RunStoreError` sentences; a store that another writer keeps
        locked for longer than `wait` seconds (default BUSY_TIMEOUT_S) as `RunStoreBusy`.

        >>> store = RunStore(":memory:")
        >>> with store.connect() as db:
        ...     db.execute("SELECT count(*) FROM runs").fetchone()[0]
        0
        """
        wait = BUSY_TIMEOUT_S if wait is None else wait
        try:
            with self._connection(wait) as db, db:  # `with db`: commit at the end, roll back on error
                yield db
        except sqlite3.Error as error:
            raise store_problem(error, self.path, wait) from error

    @contextmanager
    def _connection(self, wait: float):
        if self._memory is not None:
            with self._memory_lock:
                yield self._memory
            return
        with closing(sqlite3.connect(self._uri, uri=True, timeout=wait)) as db:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            # In WAL mode NORMAL never corrupts the file; it only skips a disk sync per commit.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db

    def start(self, config, label: str) -> int:
        """Create a run in status "running", owned by this process, and return its id.

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1, "strategy": "linear_probe"}, "probe lr 0.1")
        >>> store.get(run_id)["status"], store.get(run_id)["pid"] == os.getpid()
        ('running', True)
        """
        return self.write_run(None, row=run_row(config, label))

    def log(self, run_id: int, event: dict):
        """Store one event of a run (usually a "step" or "epoch" event from `fit`).

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> store.log(run_id, {"kind": "epoch", "epoch": 1, "val_acc": 0.52})
        """
        self.log_many(run_id, [event])

    def log_many(self, run_id: int, events: list[dict]):
        """Store several events in one transaction (much cheaper than one `log` each).

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> store.log_many(run_id, [{"kind": "step", "step": 1, "loss": 2.3}, {"kind": "step", "step": 2, "loss": 2.2}])
        >>> len(store.events(run_id, "step"))
        2
        """
        self.write_run(run_id, events)

    def finish(self, run_id: int, status: str, results: dict, message: str = ""):
        """Close a run with its final status ("finished", "stopped", "diverged", "failed").

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> store.finish(run_id, "finished", {"val_acc": 0.61})
        >>> store.get(run_id)["status"]
        'finished'
        """
        self.write_run(run_id, end=(status, results, message, time.time()))

    def write_run(self, run_id: int | None, events=(), row: tuple | None = None, end: tuple | None = None,
                  wait: float | None = None) -> int:
        """Write part of a run in one transaction, all of it or nothing, and return the run's id.

        When `run_id` is None the run is made first, from `row` (`run_row(config, label)`); then
        `events` are added in order; then `end` = (status, results, message, ended) closes the run.
        A write that fails (`RunStoreError`; `RunStoreBusy` when another writer kept the store locked
        for longer than `wait` seconds) leaves the store as it was, so the same write can be tried again
        later without a half-made run or an event stored twice.

        >>> store = RunStore(":memory:")
        >>> run_id = store.write_run(None, [{"kind": "start"}], row=run_row({"lr": 0.1}, "probe"))
        >>> [event["kind"] for event in store.events(run_id)]
        ['start']
        """
        if run_id is None and row is None:
            raise ValueError("write_run needs the run's row to make a new run")
        if end is not None and end[0] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {end[0]!r}")
        rows = [(e["kind"], e.get("step"), e.get("epoch"), to_json(e)) for e in events]
        with self.connect(wait) as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: a busy store fails here, before any write
            if run_id is None:
                run_id = db.execute(insert("runs", RUN_COLUMNS), row).lastrowid
            db.executemany(insert("events", EVENT_COLUMNS), [(run_id, *values) for values in rows])
            if end is not None:
                status, results, message, ended = end
                db.execute("UPDATE runs SET status = ?, results = ?, message = ?, ended = ? WHERE id = ?",
                           (status, to_json(results), message or "", ended, run_id))
        return run_id

    def runs(self) -> list[dict]:
        """Every run, newest first, with its config and results as dicts.

        >>> store = RunStore(":memory:")
        >>> first, second = store.start({"lr": 0.1}, "first"), store.start({"lr": 0.3}, "second")
        >>> store.finish(first, "finished", {})
        >>> [(run["label"], run["status"]) for run in store.runs()]
        [('second', 'running'), ('first', 'finished')]
        """
        with self.connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY id DESC").fetchall()
            return [as_run(row, db) for row in rows]

    def get(self, run_id: int) -> dict:
        """One run as a dict; KeyError if there is none with that id.

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe lr 0.1")
        >>> store.get(run_id)["label"], store.get(run_id)["config"]
        ('probe lr 0.1', {'lr': 0.1})
        """
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"There is no run {run_id} in {self.path or 'this store'}.")
            return as_run(row, db)

    def events(self, run_id: int, kind: str | None = None) -> list[dict]:
        """The stored events of a run, in the order they happened; only one kind if given.

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> store.log_many(run_id, [{"kind": "step", "step": 1, "loss": 2.3},
        ...                         {"kind": "epoch", "epoch": 1, "val_acc": 0.52}])
        >>> [e["val_acc"] for e in store.events(run_id, "epoch")]
        [0.52]
        """
        with self.connect() as db:
            return stored_events(db, run_id, kind)

    def delete(self, run_id: int):
        """Remove a run and its events.

        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> store.delete(run_id)
        >>> store.runs()
        []
        """
        with self.connect() as db:
            db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def export_csv(self, path_or_file, run_ids=None, view=None):
        """Write one CSV row per epoch of each run, with the run's label, strategy and config.

        Open the file in a spreadsheet to compare runs side by side. A run that ended before its
        first epoch (it diverged at once, or was stopped) has its step events instead, so it does
        not vanish; a run that did not finish gets one more row, kind "end", with the step it
        ended at and its message. `run_ids` picks the runs (default: all, oldest first).
        `path_or_file` is a file name or an open text file. `view` turns each run into what the
        reader may see of it (the dashboard's `charts.as_seen_by`: no other learner's id, no server path).

        >>> import io
        >>> store = RunStore(":memory:")
        >>> run_id = store.start({"lr": 0.1}, "probe")
        >>> csv = io.StringIO()                     # or a file name: store.export_csv("runs.csv")
        >>> store.export_csv(csv)
        >>> csv.getvalue().splitlines()[0]
        'run_id,label,strategy,status,kind,epoch,step,train_loss,train_acc,val_loss,val_acc,elapsed,message,config.lr'
        """
        if isinstance(path_or_file, (str, os.PathLike)):
            check_export_path(Path(path_or_file))
        runs = self.runs()[::-1]
        if run_ids is not None:
            wanted = set(run_ids)
            runs = [run for run in runs if run["id"] in wanted]
        if view is not None:
            runs = [view(run) for run in runs]
        run_columns = ["run_id", "label", "strategy", "status", "kind"]
        epoch_columns = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "elapsed", "message"]
        rows, config_columns = [], set()
        for run in runs:
            config = flatten(run["config"])
            config_columns.update(config)
            about = {"run_id": run["id"], "label": run["label"], "status": run["status"],
                     "strategy": strategy_name(run["config"]),
                     **{f"config.{key}": value for key, value in config.items()}}
            ended_early = run["status"] not in ("finished", "running")  # diverged, stopped, failed, interrupted
            epochs = self.events(run["id"], "epoch")
            steps = self.events(run["id"], "step") if ended_early or not epochs else []
            rows += [{**about, **csv_columns(event)} for event in epochs or steps]
            if ended_early:
                last = steps[-1] if steps else {}
                rows.append({**about, "kind": "end", "epoch": last.get("epoch"), "step": last.get("step"),
                             "message": run["message"]})
        columns = run_columns + epoch_columns + [f"config.{key}" for key in sorted(config_columns)]
        if isinstance(path_or_file, (str, os.PathLike)):
            try:
                with open(path_or_file, "w", newline="", encoding="utf-8") as file:
                    write_rows(file, columns, rows)
            except OSError as error:
                raise ConfigError(f"Could not write {path_or_file} ({error.strerror}): choose another file "
                                  "or free some space.") from error
        else:
            write_rows(path_or_file, columns, rows)


def csv_columns(event: dict) -> dict:
    """An epoch or step event as a row of `RunStore.export_csv` (a step's loss is its training loss)."""
    return {"kind": event["kind"], "epoch": event.get("epoch"), "step": event.get("step"),
            "train_loss": event.get("train_loss", event.get("loss")), "train_acc": event.get("train_acc"),
            "val_loss": event.get("val_loss"), "val_acc": event.get("val_acc"), "elapsed": event.get("elapsed")}


def check_export_path(path: Path):
    """A CSV file name in a folder that exists, or ConfigError saying what to give instead."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder: give a file name for the CSV, for example {path / 'runs.csv'}.")
    if not path.parent.is_dir():
        raise ConfigError(f"The folder {path.parent} does not exist: create it first, or give a CSV file "
                          "in a folder that exists.")


def run_row(config, label: str) -> tuple:
    """The values of RUN_COLUMNS for a new run in status "running", owned by this process, made now."""
    pid = os.getpid()
    return (label, time.time(), to_json(config), "running", pid, socket.gethostname(), process_start(pid))


def insert(table: str, columns: tuple[str, ...]) -> str:
    """The INSERT statement of `columns` into `table`, with one ? per value."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def sidecars(path: Path) -> list[Path]:
    """The files SQLite keeps beside a WAL store while it is open: its log and shared memory."""
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def read_where_runs_are_written(db):
    """Read the pages a new run touches, so that a damaged store fails here, before any write.

    SQLite raises on the first damaged page it reads. (PRAGMA quick_check would read every page,
    which takes longer the more runs a learner keeps: here only the runs table and the end of the
    events are read.)
    """
    tables = {row["name"] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "runs" in tables:
        db.execute("SELECT count(*) FROM runs").fetchone()
    if "events" in tables:
        db.execute("SELECT * FROM events ORDER BY id DESC LIMIT 1").fetchone()


def check_columns(db, path):
    """RunStoreError for a required column (NOT NULL, no default) that this version never fills."""
    for table, known in (("runs", RUN_COLUMNS), ("events", EVENT_COLUMNS)):
        for column in db.execute(f"PRAGMA table_info({table})"):
            if column["notnull"] and column["dflt_value"] is None and not column["pk"] \
                    and column["name"] not in known:
                raise RunStoreError(
                    f"The run store {path} was written by another version of tl-lessons (its {table} "
                    f"need a value for '{column['name']}', which this one does not know): upgrade "
                    "tl-lessons, or set TL_LESSONS_RUNS to another file."
                )


def damaged(path, why: str) -> RunStoreError:
    """The error for a store file SQLite cannot read."""
    name = path.name if path else "runs.sqlite"
    return RunStoreError(
        f"The run store {path} is damaged ({why}): move it aside (for example rename it to "
        f"{name}.broken) so that a new one is made, or set TL_LESSONS_RUNS to another file."
    )


def store_problem(error: sqlite3.Error, path, wait: float = BUSY_TIMEOUT_S) -> RunStoreError:
    """The learner's sentence for an error SQLite raised on the store at `path` (having waited `wait` s for locks)."""
    # Python 3.11 names the error (SQLITE_FULL, ...); older ones only have the message's words.
    code, text = getattr(error, "sqlite_errorname", ""), str(error)
    elsewhere = "or set TL_LESSONS_RUNS to another file"
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return RunStoreError(f"The run store {path} cannot be written (it or its folder is read-only): make it "
                             f"writable, {elsewhere} in a folder you can write to.")
    if code.startswith("SQLITE_FULL") or "disk is full" in text:
        return RunStoreError(f"The disk holding the run store {path} is full: free some space there, "
                             f"{elsewhere} on another disk.")
    if code.startswith("SQLITE_IOERR") or "disk I/O" in text:
        return RunStoreError(f"The run store {path} could not be written to its disk ({text}; is the disk "
                             f"full?): free some space there, {elsewhere} on another disk.")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return damaged(path, text)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return RunStoreBusy(f"The run store {path} stayed locked by another program for {wait:g} s: "
                            f"let its run (in a notebook or the dashboard) finish, {elsewhere}.")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if path is not None and path.parent.is_dir() and not os.access(path.parent, os.W_OK):
            return RunStoreError(f"The run store {path} cannot be written (its folder is read-only): make "
                                 f"{path.parent} writable, {elsewhere} in a folder you can write to.")
        return RunStoreError(f"The run store {path} cannot be opened: check that its folder exists and can be "
                             f"written, {elsewhere}.")
    return RunStoreError(f"The run store {path} cannot be used ({text}): move it aside, {elsewhere}.")


def write_rows(file, columns, rows):
    """CSV with a header line, then one line per row dict."""
    writer = csv.DictWriter(file, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def decoded(text):
    """A JSON text as Python values, or None when it is not JSON (a damaged row)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def run_as_dict(row) -> dict:
    """A runs-table row as a dict, with config and results decoded from JSON.

    A value that is not a JSON object (a damaged row, another program's) reads as {} and is named
    in "unreadable", so that one bad row does not hide the others.
    """
    run = dict(row)
    run["unreadable"] = []
    for key in ("config", "results"):
        run[key] = decoded(run[key])
        if not isinstance(run[key], dict):
            run["unreadable"].append(key)
            run[key] = {}
    return run


def stored_events(db, run_id: int, kind: str | None = None) -> list[dict]:
    """The events of a run in the order they happened, skipping any that cannot be read."""
    query, params = "SELECT payload FROM events WHERE run_id = ?", [run_id]
    if kind is not None:
        query, params = query + " AND kind = ?", params + [kind]
    events = [decoded(row["payload"]) for row in db.execute(query + " ORDER BY id", params)]
    return [event for event in events if isinstance(event, dict)]


def as_run(row, db) -> dict:
    """A runs-table row as a dict; a "running" run whose process has gone reads as "interrupted"."""
    run = run_as_dict(row)
    if run["status"] == "running" and recorder_gone(run):
        run["status"] = INTERRUPTED
        run["results"] = {**summary(stored_events(db, run["id"], "epoch")), **run["results"]}
        run["message"] = (f"The process that recorded this run (pid {run['pid']}) ended without closing it "
                          "(it was killed, or the computer stopped); the epochs it stored are kept.")
    return run


def process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux), or None when it has ended.

    Process ids are reused, so a pid names one process only together with its start time.
    Systems without /proc (macOS, Windows) give None.

    >>> process_start(os.getpid())      # clock ticks from boot to the process's start (from /proc)
    '...'
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 of proc(5), counted after the command name (which may hold spaces and brackets).
    state, *fields = stat.rsplit(")", 1)[1].split()
    return None if state == "Z" else fields[18]  # "Z": a zombie has ended, only its exit status is left


def recorder_gone(run: dict) -> bool:
    """True when the process that recorded `run` has certainly ended.

    Only a process on this computer can be checked; a run from an older store (no owner) or from
    another computer is never called gone.
    """
    if run.get("pid") is None or run.get("host") != socket.gethostname():
        return False
    if run.get("process_start") is not None:
        return process_start(run["pid"]) != run["process_start"]
    if os.name != "posix":
        return False  # os.kill(pid, 0) would end the process on Windows, not just look for it
    try:
        os.kill(run["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, run by another user
        pass
    return False


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested settings as one level of dotted keys: {"strategy": {"k": 2}} -> {"strategy.k": 2}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (list, tuple)):
            flat[f"{prefix}{key}"] = json.dumps(value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def strategy_name(config: dict) -> str:
    """The strategy of a run as one word, whether the config holds a name or a Strategy dict."""
    strategy = config.get("strategy")
    if isinstance(strategy, dict):
        return strategy.get("name", "")
    return strategy or "scratch"


def summary(epochs: list[dict]) -> dict:
    """What a run reached, from its epoch events: epochs done, last and best validation accuracy."""
    accuracies = [e["val_acc"] for e in epochs if e.get("val_acc") is not None]
    return {
        "epochs": len(epochs),
        "val_acc": accuracies[-1] if accuracies else None,
        "best_val_acc": max(accuracies) if accuracies else None,
    }


def open_store(path=None) -> tuple[RunStore, str | None]:
    """The run store at `path` and None, or, when it cannot be used, a store in memory and why.

    Training then goes on as usual, but its runs are gone when the program ends; the sentence
    says what to do about the file.

    >>> store, notice = open_store("/proc/runs.sqlite")          # a folder nobody can write to
    >>> print(notice)
    The run store /proc/runs.sqlite cannot be opened: check that its folder exists and can be written, ...
    >>> store.runs()                                               # training goes on, into memory
    []
    """
    try:
        return RunStore(path), None
    except RunStoreError as error:
        return RunStore(MEMORY), (f"{error} Until then, runs are not stored: they train as usual "
                                  "but are gone when this program ends.")
