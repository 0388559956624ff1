"""Training in the background: one run at a time, stored as it goes, stopped on request, failing with a sentence."""

import dataclasses
import time

import torch

from tl_lessons import models, train
from tl_lessons.dashboard import jobs
from tl_lessons.runs import RunStore
from tl_lessons.synthetic import make_synthetic


def tiny_job(tmp_path, epochs=1, line=None, num_classes=10):
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
        store_path=tmp_path / "runs.sqlite",
        line=line or jobs.TrainingLine(),
        threads=1,
    )


def wait_until_done(job):
    """Let the job's thread end (it always sends an end event first), then take its events."""
    job.wait().poll()
    assert job.done


def test_a_job_trains_in_the_background_and_is_stored(tmp_path):
    job = tiny_job(tmp_path, epochs=2).start()
    wait_until_done(job)
    kinds = [e["kind"] for e in job.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    assert job.status == "finished"
    stored = RunStore(tmp_path / "runs.sqlite").get(job.run_id)
    assert stored["status"] == "finished" and stored["label"] == "tiny"
    assert len(RunStore(tmp_path / "runs.sqlite").events(job.run_id, "epoch")) == 2


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


def test_jobs_wait_in_line_and_show_their_position(tmp_path):
    line = jobs.TrainingLine()
    first = tiny_job(tmp_path, epochs=200, line=line).start()
    second = tiny_job(tmp_path, epochs=1, line=line).start()
    third = tiny_job(tmp_path, epochs=1, line=line).start()
    assert (first.position, second.position, third.position) == (0, 1, 2)
    assert second.status == "waiting"
    third.stop()  # leaving the line before its turn: nothing trained, nothing stored
    wait_until_done(third)
    assert third.status == "stopped" and third.run_id is None
    assert second.position == 1
    first.stop()
    wait_until_done(first)
    wait_until_done(second)
    assert second.status == "finished"
    # The second run only started after the first had ended: never two at once.
    store = RunStore(tmp_path / "runs.sqlite")
    assert store.get(second.run_id)["created"] >= store.get(first.run_id)["ended"]


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
