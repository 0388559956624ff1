"""Training in the background, in turns: what happens when a learner presses Train.

A `TrainingJob` runs `fit` in a thread and records it into the run store (`recording.record`); the
page polls it for the new events and redraws. Every browser session's jobs wait in one line
(`SHARED_LINE`) that lets `training_slots()` runs train at once, so a class pressing Train
together does not split the CPU twenty ways and crawl. Each job belongs to a learner (a token
the browser keeps), and `SHARED_REGISTRY` remembers whose job is whose, so a learner who
reloads the page, or closes the tab and comes back, finds their run and its Stop button again.

    >>> import dataclasses
    >>> from tl_lessons.data import load_dataset, task_split
    >>> from tl_lessons.models import build_model
    >>> train_set, val_set = task_split(load_dataset("synthetic10", "train"), per_class=5)
    >>> config = dataclasses.replace(train.PRESETS["quick"], epochs=1, batch_size=25)
    >>> job = TrainingJob(build_model("fastnet", 10), train_set, val_set, config, None, "scratch",
    ...                   learner="3fa9c2", line=TrainingLine(slots=1)).start()   # the page's line: SHARED_LINE
    >>> while not job.done:                     # what the page does, every REFRESH_S seconds
    ...     _ = job.poll(); time.sleep(0.1)
    >>> job.status, [event["kind"] for event in job.events if event["kind"] != "step"]
    ('finished', ['start', 'starting_point', 'epoch', 'predictions', 'end'])
"""
from __future__ import annotations

import dataclasses
import hashlib
import heapq
import math
import os
import queue
import sys
import threading
import time
import traceback

import torch

from tl_lessons import hardware, train
from tl_lessons.dashboard import classroom, learnt
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.recording import record
from tl_lessons.runs import MEMORY, RunStore

# A running job's view redraws this often: soon enough after Train that the first points show at
# once, rare enough to leave the CPU to training (the benchmark checks that the app costs at most
# 10 % of the speed). One rate for the whole run: changing it means rerunning the whole page
# (0.6-1 s on the development machine), which once delayed the first training point by that much.
REFRESH_S = 0.5
# A page whose run waits in line, or that has no run, has little to redraw, and every redraw costs the
# learner's browser far more than the server (docs/classroom.md): thirty pages that looked every few
# seconds took most of a two-core machine in the load test, and training the rest. So a page looks
# again slowly until its run is close to the front of the line, then often enough to see it start.
SOON_REFRESH_S = 3.0  # a waiting run that starts within SOON_S, or is next in line
SOON_S = 60.0
WAITING_REFRESH_S = 15.0
IDLE_REFRESH_S = 15.0
SLOTS_VARIABLE = "TL_LESSONS_TRAINING_SLOTS"


def refresh_every(job) -> float:
    """How often a learner's page looks at their run again: often while it trains, slowly otherwise.

    A waiting run is looked at often once it is next in line or due to start within a minute; a page
    changes its pace by redrawing itself whole, so the rates are a few fixed steps, not a smooth curve.

    >>> from types import SimpleNamespace as Job             # what it reads of a `TrainingJob`
    >>> no_times = Job(waits=lambda: [])                      # a line that cannot say yet when runs start
    >>> training = Job(done=False, status="running")
    >>> next_in_line = Job(done=False, status="waiting", ahead=1, line=no_times)
    >>> tenth_in_line = Job(done=False, status="waiting", ahead=10, line=no_times)
    >>> refresh_every(None), refresh_every(tenth_in_line), refresh_every(next_in_line), refresh_every(training)
    (15.0, 15.0, 3.0, 0.5)
    """
    if job is None or job.done:
        return IDLE_REFRESH_S
    if job.status != "waiting":
        return REFRESH_S
    starts = next((starts for waiting, starts, _ in job.line.waits() if waiting is job), None)
    soon = job.ahead <= 1 if starts is None else starts <= SOON_S
    return SOON_REFRESH_S if soon else WAITING_REFRESH_S


