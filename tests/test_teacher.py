"""The teacher page (AppTest): only the teacher's token opens it; the teacher stops any learner's run,
pauses new runs and sets the class's limits, and the line obeys at once."""

import dataclasses
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tl_lessons import models, train
from tl_lessons.dashboard import classroom, jobs
from tl_lessons.runs import RunStore
from tl_lessons.synthetic import make_synthetic

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TOKEN = "the-teachers-own-token-42"


@pytest.fixture()
def class_rules():
    """The server's shared rules and slots, put back as they were after the test."""
    before = dataclasses.replace(classroom.SHARED_RULES)
    yield classroom.SHARED_RULES
    classroom.SHARED_RULES.change(max_minutes=before.max_minutes, max_image_epochs=before.max_image_epochs,
                                  paused=before.paused, limited=before.limited)
    jobs.SHARED_LINE.set_slots(None)


@pytest.fixture()
def teacher_page(monkeypatch, tmp_path, class_rules):
    monkeypatch.setenv("TL_LESSONS_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("TL_LESSONS_RUNS", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv(classroom.TEACHER_VARIABLE, TOKEN)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.switch_page("app_pages/teacher.py").run()
    assert not app.exception
    return app


def sign_in(app, token=TOKEN):
    app.text_input(key="teacher_token").input(token)
    app.button(key="teacher_open").click().run()
    assert not app.exception
    return app


def a_learners_run(tmp_path, learner="learner-x", epochs=10_000):
    """A learner's long run in the server's own line, as the lab would start it."""
    torch.manual_seed(0)
    config = dataclasses.replace(train.PRESETS["quick"], epochs=epochs, batch_size=8, log_every_steps=1)
    job = jobs.TrainingJob(models.build_model("fastnet", 10), make_synthetic(10, "train", n_per_class=2), None,
                           config, None, "a learner's long run", store=RunStore(tmp_path / "runs.sqlite"),
                           threads=1, learner=learner)
    job.start()
    jobs.SHARED_REGISTRY.add(job)
    return job


def test_without_a_token_nobody_is_the_teacher(teacher_page, monkeypatch):
    monkeypatch.delenv(classroom.TEACHER_VARIABLE)
    teacher_page.run()
    assert "Nobody is the teacher" in teacher_page.info[0].value
    assert not teacher_page.text_input and not teacher_page.number_input


def test_a_wrong_token_opens_nothing_and_the_right_one_opens_the_page(teacher_page):
    sign_in(teacher_page, "a-guess")
    assert "not the teacher token" in teacher_page.error[0].value
    assert not teacher_page.number_input
    sign_in(teacher_page)
    assert teacher_page.number_input(key="teacher_slots").value == jobs.SHARED_LINE.slots
    assert TOKEN not in str([element.value for element in teacher_page.markdown])


def test_the_token_in_a_link_signs_in_once_and_leaves_the_address_bar(teacher_page):
    teacher_page.query_params["token"] = TOKEN
    teacher_page.run()
    assert teacher_page.number_input(key="teacher_slots")
    assert "token" not in teacher_page.query_params


def test_the_teacher_stops_a_learners_run(teacher_page, tmp_path, class_rules):
    class_rules.change(max_image_epochs=10**9)
    job = a_learners_run(tmp_path)
    sign_in(teacher_page)
    teacher_page.button(key=f"teacher_stop_{id(job)}").click().run()
    job.wait(60).poll()
    assert job.status == "stopped"
    assert RunStore(tmp_path / "runs.sqlite").get(job.run_id)["status"] == "stopped"


def test_the_teacher_pauses_the_class_and_sets_its_limits(teacher_page, tmp_path, class_rules):
    sign_in(teacher_page)
    teacher_page.toggle(key="teacher_paused").set_value(True)
    teacher_page.number_input(key="teacher_minutes").set_value(1.5)
    teacher_page.number_input(key="teacher_size").set_value(100)
    teacher_page.number_input(key="teacher_slots").set_value(2)
    teacher_page.button(key="teacher_apply").click().run()
    assert not teacher_page.exception
    assert (class_rules.paused, class_rules.max_minutes, class_rules.max_image_epochs) == (True, 1.5, 100)
    assert jobs.SHARED_LINE.slots == 2
    with pytest.raises(jobs.TurnRefused, match="paused"):
        a_learners_run(tmp_path)
    assert jobs.SHARED_LINE.jobs() == []
