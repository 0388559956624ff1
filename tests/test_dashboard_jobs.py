"""Training in the background: runs take turns in a line with slots, each learner finds their jobs again,
a run is stored as it goes, stopped on request, failing with a sentence."""

import dataclasses
import os
import threading
import time

import pytest
import torch

from tl_lessons import models, train
from tl_lessons.dashboard import classroom, jobs
from tl_lessons.errors import ConfigError
from tl_lessons.runs import RunStore
from tl_lessons.synthetic import make_synthetic


def tiny_job(tmp_path, epochs=1, line=None, num_classes=10, learner="learner-a", look_closer=True):
    train_set = make_synthetic(10, "train", n_per_class=4)
    val_set = make_synthetic(10, "test", n_per_class=2)
    torch.manual_seed(0)
    model = models.build_model("fastnet", num_classes)
    config = dataclasses.replace(train.PRESETS["quick"], epochs=epochs, batch_size=8, log_every_steps=1)
    return jobs.TrainingJob(
        model,
        train_set,
        val_set,
        config,
        None,
        "tiny",
        {"strategy": "scratch"},
        store=RunStore(tmp_path / "runs.sqlite"),
        line=line or jobs.TrainingLine(slots=1),
        threads=1,
        learner=learner,
        look_closer=look_closer,
    )


def wait_until_done(job):
    """Let the job's thread end (it always sends an end event first), then take its events."""
    job.wait().poll()
    assert job.done


def wait_until_training(job):
    while not job.done and not any(e["kind"] == "step" for e in job.events):
        job.poll()
        time.sleep(0.02)


def test_poll_until_waits_for_the_first_training_point_and_no_longer(tmp_path):
    job = tiny_job(tmp_path, epochs=3).start()
    job.poll_until(("step",), timeout=60)
    kinds = [e["kind"] for e in job.events]
    assert "step" in kinds and kinds[:2] == ["start", "starting_point"]
    assert "end" not in kinds   # it came back at the first step, not at the end of the run
    job.stop()
    wait_until_done(job)
    # The end is there: nothing to wait for, however long the timeout (an hour here).
    answer = []
    waiter = threading.Thread(target=lambda: answer.append(job.poll_until(("never sent",), timeout=3600)), daemon=True)
    waiter.start()
    waiter.join(60)
    assert answer == [[]]
    quiet = tiny_job(tmp_path, line=jobs.TrainingLine(slots=0))   # waits in line: sends nothing
    quiet.start()
    assert quiet.poll_until(("step",), timeout=0.3) == [] and not quiet.events   # gives up after its timeout
    quiet.stop()


def test_a_job_trains_in_the_background_and_is_stored(tmp_path):
    job = tiny_job(tmp_path, epochs=2).start()
    wait_until_done(job)
    kinds = [e["kind"] for e in job.events]
    assert kinds[:2] == ["start", "starting_point"] and kinds[-1] == "end" and kinds.count("epoch") == 2
    # After each epoch, what the model answers for every validation image (see test_dashboard_learnt).
    assert kinds.count("predictions") == 2 and kinds.index("predictions") == kinds.index("epoch") + 1
    assert job.status == "finished" and job.ended
    store = RunStore(tmp_path / "runs.sqlite")
    stored = store.get(job.run_id)
    assert stored["status"] == "finished" and stored["label"] == "tiny"
    assert stored["config"]["learner"] == "learner-a" and stored["config"]["validation"]["images"] == 20
    assert len(store.events(job.run_id, "epoch")) == 2 and len(store.events(job.run_id, "starting_point")) == 1


def test_without_a_closer_look_a_job_passes_fits_events_only(tmp_path):
    job = tiny_job(tmp_path, look_closer=False).start()
    wait_until_done(job)
    assert {e["kind"] for e in job.events} == {"start", "step", "epoch", "end"}
    assert "validation" not in RunStore(tmp_path / "runs.sqlite").get(job.run_id)["config"]