def run_threads() -> int:
    """Torch threads for each run the dashboard trains: `$TL_LESSONS_THREADS`, else every core but one.

    The spare core is for the page server and the browser. Torch's threads meet at the end of
    every operation, so when the browser takes the core of one of them, all of them wait; with a
    browser on the same two cores the lab's first run trained faster with one thread than with two
    (docs/classroom.md).

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_THREADS": "2"}):    # without it: 1 on a 2-core machine
    ...     run_threads()
    2
    """
    return hardware.thread_setting() or max(1, (os.cpu_count() or 1) - 1)


def training_slots() -> int:
    """How many runs train at once: `$TL_LESSONS_TRAINING_SLOTS`, else what the cores hold.

    Each run uses `run_threads()` threads, and one core is left to the page server, so the
    default is (cores - 1) // threads per run, at least 1: one run at a time unless a teacher
    gives each run fewer threads (on a 16-core server, TL_LESSONS_THREADS=2 makes 7 slots).

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"TL_LESSONS_TRAINING_SLOTS": "3"}):  # without it: 1 on a 2-core machine
    ...     training_slots()
    3
    """
    text = os.environ.get(SLOTS_VARIABLE, "").strip()
    if not text:
        return max(1, ((os.cpu_count() or 1) - 1) // run_threads())
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"{SLOTS_VARIABLE} must be a whole number of at least 1 (how many runs train at once), "
            f"not {text[:20]!r}: fix it and restart the dashboard."
        )
    return int(text)


# ---------------------------------------------------------------------------------------
# Whose job is it
# ---------------------------------------------------------------------------------------


def learner_id(token: str) -> str:
    """The learner a browser's token stands for, as stored with their runs (the token itself stays secret).

    >>> learner_id("q0Xk3...")
    '57c74f2f3002'
    """
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def learner_name(learner: str | None, you: str | None = None) -> str:
    """How a learner is named to others: "you", "learner 3fa9", or "another learner" when unknown.

    >>> learner_name("3fa9c2d81b07", you="3fa9c2d81b07"), learner_name("3fa9c2d81b07")
    ('you', 'learner 3fa9')
    """
    if learner is None:
        return "another learner"
    return "you" if learner == you else f"learner {learner[:4]}"


# ---------------------------------------------------------------------------------------
# The line
# ---------------------------------------------------------------------------------------


