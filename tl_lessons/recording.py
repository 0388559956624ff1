"""Recording a run: a `train.fit` stream passed on unchanged while it is written into the run store.

Training reports everything it does as a stream of events (start, steps, epochs, the end).
`record` stands between that stream and whoever reads it (a notebook's progress bar, the command
line, the dashboard): each event is handed on as it comes and, on the way, written into a
`RunStore` (see `tl_lessons.runs`, which keeps the file), so the run can be listed, drawn and
compared later.

    >>> import dataclasses
    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.train import PRESETS, fit
    >>> train_set = per_class_subset(load_dataset("synthetic10", "train"), 5)       # 50 images
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=2, batch_size=25)
    >>> store = RunStore(":memory:")              # a chapter's: RunStore("runs/runs.sqlite")
    >>> for event in record(fit(build_model("fastnet", 10), train_set, None, config), store, config, "scratch"):
    ...     if event["kind"] != "step":           # steps come as often as time allows
    ...         print(event["kind"], event["run_id"])
    start 1
    epoch 1
    epoch 1
    end 1
    >>> [(run["label"], run["status"]) for run in store.runs()]
    [('scratch', 'finished')]

The store decides *how* a run is kept; this module decides *when* to write and what to do when a
write fails. Each write costs a disk sync, so step events wait and are written in batches (at most
about once a second), while every other event (an epoch, the end) is written as it comes.

Losing a learner's training is worse than not storing a run, so the store never stops the training:

* **A store that is busy during a run** (another session kept it locked for longer than a write
  waits) loses nothing: `record` keeps the run's points in memory, training goes on, and a later
  try writes them all, in order, once (at the next events, less and less often, and a last try when
  the run ends). The learner is told once that the points are kept, once that they are stored
  again, and, only if the store stays busy until the run ends, that the run was not stored.
* **A store that fails during a run** in any other way (a full disk, say) does not stop the run:
  `record` keeps passing the events on and tells, once, that the rest of the run is not stored.
* **A store that cannot be used at all** is found before training starts: `runs.open_store` then
  hands out a store in memory, and `record` writes into that one as usual.
"""

import time
import warnings

from tl_lessons import runs
from tl_lessons.errors import RunStoreError
from tl_lessons.runs import RunStore, RunStoreBusy, run_row, summary

# While `record` keeps a run's points for a busy store: how long each later try waits for the lock
# (training waits that long), and how long it lets pass before the next try (doubled after each
# try that finds the store still busy, up to the max). Every other write (the usual ones, and the
# last try when the run ends) waits as long as any write of the store: `runs.BUSY_TIMEOUT_S`, looked
# up there at each write, so that one setting says how long a write waits, here and in the store.
RETRY_WAIT_S = 0.5
RETRY_AFTER_S = 2.0
RETRY_AFTER_MAX_S = 30.0
# Step events are written in batches: one commit per event would cost a disk sync each.
FLUSH_EVERY_S = 1.0

# What `StoredRun.state` can be, as each "store_notice" event names it in "store_state".
STORED = "stored"            # everything handed to the store so far is written (nothing to say)
WAITING = "waiting"          # the store is busy: the run's points are kept in memory for a later try
NOT_STORED = "not_stored"    # the store stayed busy until the run ended: what is kept was not written
FAILED = "failed"            # the store failed otherwise (a full disk...): the rest of the run is not stored


