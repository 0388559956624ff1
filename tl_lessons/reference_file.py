"""The recorded reference runs as a file: where it is, reading it, and what it says about itself.

`tl_lessons.reference_runs` trains chapter 04's sweeps and writes them here
(`tl_lessons/assets/reference_runs.json`); the dashboard and the widgets only read the file, so this
module needs nothing of the training (no sweep trainer is imported with it).

    >>> reference = load_reference_runs()
    >>> sorted({run["strategy"] for run in comparison_runs(reference)})[:3]
    ['discriminative', 'finetune', 'freeze']
"""
from __future__ import annotations

import json
from pathlib import Path

from tl_lessons.errors import LessonError

REFERENCE_RUNS = Path(__file__).parent / "assets" / "reference_runs.json"


def load_reference_runs(path=None) -> dict | None:
    """The recorded reference runs, or None when the file is missing.

    >>> len(load_reference_runs()["runs"])   # chapter 04's three sweeps, three seeds each
    63
    """
    path = Path(path) if path is not None else REFERENCE_RUNS
    if not path.is_file():
        return None
    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LessonError(f"{path} is not readable JSON ({error}): rebuild it with `make reference-runs`.") from None
    if not isinstance(reference, dict) or not isinstance(reference.get("runs"), list):
        raise LessonError(f"{path} has no list of runs: rebuild it with `make reference-runs`.")
    return reference


def comparison_runs(reference: dict) -> list[dict]:
    """The runs of the strategy comparison (files recorded before the sweeps were tagged hold only those).

    >>> [run["strategy"] for run in comparison_runs(load_reference_runs())][:4]
    ['scratch', 'scratch', 'scratch', 'linear_probe']
    """
    return [run for run in reference.get("runs", []) if run.get("sweep", "comparison") == "comparison"]


def reference_provenance(reference: dict) -> str:
    """Where the recorded reference runs come from, in one sentence, from what the file says.

    >>> reference_provenance({"data": "CIFAR-100, 10 images per class", "machine": "x86_64"})
    'Data: CIFAR-100, 10 images per class. Recorded on x86_64.'
    """
    parts = [f"Data: {reference['data']}."] if reference.get("data") else []
    recorded = "Recorded"
    if reference.get("recorded"):
        recorded += f" on {reference['recorded']}"
    if reference.get("machine"):
        recorded += f" on {reference['machine']}"
    if reference.get("torch"):
        recorded += f" with torch {reference['torch']}"
    if reference.get("recorded_with"):
        recorded += f" by `{reference['recorded_with']}`"
    if recorded != "Recorded":
        parts.append(recorded + ".")
    return " ".join(parts) or "The file does not say where its runs come from."