def test_stop_halts_a_job_and_keeps_the_partial_run(tmp_path):
    """How fast it halts is the benchmark's business (`bench --only app`); here: that it does."""
    job = tiny_job(tmp_path, epochs=200).start()
    while not job.done and not any(e["kind"] == "epoch" for e in job.events):
        job.poll()
        time.sleep(0.02)
    job.stop()
    wait_until_done(job)
    assert job.status == "stopped"
    stored = RunStore(tmp_path / "runs.sqlite").get(job.run_id)
    assert stored["status"] == "stopped"
    assert 1 <= stored["results"]["epochs"] < 200


def test_jobs_wait_in_line_and_say_how_many_runs_are_ahead(tmp_path):
    line = jobs.TrainingLine(slots=1)
    first = tiny_job(tmp_path, epochs=200, line=line).start()
    second = tiny_job(tmp_path, epochs=1, line=line, learner="learner-b").start()
    third = tiny_job(tmp_path, epochs=1, line=line, learner="learner-c").start()
    assert (first.ahead, second.ahead, third.ahead) == (0, 1, 2)
    assert second.status == "waiting" and line.jobs() == [first, second, third]
    first.stop()
    wait_until_done(first)
    wait_until_done(second)
    wait_until_done(third)
    assert second.status == third.status == "finished"
    # Each run only started after the one before it had ended: never two at once with one slot.
    store = RunStore(tmp_path / "runs.sqlite")
    assert store.get(second.run_id)["created"] >= store.get(first.run_id)["ended"]
    assert store.get(third.run_id)["created"] >= store.get(second.run_id)["ended"]


def test_a_stopped_job_that_was_waiting_leaves_the_line_at_once_and_stores_nothing(tmp_path):
    line = jobs.TrainingLine(slots=1)
    first = tiny_job(tmp_path, epochs=200, line=line).start()
    waiting = tiny_job(tmp_path, line=line, learner="learner-b").start()
    waiting.stop()
    # Out of the line as soon as Stop returns, before the worker thread has even woken up.
    assert line.jobs() == [first]
    waiting.wait(timeout=10).poll()
    assert waiting.status == "cancelled" and waiting.run_id is None
    assert "nothing was trained or stored" in waiting.end["message"]
    first.stop()
    wait_until_done(first)
    assert [run["id"] for run in RunStore(tmp_path / "runs.sqlite").runs()] == [first.run_id]


def test_with_two_slots_two_runs_train_at_once_and_the_third_waits(tmp_path):
    line = jobs.TrainingLine(slots=2)
    first, second, third = (tiny_job(tmp_path, epochs=200, line=line, learner=name).start() for name in "abc")
    wait_until_training(first)
    wait_until_training(second)
    assert (first.status, second.status, third.status) == ("running", "running", "waiting")
    assert third.ahead == 1
    assert first.config.memory_share == second.config.memory_share == 0.5  # two runs side by side split the memory
    second.stop()
    wait_until_done(second)
    wait_until_training(third)
    assert third.status == "running"
    for job in (first, third):
        job.stop()
        wait_until_done(job)


def test_the_line_estimates_when_waiting_runs_start():
    class Job:
        """Stands in for a TrainingJob: only how long it will still take matters here."""

        learner = None

        def __init__(self, left):
            self.left = left

        def size(self):
            return 1

        def seconds_left(self):
            return self.left

    line = jobs.TrainingLine(slots=2)
    running_long, running_short, waiting, unknown, after_unknown = Job(100.0), Job(10.0), Job(30.0), Job(None), Job(5.0)
    for job in (running_long, running_short, waiting, unknown, after_unknown):
        line.join(job)
    waits = {id(job): (starts, takes) for job, starts, takes in line.waits()}
    assert waits[id(running_long)] == (0.0, 100.0) and waits[id(running_short)] == (0.0, 10.0)
    assert waits[id(waiting)] == (10.0, 30.0)  # takes the slot the short run frees
    assert waits[id(unknown)] == (40.0, None)  # then the slot the waiting run frees, 30 s later
    assert waits[id(after_unknown)] == (100.0, 5.0)  # the long run's slot: the unknown one's never frees


