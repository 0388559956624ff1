"""Training in the background, one run at a time: what happens when the learner presses Train.

A `TrainingJob` runs `fit` in a thread and records it into the run store (`runs.record`); the
page polls it every `REFRESH_S` seconds for the new events and redraws. Jobs of every browser
session wait in one line (`SHARED_LINE`), so two learners pressing Train together do not split
the CPU and both crawl.

    >>> job = TrainingJob(model, train_set, val_set, config, strategy, label="linear probe").start()
    >>> while not job.done:
    ...     job.poll(); time.sleep(REFRESH_S)
"""
from __future__ import annotations

import queue
import sys
import threading
import time
import traceback

import torch

from tl_lessons import train
from tl_lessons.errors import LessonError
from tl_lessons.runs import RunStore, record

# The page redraws a running job once a second: often enough to watch, rare enough to leave
# the CPU to training (the benchmark checks that the app costs at most 10 % of the speed).
REFRESH_S = 1.0


class TrainingLine:
    """Training runs take turns: one trains at a time in this process, the others wait in line.

    Two browser tabs that press Train together would otherwise split the CPU between two
    runs and both crawl; waiting in line keeps each run as fast as it would be alone.

    >>> line = TrainingLine()
    >>> line.position(job)     # 0: training now; 2: two runs ahead of it
    """

    def __init__(self):
        self._jobs = []  # the job training now first, then the waiting ones in order
        self._changed = threading.Condition()

    def join(self, job):
        """Put a job at the end of the line."""
        with self._changed:
            self._jobs.append(job)

    def position(self, job) -> int:
        """How many runs must finish before `job` trains (0 when it trains now or left)."""
        with self._changed:
            return self._jobs.index(job) if job in self._jobs else 0

    def wait_turn(self, job, stop: threading.Event) -> bool:
        """Block until `job` may train; False (and out of the line) if `stop` is set first."""
        with self._changed:
            while self._jobs.index(job) > 0:
                if stop.is_set():
                    self._jobs.remove(job)
                    self._changed.notify_all()
                    return False
                # Wake up now and then to notice a Stop pressed while waiting.
                self._changed.wait(timeout=0.2)
        return True

    def leave(self, job):
        """Take a job out of the line and let the next one start."""
        with self._changed:
            if job in self._jobs:
                self._jobs.remove(job)
            self._changed.notify_all()


# One line for the whole server process: every browser session trains through it.
SHARED_LINE = TrainingLine()


class TrainingJob:
    """One `fit()` run in a background thread, stored in the run store as it goes.

    The thread puts every event in a queue; the page calls `poll()` a couple of times a second
    to take them and redraw. `stop()` asks `fit` to end after its current batch; the run is then
    stored as "stopped" with the epochs it finished. `when_finished(model, end_event)` runs in
    the thread after a run that finished (e.g. to save a checkpoint).

    >>> job = TrainingJob(model, train_set, val_set, config, strategy, "linear probe", setup.to_dict())
    >>> job.start().wait(); job.poll()[-1]["status"]
    'finished'
    """

    def __init__(
        self,
        model,
        train_set,
        val_set,
        config,
        strategy,
        label: str,
        run_config: dict | None = None,
        store_path=None,
        line: TrainingLine | None = None,
        when_finished=None,
        threads: int | None = None,
    ):
        self.model, self.train_set, self.val_set = model, train_set, val_set
        self.config, self.strategy, self.label = config, strategy, label
        self.run_config = run_config if run_config is not None else {"label": label}
        self.store_path = store_path
        self.line = line or SHARED_LINE
        self.when_finished = when_finished
        self.threads = threads or train.cpu_threads()
        self.events: list[dict] = []  # every event taken by poll(), in order
        self.end: dict | None = None
        self.run_id: int | None = None
        self.started_at: float | None = None
        self._run_id = None  # the worker's copy, for a "failed" event it makes itself
        self._inbox = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"training: {label}", daemon=True)

    def start(self) -> TrainingJob:
        """Join the line and start the thread; returns the job."""
        self.started_at = time.monotonic()
        self.line.join(self)
        self._thread.start()
        return self

    def stop(self):
        """Ask the run to stop after its current batch (or to leave the line if it waits)."""
        self._stop.set()

    def poll(self) -> list[dict]:
        """Take the events produced since the last call (also appended to `self.events`)."""
        new = []
        while True:
            try:
                new.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for event in new:
            self.run_id = event.get("run_id", self.run_id)
            if event["kind"] == "end":
                self.end = event
        self.events += new
        return new

    def wait(self, timeout: float | None = None) -> TrainingJob:
        """Block until the thread ends (or `timeout` seconds pass); returns the job."""
        self._thread.join(timeout)
        return self

    @property
    def done(self) -> bool:
        """True once `poll()` has taken the run's "end" event."""
        return self.end is not None

    @property
    def position(self) -> int:
        """Runs ahead of this one in the line (0 once it trains)."""
        return self.line.position(self)

    @property
    def status(self) -> str:
        """ "waiting", "running", or the end status ("finished", "stopped", "diverged", "failed")."""
        if self.end is not None:
            return self.end["status"]
        return "waiting" if self.position > 0 else "running"

    def _work(self):
        try:
            if not self.line.wait_turn(self, self._stop):
                self._inbox.put(
                    {
                        "kind": "end",
                        "status": "stopped",
                        "message": "Stopped before it started.",
                        "elapsed": 0.0,
                        "val_acc": None,
                        "best_val_acc": None,
                    }
                )
                return
            # The worker owns the CPU while its turn lasts; the page only polls the queue.
            torch.set_num_threads(self.threads)
            store = RunStore(self.store_path)
            stream = train.fit(
                self.model, self.train_set, self.val_set, config=self.config, strategy=self.strategy, stop=self._stop
            )
            for event in record(stream, store, self.run_config, self.label):
                self._run_id = event["run_id"]
                if event["kind"] == "end" and event["status"] == "finished" and self.when_finished:
                    event = self._finish(event)
                self._inbox.put(event)
        except LessonError as error:
            self._inbox.put(self._failed(str(error)))
        except Exception as error:  # a bug: keep the page alive, show it, print the traceback
            traceback.print_exc(file=sys.stderr)
            self._inbox.put(
                self._failed(
                    f"Training stopped on an unexpected error ({type(error).__name__}: "
                    f"{error}); this is a bug in tl-lessons, please report it."
                )
            )
        finally:
            self.line.leave(self)

    def _finish(self, event: dict) -> dict:
        try:
            self.when_finished(self.model, event)
        except LessonError as error:
            return {**event, "message": f"{event.get('message') or ''} {error}".strip()}
        return event

    def _failed(self, message: str) -> dict:
        return {
            "kind": "end",
            "status": "failed",
            "message": message,
            "elapsed": None,
            "val_acc": None,
            "best_val_acc": None,
            "run_id": self._run_id,
        }