class TrainingLine:
    """Training runs take turns: `slots` of them train at once, the others wait in line.

    Two browser tabs that press Train together on a 2-core laptop would otherwise split the CPU
    and both crawl; waiting in line keeps each run as fast as it would be alone. The line also
    remembers how long a step of each kind of run took, to say how long a wait will be.

    >>> from types import SimpleNamespace as Job             # what the line reads of a `TrainingJob`
    >>> line = TrainingLine(slots=1)
    >>> jobs = [Job(learner=name, size=lambda: 1_000) for name in ("ada", "bo", "cy")]
    >>> for job in jobs:
    ...     line.join(job)
    >>> [line.ahead(job) for job in jobs]     # 0: training now; 2: two runs must end before it starts
    [0, 1, 2]
    """

    def __init__(self, slots: int | None = None, rules: classroom.ClassRules | None = None):
        self._slots = slots  # None: `training_slots()`, read when asked (the setting may be fixed meanwhile)
        self.rules = rules if rules is not None else classroom.ClassRules()
        self._jobs = []  # in the order they joined: the first `slots` train, the others wait
        self._changed = threading.Condition()
        self._pace = {}  # a kind of run -> seconds per step of the last run of that kind

    @property
    def slots(self) -> int:
        """How many runs train at once."""
        return self._slots if self._slots is not None else training_slots()

    def set_slots(self, slots: int | None):
        """The teacher's choice of how many runs train at once (None: back to what the cores hold)."""
        if slots is not None and (not isinstance(slots, int) or slots < 1):
            raise ConfigError("At least one run must be able to train: choose 1 or more.")
        with self._changed:
            self._slots = slots
            self._changed.notify_all()  # waiting runs look again: a slot may be theirs now

    def join(self, job):
        """Put a job at the end of the line, if the class's rules let it in (`classroom.ClassRules`).

        Checked here, on the server, under the line's lock, so that two tabs of one learner pressing
        Train together cannot both get in. Raises `TurnRefused` with the sentence why.
        """
        with self._changed:
            mine = job.learner is not None and any(other.learner == job.learner for other in self._jobs)
            refusal = self.rules.refusal(job.size(), learner_has_a_run=mine)
            if refusal:
                raise TurnRefused(refusal)
            self._jobs.append(job)

    def ahead(self, job) -> int:
        """How many runs must end before `job` trains (0 when it trains now, or has left)."""
        with self._changed:
            return max(0, self._jobs.index(job) - self.slots + 1) if job in self._jobs else 0

    def jobs(self) -> list:
        """Every job in the line, training ones first, then the waiting ones in order."""
        with self._changed:
            return list(self._jobs)

    def wait_turn(self, job, stop: threading.Event) -> bool:
        """Block until `job` may train; False (and out of the line) if it was stopped first."""
        with self._changed:
            while job in self._jobs:
                if self._jobs.index(job) < self.slots:
                    return True
                if stop.is_set():
                    break
                # Wake up now and then to notice a slot set free by a setting or a run that crashed.
                self._changed.wait(timeout=0.5)
            self._remove(job)
            return False

    def cancel(self, job) -> bool:
        """Take `job` out of the line if it has not started; True if it had not."""
        with self._changed:
            if job in self._jobs and self._jobs.index(job) >= self.slots:
                self._remove(job)
                return True
            return False

    def remove(self, job):
        """The teacher takes a job out: one still waiting leaves the line, one training is asked to stop."""
        if not self.cancel(job):
            job.stop()

    def leave(self, job):
        """Take a job out of the line (its run ended) and let the next one start."""
        with self._changed:
            self._remove(job)

    def _remove(self, job):
        if job in self._jobs:
            self._jobs.remove(job)
        self._changed.notify_all()

    def remember_pace(self, kind, seconds_per_step: float):
        """Keep how long a step of this kind of run took (see `TrainingJob.kind`)."""
        self._pace[kind] = seconds_per_step

    def pace(self, kind) -> float | None:
        """Seconds per step of the last run of this kind trained here (None: none yet)."""
        return self._pace.get(kind)

    def waits(self) -> list[tuple]:
        """(job, seconds until it starts, seconds it will take) for every job in line, None where unknown.

        Each slot frees when its run ends; a waiting run takes the first slot to free. A run's
        time comes from its own pace once it trains, else from the last run of its kind here.
        """
        jobs = self.jobs()
        slots = self.slots
        free_at = [0.0] * max(0, slots - min(slots, len(jobs)))  # slots nobody uses
        rows = []
        for place, job in enumerate(jobs):
            if place < slots:
                left = job.seconds_left()
                rows.append((job, 0.0, left))
                free_at.append(math.inf if left is None else left)
                continue
            heapq.heapify(free_at)
            starts = heapq.heappop(free_at)
            takes = job.seconds_left()
            rows.append((job, None if math.isinf(starts) else starts, takes))
            heapq.heappush(free_at, math.inf if takes is None else starts + takes)
        return rows


class TurnRefused(ConfigError):
    """A run the class's rules keep out of the line (the message says why and what to do)."""


# One line for the whole server process: every browser session trains through it, under the class's rules.
SHARED_LINE = TrainingLine(rules=classroom.SHARED_RULES)


# ---------------------------------------------------------------------------------------
# Whose jobs, across reloads
# ---------------------------------------------------------------------------------------


