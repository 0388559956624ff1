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

    >>> store = RunStore("runs/runs.sqlite")
    >>> for event in record(fit(model, train_set, val_set), store, config, "linear probe"):
    ...     print(event["kind"])
"""

import csv
import dataclasses
import json
import os
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path

STATUSES = ("running", "finished", "stopped", "diverged", "failed")
BUSY_TIMEOUT_S = 30.0
# Step events are written in batches: one commit per event would cost a disk sync each.
FLUSH_EVERY_S = 1.0

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


def default_path() -> Path:
    """Where runs are stored: `$TL_LESSONS_RUNS`, else `<repo>/runs/runs.sqlite`.

    >>> default_path().name
    'runs.sqlite'
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

    >>> store = RunStore()            # $TL_LESSONS_RUNS or <repo>/runs/runs.sqlite
    >>> [run["label"] for run in store.runs()]
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            # WAL is a property of the file: set once, every later connection uses it.
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self):
        """One short-lived connection, committed on success and always closed.

        >>> with store.connect() as db: db.execute("SELECT count(*) FROM runs").fetchone()
        """
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # In WAL mode NORMAL never corrupts the file; it only skips a disk sync per commit.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            with db:  # a transaction: commit at the end, roll back on error
                yield db

    def start(self, config, label: str) -> int:
        """Create a run in status "running" and return its id.

        >>> run_id = store.start({"lr": 0.1, "strategy": "linear_probe"}, "probe lr 0.1")
        """
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (label, created, config, status) VALUES (?, ?, ?, 'running')",
                (label, time.time(), to_json(config)),
            )
            return cursor.lastrowid

    def log(self, run_id: int, event: dict):
        """Store one event of a run (usually a "step" or "epoch" event from `fit`).

        >>> store.log(run_id, {"kind": "epoch", "epoch": 1, "val_acc": 0.52})
        """
        self.log_many(run_id, [event])

    def log_many(self, run_id: int, events: list[dict]):
        """Store several events in one transaction (much cheaper than one `log` each).

        >>> store.log_many(run_id, [{"kind": "step", "step": 1, "loss": 2.3}])
        """
        rows = [(run_id, e["kind"], e.get("step"), e.get("epoch"), to_json(e)) for e in events]
        with self.connect() as db:
            db.executemany(
                "INSERT INTO events (run_id, kind, step, epoch, payload) VALUES (?, ?, ?, ?, ?)", rows
            )

    def finish(self, run_id: int, status: str, results: dict, message: str = ""):
        """Close a run with its final status ("finished", "stopped", "diverged", "failed").

        >>> store.finish(run_id, "finished", {"val_acc": 0.61})
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        with self.connect() as db:
            db.execute(
                "UPDATE runs SET status = ?, results = ?, message = ?, ended = ? WHERE id = ?",
                (status, to_json(results), message or "", time.time(), run_id),
            )

    def runs(self) -> list[dict]:
        """Every run, newest first, with its config and results as dicts.

        >>> store.runs()[0]["status"]
        'finished'
        """
        with self.connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY id DESC").fetchall()
        return [run_as_dict(row) for row in rows]

    def get(self, run_id: int) -> dict:
        """One run as a dict; KeyError if there is none with that id.

        >>> store.get(run_id)["label"]
        'probe lr 0.1'
        """
        with self.connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"There is no run {run_id} in {self.path}.")
        return run_as_dict(row)

    def events(self, run_id: int, kind: str | None = None) -> list[dict]:
        """The stored events of a run, in the order they happened; only one kind if given.

        >>> [e["val_acc"] for e in store.events(run_id, "epoch")]
        [0.52]
        """
        query, params = "SELECT payload FROM events WHERE run_id = ?", [run_id]
        if kind is not None:
            query, params = query + " AND kind = ?", params + [kind]
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [json.loads(row["payload"]) for row in rows]

    def delete(self, run_id: int):
        """Remove a run and its events.

        >>> store.delete(run_id)
        """
        with self.connect() as db:
            db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def export_csv(self, path_or_file, run_ids=None):
        """Write one CSV row per epoch of each run, with the run's label, strategy and config.

        Open the file in a spreadsheet to compare runs side by side. `run_ids` picks the runs
        (default: all, oldest first). `path_or_file` is a file name or an open text file.

        >>> store.export_csv("runs.csv")
        """
        runs = self.runs()[::-1]
        if run_ids is not None:
            wanted = set(run_ids)
            runs = [run for run in runs if run["id"] in wanted]
        run_columns = ["run_id", "label", "strategy", "status"]
        epoch_columns = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "elapsed"]
        rows, config_columns = [], set()
        for run in runs:
            config = flatten(run["config"])
            config_columns.update(config)
            for event in self.events(run["id"], "epoch"):
                row = {"run_id": run["id"], "label": run["label"], "status": run["status"],
                       "strategy": strategy_name(run["config"])}
                row.update({column: event.get(column) for column in epoch_columns})
                row.update({f"config.{key}": value for key, value in config.items()})
                rows.append(row)
        columns = run_columns + epoch_columns + [f"config.{key}" for key in sorted(config_columns)]
        if isinstance(path_or_file, (str, os.PathLike)):
            with open(path_or_file, "w", newline="", encoding="utf-8") as file:
                write_rows(file, columns, rows)
        else:
            write_rows(path_or_file, columns, rows)


def write_rows(file, columns, rows):
    """CSV with a header line, then one line per row dict."""
    writer = csv.DictWriter(file, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def run_as_dict(row) -> dict:
    """A runs-table row as a dict, with config and results decoded from JSON."""
    run = dict(row)
    for key in ("config", "results"):
        run[key] = json.loads(run[key])
    return run


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


def record(stream, store: RunStore, config, label: str):
    """Pass a `fit()` stream through unchanged while storing it as a run.

    Every event is stored (step events in batches, at most every second). Each event handed
    on carries the new run's id as "run_id". The run ends as the stream's "end" event says;
    if the stream raises, the run is marked "failed" with the error and the error goes on;
    if the consumer stops early (breaks out of the loop), the run is marked "stopped" and
    keeps the epochs it has.

    >>> for event in record(fit(model, train_set), RunStore(), config, "scratch"):
    ...     pass
    """
    run_id = store.start(config, label)
    pending, epochs, last_flush = [], [], time.monotonic()
    ended = False
    try:
        for event in stream:
            pending.append(event)
            if event["kind"] == "epoch":
                epochs.append(event)
            if event["kind"] != "step" or time.monotonic() - last_flush > FLUSH_EVERY_S:
                store.log_many(run_id, pending)
                pending, last_flush = [], time.monotonic()
            if event["kind"] == "end":
                results = {**summary(epochs), **{k: v for k, v in event.items()
                                                 if k not in ("kind", "status", "message")}}
                store.finish(run_id, event["status"], results, event.get("message", ""))
                ended = True
            yield {**event, "run_id": run_id}
    except (GeneratorExit, KeyboardInterrupt):
        # The consumer left the loop (or the learner pressed interrupt): keep what was trained.
        store.log_many(run_id, pending)
        if not ended:
            store.finish(run_id, "stopped", summary(epochs), "Stopped before the end of training.")
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        raise
    except Exception as error:
        store.log_many(run_id, pending)
        store.finish(run_id, "failed", summary(epochs), f"{type(error).__name__}: {error}")
        raise
    if pending:
        store.log_many(run_id, pending)
    if not ended:
        # A stream without an "end" event (not from fit) still gets a closed run.
        store.finish(run_id, "finished", summary(epochs))
