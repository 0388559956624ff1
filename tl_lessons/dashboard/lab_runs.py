"""The lab's runs in words and choices: the line, a run's end, and which runs the comparison shows.

The lab's page draws; this module decides, without Streamlit, what it says about runs: how many
can train at once and how long a waiting run waits, how a run ended (a diverged run says what to
change), what the page asks for once a run has ended, which stored runs a learner compares, and
which of them have answers about the images on this computer.

    >>> end_message({"status": "diverged", "message": "Lower the learning rate."})
    ('error', ':material/trending_up:', 'Diverged: Lower the learning rate.')
"""
from __future__ import annotations

import functools
import io
from typing import Callable

from tl_lessons import text
from tl_lessons.dashboard import charts, learnt, settings
from tl_lessons.runs import RunStore

# The comparison's curves: what each choice of the "Curve" radio draws, as (metric, series).
METRICS = {
    "validation accuracy": ("accuracy", "validation"),
    "validation loss": ("loss", "validation"),
    "training accuracy": ("accuracy", "train"),
    "training loss": ("loss", "train"),
}
# The comparison starts with this many of the newest runs (the learner's own, or the class's): each in a colour
# of its own, and every one named in the legend.
COMPARED_AT_FIRST = 20
# How long a redraw waits for a run that has just started to give its first training point (its
# starting point, the model before any step, comes just before), so that the curves start with the
# redraw that follows Train instead of a later one (the rest of the page waits as long).
FIRST_POINT_WAIT_S = 1.5
TRAINING_POINTS = ("step", "epoch")


def plural(count: int, word: str) -> str:
    """`count` and `word`, with an s when there are several.

    >>> plural(1, "run"), plural(3, "run")
    ('1 run', '3 runs')
    """
    return f"{count} {word}{'s' if count > 1 else ''}"


# ---------------------------------------------------------------------------------------
# The line and this learner's run
# ---------------------------------------------------------------------------------------


def store_warning(notice: str, on_this_computer: bool) -> str:
    """What the lab says when the run store cannot be used: on a class's server, the sentence that
    names the server's folders (`notice`) is for the teacher, not the class.

    >>> store_warning("The folder runs/ is read-only.", on_this_computer=True)
    '**Runs are kept in memory only, until the dashboard stops.** The folder runs/ is read-only.'
    """
    why = notice if on_this_computer else (
        "The run store on the server cannot be used: tell your teacher (the teacher page says why). "
        "Your runs still train.")
    return f"**Runs are kept in memory only, until the dashboard stops.** {why}"


def empty_line(slots: int) -> str:
    """What the lab says when nobody trains on this server.

    >>> empty_line(1)
    'Nobody is training on this server now (1 run can train at once): a run starts as soon as you press Train.'
    """
    return (f"Nobody is training on this server now ({plural(slots, 'run')} can train "
            "at once): a run starts as soon as you press Train.")


def line_heading(slots: int) -> str:
    """The heading of the line of runs.

    >>> line_heading(2)
    '**Runs on this server** — 2 train at once, the others wait their turn:'
    """
    return f"**Runs on this server** — {slots} train{'s' if slots == 1 else ''} at once, the others wait their turn:"


def waiting_message(ahead: int, starts: float | None) -> str:
    """What a run waiting in line says: how many runs are ahead and when it starts (`starts`: seconds, None: unknown).

    >>> waiting_message(2, 130)
    'Waiting in line: 2 runs must end before yours starts (in about 2 min). The line is shown above.'
    """
    when = "as soon as a run ahead ends" if starts is None else f"in about {text.duration(starts)}"
    return f"Waiting in line: {plural(ahead, 'run')} must end before yours starts ({when}). The line is shown above."


def latest_store_notice(events: list[dict]) -> dict | None:
    """The latest event of a run that says how its storing goes: "busy" is followed by "free again, all
    stored" (`recording.record`), so only the latest is worth showing (None when there is none).

    >>> latest_store_notice([{"kind": "epoch"}, {"kind": "store", "store_notice": "Stored.", "store_state": "stored"}])
    {'kind': 'store', 'store_notice': 'Stored.', 'store_state': 'stored'}
    """
    return next((event for event in reversed(events) if "store_notice" in event), None)


def end_message(end: dict) -> tuple[str, str, str]:
    """How a run ended, in one line: (kind of message: "success", "warning", "info" or "error", its icon, the text).

    A diverged run says what to change; a run the class's time limit stopped says so
    (`classroom.ClassRules.time_up_message`).

    >>> end_message({"status": "finished", "val_acc": 0.25, "best_val_acc": 0.3, "elapsed": 41.6})
    ('success', ':material/check_circle:', 'Finished. Validation accuracy 25.0% (best 30.0%). 42 s of training. ')
    """
    status, message = end["status"], end.get("message") or ""
    accuracy = (
        ""
        if end.get("val_acc") is None
        else (f" Validation accuracy {end['val_acc']:.1%} (best {end['best_val_acc']:.1%}).")
    )
    seconds = "" if end.get("elapsed") is None else f" {end['elapsed']:.0f} s of training."
    if status == "finished":
        return "success", ":material/check_circle:", f"Finished.{accuracy}{seconds} {message}"
    if status == "stopped":
        return ("warning", ":material/stop_circle:",
                f"Stopped: {message or 'the run is kept with the epochs it finished.'}{accuracy}")
    if status == "cancelled":
        return "info", ":material/block:", f"Left the line: {message}"
    if status == "diverged":
        return "error", ":material/trending_up:", f"Diverged: {message}"
    return "error", ":material/error:", f"Failed: {message}"