def test_a_page_looks_often_at_a_training_run_and_at_one_about_to_start_and_slowly_otherwise():
    class Job:
        """Stands in for a TrainingJob in a line: its place and the time it will take."""

        learner, done = None, False

        def __init__(self, line, left):
            self.line, self.left = line, left

        def size(self):
            return 1

        def seconds_left(self):
            return self.left

        @property
        def ahead(self):
            return self.line.ahead(self)

        @property
        def status(self):
            return "waiting" if self.ahead else "running"

    line = jobs.TrainingLine(slots=1)
    training, next_up, second, third = (Job(line, left) for left in (30.0, 40.0, 50.0, 20.0))
    for job in (training, next_up, second, third):
        line.join(job)
    assert jobs.refresh_every(training) == jobs.REFRESH_S
    assert jobs.refresh_every(next_up) == jobs.SOON_REFRESH_S  # starts in 30 s
    assert jobs.refresh_every(second) == jobs.WAITING_REFRESH_S  # 30 + 40 s: beyond a minute
    assert jobs.refresh_every(third) == jobs.WAITING_REFRESH_S
    training.left = None  # its pace not known yet: nobody's start is known, the next in line is looked at often
    assert [jobs.refresh_every(job) for job in (next_up, second)] == [jobs.SOON_REFRESH_S, jobs.WAITING_REFRESH_S]
    training.done = True
    assert jobs.refresh_every(training) == jobs.refresh_every(None) == jobs.IDLE_REFRESH_S
    assert jobs.IDLE_REFRESH_S > jobs.SOON_REFRESH_S > jobs.REFRESH_S and jobs.WAITING_REFRESH_S > jobs.SOON_REFRESH_S


def test_a_job_knows_its_pace_from_its_own_steps_and_the_line_remembers_it(tmp_path):
    line = jobs.TrainingLine(slots=1)
    job = tiny_job(tmp_path, epochs=2, line=line)
    assert job.seconds_left() is None  # nothing of its kind has trained here yet
    wait_until_done(job.start())
    assert job.pace() > 0 and job.seconds_left() == 0.0
    again = tiny_job(tmp_path, epochs=2, line=line)
    assert line.pace(again.kind) == job.pace()
    assert again.seconds_left() == pytest.approx(job.pace() * 2 * 5)  # 2 epochs of 5 batches of 8


def test_the_registry_finds_a_learners_jobs_again(tmp_path):
    registry = jobs.JobRegistry()
    line = jobs.TrainingLine(slots=1)
    old = tiny_job(tmp_path, line=line).start()
    registry.add(old)
    wait_until_done(old)
    long = tiny_job(tmp_path, epochs=200, line=line)
    registry.add(long.start())
    theirs = tiny_job(tmp_path, line=line, learner="learner-b")
    registry.add(theirs.start())
    assert registry.latest("learner-a") is long and registry.latest("learner-b") is theirs
    assert registry.latest("nobody") is None
    wait_until_training(long)
    assert long.run_id in registry.live_run_ids()
    newest = tiny_job(tmp_path, line=line)  # not started: only who it belongs to matters here
    registry.add(newest)
    # The unfinished run stays findable; the ended one older than the newest is forgotten.
    assert registry.of("learner-a") == [long, newest]
    for job in (long, theirs):
        job.stop()
        job.wait(30)
    assert long.run_id not in registry.live_run_ids()


def test_a_running_run_of_this_process_without_a_job_reads_interrupted():
    here = {"id": 4, "status": "running", "pid": os.getpid()}
    assert jobs.shown_status(here, live_run_ids=set()) == "interrupted"
    assert jobs.shown_status(here, live_run_ids={4}) == "running"
    elsewhere = {"id": 5, "status": "running", "pid": os.getpid() + 1}  # another program records it
    assert jobs.shown_status(elsewhere, live_run_ids=set()) == "running"
    assert jobs.shown_status({"id": 6, "status": "finished", "pid": os.getpid()}, set()) == "finished"