class StoredRun:
    """One run being written into a store, as `record` hands its events on.

    Events wait in `unwritten` until a `flush` writes them, together with the run's row while it is
    not made yet and its end once it has one, in one transaction. A flush that finds the store
    locked by another writer (`RunStoreBusy`) keeps all of it for a later flush: the first at
    least RETRY_AFTER_S later, waiting only RETRY_WAIT_S for the lock, then less and less often;
    the last flush, when the run ends, waits the full `runs.BUSY_TIMEOUT_S`. As a write is all or
    nothing, a later success stores every event once, in order. Any other failure stops the storing.

    `state` says where the run stands (STORED, WAITING, NOT_STORED, FAILED), `notice` says it in a
    sentence, and `news()` hands each change of state to the learner once.
    """

    def __init__(self, store: RunStore, config, label: str):
        self.store, self.run_id = store, None
        self.row = run_row(config, label)  # until the run is made
        self.unwritten: list[dict] = []
        self.end = None  # (status, results, message, ended) until written
        self.state = self.told = STORED
        self.notice = None
        self.retry_at, self.retry_after = 0.0, RETRY_AFTER_S
        self.written = {"epoch": 0, "step": 0}
        self.flush()  # the run's row now: a store that cannot be written is said with the first event

    @property
    def waiting(self) -> bool:
        return self.state == WAITING

    @property
    def storing(self) -> bool:
        return self.state in (STORED, WAITING)

    def add(self, event: dict):
        if self.storing:
            self.unwritten.append(event)

    def finish(self, status: str, results: dict, message: str = ""):
        if self.storing:
            self.end = (status, results, message or "", time.time())

    def flush(self, last: bool = False):
        """Write what is kept; while the store is busy, only when a try is due (or `last`, the run's end)."""
        if not self.storing or (self.run_id is not None and not self.unwritten and self.end is None):
            return
        if self.waiting and not last and time.monotonic() < self.retry_at:
            return
        wait = RETRY_WAIT_S if self.waiting and not last else runs.BUSY_TIMEOUT_S
        row = self.row if self.run_id is None else None
        try:
            self.run_id = self.store.write_run(self.run_id, self.unwritten, row=row, end=self.end, wait=wait)
        except RunStoreBusy:
            if last:
                self.state, self.notice = NOT_STORED, self.not_stored()
            elif self.waiting:
                self.retry_after = min(2 * self.retry_after, RETRY_AFTER_MAX_S)
            else:
                self.state, self.retry_after = WAITING, RETRY_AFTER_S
                self.notice = (f"The run store is busy (another session has kept it locked for over {wait:g} s): "
                               "this run's points are kept here and will be written as soon as it is free. "
                               "Training goes on.")
            self.retry_at = time.monotonic() + self.retry_after
            return
        except RunStoreError as error:
            self.state, self.unwritten, self.end = FAILED, [], None
            self.notice = f"{error} The rest of this run is not stored; training goes on."
            return
        for event in self.unwritten:
            if event["kind"] in self.written:
                self.written[event["kind"]] += 1
        ended, self.row, self.unwritten, self.end = self.end is not None, None, [], None
        if self.waiting:
            self.state = STORED
            self.notice = ("The run store is free again: all of this run is now stored." if ended else
                           "The run store is free again: all of this run's points so far are now stored.")

    def not_stored(self) -> str:
        """The sentence for a run whose end found the store still busy."""
        busy = "The run store stayed busy until this run ended (another session kept it locked), so "
        again = "To keep it in the store, train it again once the store is free."
        if self.run_id is None:
            return f"{busy}this run was not stored: what you see of it here is all that is kept. {again}"
        kind = "epoch" if self.written["epoch"] else "step"
        count = self.written[kind]
        kept = ("none of its points" if not count else f"its first {kind}" if count == 1
                else f"its first {count} {kind}s")
        return (f"{busy}run #{self.run_id} was not stored to its end: the store keeps {kept}, and the run "
                f"reads as unfinished. {again}")

    def news(self) -> dict:
        """{"store_notice": sentence, "store_state": state} once per change of state; else {}."""
        if self.state == self.told:
            return {}
        self.told = self.state
        return {"store_notice": self.notice, "store_state": self.state}

    def say_untold(self):
        """A change no event can carry any more (the run ended without an "end" event) as a warning."""
        news = self.news()
        if news and self.state in (NOT_STORED, FAILED):
            warnings.warn(news["store_notice"], RuntimeWarning, stacklevel=3)


def record(stream, store: RunStore, config, label: str):
    """Pass a `fit()` stream through unchanged while storing it as a run.

    Every event is stored (step events in batches, at most every second). Each event handed
    on carries the run's id as "run_id" (None while the store has not made the run yet). The
    run ends as the stream's "end" event says; if the stream raises, the run is marked "failed"
    with the error and the error goes on; if the consumer stops early (breaks out of the loop),
    the run is marked "stopped" and keeps the epochs it has.

    The store never stops the training. While it is busy (another session holds its lock), the
    run's points are kept and written later; a failing store stops the storing. Each change is
    said once, on the next event, as a "store_notice" sentence with a "store_state" (see
    `StoredRun`); one that no event can carry any more (the consumer stopped) is a RuntimeWarning.

    >>> import dataclasses
    >>> from tl_lessons.data import load_dataset, per_class_subset
    >>> from tl_lessons.models import build_model
    >>> from tl_lessons.train import PRESETS, fit
    >>> train_set = per_class_subset(load_dataset("synthetic10", "train"), 3)
    >>> config = dataclasses.replace(PRESETS["quick"], epochs=1, batch_size=30)
    >>> store = RunStore(":memory:")
    >>> for event in record(fit(build_model("fastnet", 10), train_set, None, config), store, config, "scratch"):
    ...     break                                   # a learner stops the run at its first event
    >>> store.runs()[0]["status"]
    'stopped'
    """
    run = StoredRun(store, config, label)
    epochs, last_flush = [], time.monotonic()
    ended = False
    try:
        for event in stream:
            run.add(event)
            if event["kind"] == "epoch":
                epochs.append(event)
            if event["kind"] == "end":
                results = {**summary(epochs), **{k: v for k, v in event.items()
                                                 if k not in ("kind", "status", "message")}}
                run.finish(event["status"], results, event.get("message", ""))
                run.flush(last=True)
                ended = True
            elif event["kind"] != "step" or run.waiting or time.monotonic() - last_flush > FLUSH_EVERY_S:
                run.flush()
                last_flush = time.monotonic()
            yield {**event, "run_id": run.run_id, **run.news()}
    except (GeneratorExit, KeyboardInterrupt):
        # The consumer left the loop (or the learner pressed interrupt): keep what was trained.
        if not ended:
            run.finish("stopped", summary(epochs), "Stopped before the end of training.")
        run.flush(last=True)
        run.say_untold()
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        raise
    except Exception as error:
        run.finish("failed", summary(epochs), f"{type(error).__name__}: {error}")
        run.flush(last=True)
        run.say_untold()
        raise
    if not ended:
        # A stream without an "end" event (not from fit) still gets a closed run.
        run.finish("finished", summary(epochs))
    run.flush(last=True)
    run.say_untold()