def mixed_up(pairs: list[dict]) -> str:
    """The classes a running model mixes up most, in one line (`learnt.confused_pairs`).

    >>> mixed_up([{"true class": "cat", "predicted as": "dog", "images": 3}])
    'Mixed up most: cat taken for dog (3×)'
    """
    return "Mixed up most: " + "; ".join(
        f"{pair['true class']} taken for {pair['predicted as']} ({pair['images']}×)" for pair in pairs)


def after_the_run(run_id: int | None, label: str, ended: dict, new_source: str | None) -> dict:
    """What the page changes once a run has ended, as {widget key: value}: the run joins the comparison,
    and a source model that finished becomes the source, under the name it was saved as (another
    learner's model may have taken the name it asked for).

    >>> after_the_run(7, "source model mine", {"status": "finished", "saved_as": "mine-2"}, "trained:mine")
    {'lab_compare_add': '#7 source model mine', 'lab_source': 'trained:mine-2'}
    """
    pending = {}
    if run_id is not None:
        pending["lab_compare_add"] = charts.run_name({"id": run_id, "label": label})
    if new_source and ended["status"] == "finished":
        saved_as = ended.get("saved_as")
        pending["lab_source"] = f"trained:{saved_as}" if saved_as else new_source
    return pending


# ---------------------------------------------------------------------------------------
# Comparing stored runs
# ---------------------------------------------------------------------------------------


def runs_shown(runs: list[dict], you: str, class_view: bool) -> list[dict]:
    """The stored runs a learner's comparison lists: their own, or (class view) everyone's."""
    return runs if class_view else [run for run in runs if run["config"].get("learner") == you]


def runs_compared(chosen: list[str] | None, names: list[str], added: str | None) -> list[str]:
    """The runs the comparison overlays, by name: the learner's choice (at first the newest
    `COMPARED_AT_FIRST`), without runs no longer listed, and with a run that has just ended added.

    >>> runs_compared(None, ["#3 a", "#2 b", "#1 c"], added=None)
    ['#3 a', '#2 b', '#1 c']
    >>> runs_compared(["#1 c", "#9 gone"], ["#4 d", "#3 a", "#1 c"], added="#4 d")
    ['#1 c', '#4 d']
    """
    kept = [name for name in (names[:COMPARED_AT_FIRST] if chosen is None else chosen) if name in names]
    if added in names and added not in kept:
        kept.append(added)
    return kept


def not_on_chart(runs: list[dict], drawn: set[str], statuses: dict[int, str]) -> list[str]:
    """The chosen runs the chart cannot draw (no epoch finished), each with its status.

    >>> not_on_chart([{"id": 3, "label": "a"}, {"id": 4, "label": "b"}], {"#4 b"}, {3: "stopped", 4: "finished"})
    ['#3 a (stopped)']
    """
    return [f"{charts.run_name(run)} ({statuses[run['id']]})" for run in runs if charts.run_name(run) not in drawn]


def runs_csv(store: RunStore, run_ids: list[int], you: str) -> str:
    """The CSV export of the runs the learner's view shows, as it shows them (`charts.as_seen_by`).

    >>> runs_csv(RunStore(":memory:"), [], you=None).splitlines()[0]
    'run_id,label,strategy,status,kind,epoch,step,train_loss,train_acc,val_loss,val_acc,elapsed,message'
    """
    export = io.StringIO()
    store.export_csv(export, run_ids=run_ids, view=functools.partial(charts.as_seen_by, you=you))
    return export.getvalue()


def stored_answers(store: RunStore, run: dict, validation_images: Callable):
    """(a stored run's last "predictions" event, its validation images), None where either is missing here.

    `validation_images(setup)` gives the validation images of a setup (the page's cached
    `transfer_setup.load_target`). Answers recorded on other images (another data folder, or data
    changed since) are about other images: None.
    """
    predictions = learnt.last_predictions(store.events(run["id"], "predictions"))
    setup = settings.stored_setup(run["config"])
    if predictions is None or setup is None:
        return None
    val_set = validation_images(setup)
    if learnt.describe_images(val_set) != run["config"]["validation"] or not learnt.fits(predictions, val_set):
        return None
    return predictions, val_set


def right_in_one(images: int, split: dict[str, list[int]]) -> str:
    """Two runs on the same validation images, in one sentence (`split`: `learnt.right_and_wrong`).

    >>> right_in_one(10, {"only a": [1, 2], "only b": [3], "both": [4], "neither": [0, 5, 6, 7, 8, 9]})
    'Of 10 validation images, **A alone** gets 2 right, **B alone** 1; both 1, neither 6.'
    """
    return (f"Of {images:,} validation images, **A alone** gets {len(split['only a']):,} right, "
            f"**B alone** {len(split['only b']):,}; both {len(split['both']):,}, neither {len(split['neither']):,}.")