def test_training_slots_come_from_the_setting_or_the_cores(monkeypatch):
    monkeypatch.delenv(jobs.SLOTS_VARIABLE, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setenv("TL_LESSONS_THREADS", "2")
    assert jobs.training_slots() == 7   # one core is left to the page server
    monkeypatch.setenv("TL_LESSONS_THREADS", "32")
    assert jobs.training_slots() == 1
    monkeypatch.delenv("TL_LESSONS_THREADS")
    assert jobs.run_threads() == 15 and jobs.training_slots() == 1
    monkeypatch.setenv(jobs.SLOTS_VARIABLE, "3")
    assert jobs.training_slots() == 3 and jobs.TrainingLine().slots == 3
    for wrong in ("0", "two", "-1"):
        monkeypatch.setenv(jobs.SLOTS_VARIABLE, wrong)
        with pytest.raises(ConfigError, match="TL_LESSONS_TRAINING_SLOTS must be a whole number"):
            jobs.training_slots()


def test_a_run_leaves_one_core_to_the_page_and_the_browser(monkeypatch):
    monkeypatch.delenv("TL_LESSONS_THREADS", raising=False)
    for cores, threads in ((1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert jobs.run_threads() == threads
    monkeypatch.setenv("TL_LESSONS_THREADS", "3")   # a teacher's setting wins
    assert jobs.run_threads() == 3


def test_learners_are_named_by_a_hash_of_their_token():
    learner = jobs.learner_id("a-browser-token-0123456789")
    assert len(learner) == 12 and "token" not in learner
    assert jobs.learner_id("a-browser-token-0123456789") == learner != jobs.learner_id("another-token-0123456789")
    assert jobs.learner_name(learner, you=learner) == "you"
    assert jobs.learner_name(learner, you="someone else") == f"learner {learner[:4]}"
    assert jobs.learner_name(None) == "another learner"


def test_a_lesson_error_ends_the_job_as_failed_with_its_message(tmp_path):
    job = tiny_job(tmp_path, num_classes=3).start()  # 3 outputs for 10 classes: fit refuses it
    wait_until_done(job)
    assert job.status == "failed"
    assert job.end["message"] and "Traceback" not in job.end["message"]


def test_when_finished_runs_after_a_finished_run(tmp_path):
    seen = []
    job = tiny_job(tmp_path)
    job.when_finished = lambda model, end: seen.append((model is job.model, end["status"]))
    wait_until_done(job.start())
    assert seen == [(True, "finished")]


def test_a_job_trains_into_a_store_in_memory_when_the_file_cannot_be_used(tmp_path):
    job = tiny_job(tmp_path)
    job.store = RunStore(":memory:")
    wait_until_done(job.start())
    assert job.status == "finished" and [run["id"] for run in job.store.runs()] == [job.run_id]


# ---------------------------------------------------------------------------------------
# A class on one server: the rules every run follows (tl_lessons.dashboard.classroom)
# ---------------------------------------------------------------------------------------


def test_one_run_per_learner_at_a_time_whatever_the_tabs(tmp_path):
    line = jobs.TrainingLine(slots=1)
    first = tiny_job(tmp_path, epochs=200, line=line).start()
    # A second tab of the same learner, even with an older page that thinks nothing runs: refused.
    with pytest.raises(jobs.TurnRefused, match="one run per learner"):
        tiny_job(tmp_path, line=line).start()
    other = tiny_job(tmp_path, line=line, learner="learner-b").start()  # another learner waits their turn
    assert line.jobs() == [first, other]
    first.stop()
    wait_until_done(first)
    again = tiny_job(tmp_path, line=line).start()  # their run ended: the learner may train again
    for job in (other, again):
        wait_until_done(job)
    # The refused run left no trace: three runs trained and stored, none for the refused one.
    assert len(RunStore(tmp_path / "runs.sqlite").runs()) == 3


def test_two_tabs_pressing_train_together_get_one_run(tmp_path):
    line = jobs.TrainingLine(slots=0)  # nothing trains: only who gets in matters
    tabs = [tiny_job(tmp_path, line=line) for _ in range(8)]
    go, outcomes = threading.Barrier(len(tabs)), []

    def press(job):
        go.wait()
        try:
            job.start()
            outcomes.append("in")
        except jobs.TurnRefused:
            outcomes.append("refused")

    pressing = [threading.Thread(target=press, args=(job,)) for job in tabs]
    for thread in pressing:
        thread.start()
    for thread in pressing:
        thread.join(30)
    assert sorted(outcomes) == ["in"] + ["refused"] * 7 and len(line.jobs()) == 1
    line.jobs()[0].stop()


def test_the_class_limits_refuse_a_run_too_big_and_every_run_while_paused(tmp_path):
    rules = classroom.ClassRules(max_image_epochs=100)
    line = jobs.TrainingLine(slots=1, rules=rules)
    big = tiny_job(tmp_path, epochs=3, line=line)  # 3 epochs x 40 images
    with pytest.raises(jobs.TurnRefused, match="120 image-epochs"):
        big.start()
    rules.change(max_image_epochs=1000, paused=True)
    with pytest.raises(jobs.TurnRefused, match="paused"):
        tiny_job(tmp_path, line=line).start()
    rules.change(paused=False)
    wait_until_done(tiny_job(tmp_path, epochs=3, line=line).start())
    assert line.jobs() == [] and len(RunStore(tmp_path / "runs.sqlite").runs()) == 1


def test_a_run_that_reaches_the_time_limit_stops_and_keeps_its_curve(tmp_path):
    line = jobs.TrainingLine(slots=1, rules=classroom.ClassRules(max_minutes=1 / 60, max_image_epochs=10**9))  # one second
    job = tiny_job(tmp_path, epochs=10_000, line=line).start()
    wait_until_done(job)
    assert job.status == "stopped" and job.time_up
    assert "limit of 1 second " in job.end["message"] and "kept" in job.end["message"]
    stored = RunStore(tmp_path / "runs.sqlite").get(job.run_id)
    assert stored["status"] == "stopped" and 1 <= stored["results"]["epochs"] < 10_000
    # Its curve, the steps it trained, is in the store and on the page.
    assert RunStore(tmp_path / "runs.sqlite").events(job.run_id, "step")
    assert any(event["kind"] == "step" for event in job.events)


def test_a_source_run_cut_by_the_time_limit_says_that_nothing_was_saved(tmp_path):
    line = jobs.TrainingLine(slots=1, rules=classroom.ClassRules(max_minutes=1 / 60, max_image_epochs=10**9))
    saved = []
    job = tiny_job(tmp_path, epochs=10_000, line=line)
    job.when_finished = lambda model, end: saved.append(end)
    wait_until_done(job.start())
    assert job.status == "stopped" and not saved
    assert "nothing was saved" in job.end["message"] and "longer limit" in job.end["message"]


def test_what_when_finished_returns_is_added_to_the_end(tmp_path):
    job = tiny_job(tmp_path)
    job.when_finished = lambda model, end: {"saved_as": "mine-2", "message": "Saved as mine-2."}
    wait_until_done(job.start())
    assert job.status == "finished" and job.end["saved_as"] == "mine-2" and job.end["message"].endswith("Saved as mine-2.")


def test_the_teacher_removes_runs_and_changes_the_slots(tmp_path):
    line = jobs.TrainingLine(slots=1, rules=classroom.ClassRules(max_image_epochs=10**9))
    running = tiny_job(tmp_path, epochs=10_000, line=line).start()
    waiting = tiny_job(tmp_path, line=line, learner="learner-b").start()
    third = tiny_job(tmp_path, epochs=10_000, line=line, learner="learner-c").start()
    line.remove(waiting)
    waiting.wait(30).poll()
    assert waiting.status == "cancelled" and line.jobs() == [running, third]
    line.set_slots(2)  # the third run need not wait for the first any more
    wait_until_training(third)
    assert third.status == "running"
    line.remove(running)
    wait_until_done(running)
    assert running.status == "stopped"
    with pytest.raises(ConfigError, match="At least one"):
        line.set_slots(0)
    third.stop()
    wait_until_done(third)


def test_an_ended_run_leaves_memory_and_old_learners_are_forgotten(tmp_path, monkeypatch):
    registry = jobs.JobRegistry()
    job = tiny_job(tmp_path)
    registry.add(job.start())
    wait_until_done(job)
    # The page still shows it (events, validation images); the model and training images are gone.
    assert job.model is None and job.train_set is None and job.val_set is not None and job.events
    assert registry.latest("learner-a") is job
    monkeypatch.setattr(jobs, "FORGET_AFTER_S", 0.0)
    registry.add(tiny_job(tmp_path, learner="learner-b"))  # any new run tidies the registry
    assert registry.latest("learner-a") is None and registry.latest("learner-b") is not None
