"""A class on one server (tl_lessons.dashboard.classroom): the rules' sentences, the teacher's token,
learner codes, what a learner's CSV holds, and which server may name its folders."""

import csv
import io
import subprocess
import sys

import pytest

from tl_lessons.dashboard import charts, classroom
from tl_lessons.runs import RunStore


def test_the_rules_refuse_with_a_sentence_that_says_what_to_do():
    rules = classroom.ClassRules(max_minutes=3, max_image_epochs=50_000)
    assert rules.refusal(4_000, learner_has_a_run=False) is None
    assert "200,000 image-epochs" in rules.refusal(200_000, learner_has_a_run=False)
    assert "stop it or wait" in rules.refusal(4_000, learner_has_a_run=True)
    rules.change(paused=True)
    assert "paused" in rules.refusal(4_000, learner_has_a_run=False)
    assert "3 minutes" in rules.time_up_message() and "kept" in rules.time_up_message()
    with pytest.raises(ValueError, match="time limit"):
        rules.change(max_minutes=0)


def test_the_limits_hold_for_a_class_not_for_a_learner_alone():
    rules = classroom.ClassRules(max_minutes=3, max_image_epochs=50_000)
    assert rules.serving("192.168.1.20").time_limit_s() == 180 and rules.refusal(200_000, False)
    rules.serving("127.0.0.1")  # `make app`: this computer only
    assert rules.time_limit_s() is None and rules.refusal(200_000, False) is None
    assert "one run per learner" in rules.refusal(4_000, learner_has_a_run=True)  # turns still hold


def test_only_the_teachers_token_is_the_teacher(monkeypatch):
    monkeypatch.delenv(classroom.TEACHER_VARIABLE, raising=False)
    assert not classroom.is_teacher("anything") and not classroom.is_teacher("")  # no token: nobody
    monkeypatch.setenv(classroom.TEACHER_VARIABLE, "s3cret-token-of-the-teacher")
    assert classroom.is_teacher("s3cret-token-of-the-teacher") and classroom.is_teacher(" s3cret-token-of-the-teacher ")
    assert not classroom.is_teacher("s3cret") and not classroom.is_teacher(None)
    fresh = {classroom.new_teacher_token() for _ in range(20)}
    assert len(fresh) == 20 and all(len(token) == 16 for token in fresh)


def test_the_cli_prints_a_fresh_teacher_token():
    printed = [subprocess.run([sys.executable, "-m", "tl_lessons", "teacher-token"], capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)]
    assert printed[0] != printed[1] and all(len(token) == 16 for token in printed)


def test_learner_codes_are_short_unambiguous_and_forgiving_to_type():
    codes = {classroom.new_learner_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert classroom.learner_code(code) == code
        shown = classroom.shown_code(code)
        assert shown.count("-") == 2 and classroom.learner_code(shown.lower()) == code
        assert not set(code) & set("01OIL")
    assert classroom.learner_code("hello") is None and classroom.learner_code("K7QX-M2TZ-9") is None


def test_a_page_names_server_folders_only_on_the_learners_own_computer():
    assert classroom.is_loopback("127.0.0.1") and classroom.is_loopback("::1") and classroom.is_loopback("localhost")
    assert not classroom.is_loopback("0.0.0.0") and not classroom.is_loopback("192.168.1.20")
    assert not classroom.is_loopback(None) and not classroom.is_loopback("")


def test_a_learners_csv_holds_what_their_view_shows(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run = store.start({"strategy": "linear_probe", "learner": "3fa9c2d81b07",
                       "source": "/srv/class/runs/sources/mine.pt", "source_key": "trained:mine"}, "probe")
    store.log(run, {"kind": "epoch", "epoch": 1, "step": 4, "train_loss": 2.0, "val_loss": 2.1, "val_acc": 0.2})
    store.finish(run, "finished", {})
    export = io.StringIO()
    store.export_csv(export, view=lambda stored: charts.as_seen_by(stored, you="3fa9c2d81b07"))
    rows = list(csv.DictReader(io.StringIO(export.getvalue())))
    assert rows[0]["config.whose"] == "you" and rows[0]["config.source"] == "trained:mine"
    assert "3fa9c2d81b07" not in export.getvalue() and "/srv/" not in export.getvalue()