class JobRegistry:
    """Every learner's jobs in this server process: the unfinished ones and the latest that ended.

    A page that reloads starts a new session with empty session state; the learner's token
    (kept by the browser) finds their jobs here again.

    >>> from types import SimpleNamespace as Job             # what it reads of a `TrainingJob`
    >>> registry = JobRegistry()                              # the server's: SHARED_REGISTRY
    >>> job = Job(learner="3fa9c2d81b07", ended=False, ended_at=None, started_at=0.0, run_id=None)
    >>> registry.add(job)
    >>> registry.latest(job.learner) is job
    True
    """

    def __init__(self):
        self._jobs = {}  # learner -> jobs, oldest first
        self._lock = threading.Lock()

    def add(self, job):
        """Remember `job` under its learner; ended jobs older than the newest are forgotten, and so is a
        learner whose runs all ended over `FORGET_AFTER_S` ago (their runs are in the store)."""
        with self._lock:
            mine = self._jobs.setdefault(job.learner, [])
            mine.append(job)
            # Keep what a reload needs: runs still going, and the newest one (to show how it ended).
            self._jobs[job.learner] = [j for j in mine[:-1] if not j.ended] + [mine[-1]]
            now = time.monotonic()
            for learner, theirs in list(self._jobs.items()):
                if all(j.ended and now - j.ended_at > FORGET_AFTER_S for j in theirs):
                    del self._jobs[learner]

    def every(self) -> list:
        """Every remembered job of every learner (the teacher's view), oldest first."""
        with self._lock:
            return sorted((job for theirs in self._jobs.values() for job in theirs),
                          key=lambda job: job.started_at or 0.0)

    def of(self, learner) -> list:
        """The learner's remembered jobs, oldest first."""
        with self._lock:
            return list(self._jobs.get(learner, []))

    def latest(self, learner):
        """The learner's newest job (None when they have none in this server process)."""
        mine = self.of(learner)
        return mine[-1] if mine else None

    def live_run_ids(self) -> set[int]:
        """The stored runs this process is training now (a "running" run of this process not here was lost)."""
        with self._lock:
            return {job.run_id for jobs in self._jobs.values() for job in jobs
                    if not job.ended and job.run_id is not None}


# A learner's last run stays on their page for an hour after it ended; after that the page starts
# afresh and the run is found in the comparison (read from the store).
FORGET_AFTER_S = 3600.0
SHARED_REGISTRY = JobRegistry()


def shown_status(run: dict, live_run_ids: set[int]) -> str:
    """A stored run's status as the page shows it: a "running" run of this very process that
    no job trains any more (its thread was lost) is "interrupted", like one whose process died.

    >>> shown_status({"id": 4, "status": "running", "pid": os.getpid()}, live_run_ids=set())
    'interrupted'
    """
    if run["status"] == "running" and run.get("pid") == os.getpid() and run["id"] not in live_run_ids:
        return "interrupted"
    return run["status"]


# ---------------------------------------------------------------------------------------
# One job
# ---------------------------------------------------------------------------------------


class TrainingJob:
    """One `fit()` run in a background thread, stored in the run store as it goes.

    The thread puts every event in a queue; the page calls `poll()` a couple of times a second
    to take them and redraw. `stop()` asks `fit` to end after its current batch; the run is then
    stored as "stopped" with the epochs it finished; a job still waiting in line leaves it at
    once ("cancelled": nothing trained, nothing stored). `when_finished(model, end_event)` runs
    in the thread after a run that finished (e.g. to save a checkpoint); a dict it returns is added
    to the end event (e.g. the name the checkpoint got).

    Besides `fit`'s events, a job reports what the model does on validation images
    (`tl_lessons.dashboard.learnt`): a "starting point" event before the first step, and after
    each epoch a "predictions" event with its answers (`look_closer=False` leaves them out).

    >>> from tl_lessons.transfer_setup import TransferSetup, prepare
    >>> setup = TransferSetup(target="synthetic100", classes="far", per_class=5, epochs=1)
    >>> model, strategy, train_set, val_set, config = prepare(setup)
    >>> job = TrainingJob(model, train_set, val_set, config, strategy, "linear probe", setup.to_dict(),
    ...                   line=TrainingLine(slots=1))
    >>> _ = job.start().wait()
    >>> job.poll()[-1]["status"]
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
        store: RunStore | None = None,
        line: TrainingLine | None = None,
        when_finished=None,
        threads: int | None = None,
        learner: str | None = None,
        look_closer: bool = True,
    ):
        self.model, self.train_set, self.val_set = model, train_set, val_set
        self._size = config.epochs * len(train_set)  # kept: the training images leave memory when the run ends
        self._planned_steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
        self.config, self.strategy, self.label = config, strategy, label
        self.store = store if store is not None else RunStore(MEMORY)
        self.line = line or SHARED_LINE
        self.when_finished = when_finished
        self.threads = threads or run_threads()
        self.learner = learner
        self.look_closer = look_closer and val_set is not None
        self.run_config = {**(run_config if run_config is not None else {"label": label}), "learner": learner}
        if self.look_closer:
            self.run_config["validation"] = learnt.describe_images(val_set)
        self.events: list[dict] = []  # every event taken by poll(), in order
        self.end: dict | None = None
        self.run_id: int | None = None
        self.started_at: float | None = None
        self.ended = False  # set by the thread when it is done (`done` waits for the page to have seen the end)
        self.time_up = False  # set when the class's time limit stopped the run
        self.ended_at: float | None = None  # time.monotonic() when the thread was done
        self._run_id = None  # the worker's copy, for a "failed" event it makes itself
        self._total_steps = None  # from the "start" event
        self._first_step = self._last_step = None  # (step, elapsed) of the first and latest step events
        self._inbox = queue.SimpleQueue()
        self._polling = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"training: {label}", daemon=True)

    def start(self) -> TrainingJob:
        """Join the line and start the thread; returns the job."""
        self.started_at = time.monotonic()
        self.line.join(self)
        self._thread.start()
        return self

    def stop(self):
        """Ask the run to stop after its current batch; a job still waiting leaves the line at once."""
        self._stop.set()
        self.line.cancel(self)  # the worker, woken, then reports "cancelled"

    def poll(self) -> list[dict]:
        """Take the events produced since the last call (also appended to `self.events`).

        Two tabs of the same learner may poll one job: each event is taken once, in order.
        """
        with self._polling:
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

    def poll_until(self, kinds: tuple[str, ...], timeout: float) -> list[dict]:
        """`poll()`, and if no event of `kinds` (nor the end) has come yet, keep polling for up to `timeout` s.

        The page calls it while a run it has just started has drawn no point yet: the first point
        then comes with the redraw that follows Train, instead of with a later one.
        """
        new = self.poll()
        deadline = time.monotonic() + timeout
        while not any(event["kind"] in (*kinds, "end") for event in self.events) and time.monotonic() < deadline:
            time.sleep(0.02)
            new += self.poll()
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
    def ahead(self) -> int:
        """Runs that must end before this one trains (0 once it trains)."""
        return self.line.ahead(self)

    @property
    def status(self) -> str:
        """ "waiting", "running", or the end status ("finished", "stopped", "diverged", "failed", "cancelled")."""
        if self.end is not None:
            return self.end["status"]
        return "waiting" if self.ahead > 0 else "running"

    @property
    def kind(self) -> tuple:
        """What a step of this run costs depends on: the network, what trains, the batch, the threads."""
        return (self.config.arch, repr(self.strategy), self.config.batch_size, self.threads)

    def seconds_left(self) -> float | None:
        """How long until the run ends: its own pace once it has trained a little, else the last run
        of its kind here (None when neither is known yet)."""
        total = self._total_steps or self._planned_steps
        pace = self.pace() or self.line.pace(self.kind)
        if pace is None:
            return None
        done = self._last_step[0] if self._last_step else 0
        return max(0, total - done) * pace

    def pace(self) -> float | None:
        """Seconds per training step, measured between this run's step events (None before two of them).

        Measured from the first step on, so that what comes before it (computing the frozen
        stages' features once) does not count as if every step were that slow.
        """
        if self._first_step is None or self._last_step[0] <= self._first_step[0]:
            return None
        return (self._last_step[1] - self._first_step[1]) / (self._last_step[0] - self._first_step[0])

    # -- the worker thread -------------------------------------------------------------------

    def size(self) -> int:
        """What the run asks of the class's CPU: epochs × training images (`classroom.ClassRules`)."""
        return self._size

    def _time_up(self):
        """The class's time limit for a run has come: stop as a learner's Stop would (the curve is kept)."""
        self.time_up = True
        self._stop.set()

    def _work(self):
        limit = None
        try:
            if not self.line.wait_turn(self, self._stop):
                self._inbox.put(cancelled())
                return
            # The class's time limit counts training only, from the moment the run's turn comes.
            if self.line.rules.time_limit_s() is not None:
                limit = threading.Timer(self.line.rules.time_limit_s(), self._time_up)
                limit.daemon = True
                limit.start()
            # The worker owns its share of the CPU while its turn lasts; the page only polls the queue.
            torch.set_num_threads(self.threads)
            # ... and its share of the memory: runs that train side by side split the feature caches' room.
            self.config = dataclasses.replace(self.config, memory_share=1 / max(1, self.line.slots))
            for event in record(self._events(), self.store, self.run_config, self.label):
                self._run_id = event["run_id"]
                self._follow(event)
                if event["kind"] == "end" and event["status"] == "finished" and self.when_finished:
                    event = self._finish(event)
                if event["kind"] == "end" and event["status"] == "stopped" and self.time_up:
                    event = {**event, "message": self.line.rules.time_up_message(saves_at_end=self.when_finished is not None)}
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
            if limit is not None:
                limit.cancel()
            if self.pace() is not None:
                self.line.remember_pace(self.kind, self.pace())
            # An ended run keeps only what its page shows (its events, the validation images they point
            # into); the model and the training images it copied leave memory: the run is in the store.
            self.model = self.train_set = None
            self.ended_at = time.monotonic()
            self.ended = True
            self.line.leave(self)

    def _events(self):
        """`fit`'s events, with a closer look at the validation images when asked."""
        stream = train.fit(self.model, self.train_set, self.val_set, config=self.config, strategy=self.strategy,
                           stop=self._stop, report_predictions=self.look_closer)
        if not self.look_closer:
            return stream
        mean = self.config.mean if self.config.mean is not None else self.train_set.mean
        std = self.config.std if self.config.std is not None else self.train_set.std
        return learnt.closer_look(stream, self.model, self.val_set, mean, std)

    def _follow(self, event: dict):
        """Keep what the queue needs to know about this run's progress."""
        if event["kind"] == "start":
            self._total_steps = event["total_steps"]
        elif event["kind"] == "step":
            self._last_step = (event["step"], event["elapsed"])
            if self._first_step is None:
                self._first_step = self._last_step

    def _finish(self, event: dict) -> dict:
        """Run `when_finished`; what it returns (a dict) is added to the end event, its sentence to the message."""
        try:
            said = self.when_finished(self.model, event)
        except LessonError as error:
            return {**event, "message": f"{event.get('message') or ''} {error}".strip()}
        if not isinstance(said, dict):
            return event
        message = " ".join(part for part in (event.get("message"), said.get("message")) if part)
        return {**event, **said, "message": message}

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


def cancelled() -> dict:
    """The end of a job that left the line before its turn: nothing trained, nothing stored."""
    return {
        "kind": "end",
        "status": "cancelled",
        "message": "Taken out of the line before it started: nothing was trained or stored.",
        "elapsed": 0.0,
        "val_acc": None,
        "best_val_acc": None,
    }
