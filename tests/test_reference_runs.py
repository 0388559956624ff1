"""The recorded reference runs: written and read by one module, read without the dashboard's libraries."""

import subprocess
import sys

import pytest

from tl_lessons import analysis, reference_runs, transfer_setup
from tl_lessons.dashboard import charts
from tl_lessons.errors import LessonError
from tl_lessons.reference_runs import load_reference_runs, portable_source, reference_provenance
from tl_lessons.synthetic import make_synthetic
from tl_lessons.transfer_setup import TransferSetup

REFERENCE = {
    "recorded_with": "python -m tl_lessons reference-runs",
    "data": "CIFAR-100, 10 images per class",
    "machine": "2 cores",
    "runs": [{"label": "linear probe", "strategy": "linear_probe", "epochs": [], "best_val_acc": 0.18}],
}


def test_recorded_runs_read_back_with_where_they_come_from(tmp_path, monkeypatch):
    """The sweep itself is chapter 04's (tests/test_analysis.py); here, what is written and read back."""
    setups = [TransferSetup(target="synthetic100", strategy=name, per_class=2) for name in ("finetune", "linear_probe")]
    results = [{"label": s.label(), "strategy": s.strategy, "epochs": [{"epoch": 1, "val_acc": 0.1}],
                "trainable_params": 100 * (i + 1)} for i, s in enumerate(setups)]
    monkeypatch.setattr(analysis, "compare_strategies", lambda trials, **options: results)
    monkeypatch.setattr(transfer_setup, "load_target",
                        lambda setup: (make_synthetic(100, "train", n_per_class=2), None))
    out = reference_runs.record_reference_runs(tmp_path / "reference.json", setups)
    reference = load_reference_runs(out)
    assert reference["runs"] == results and "synthetic100" in reference["data"]
    assert charts.reference_table(reference)["trainable params"].tolist() == [100, 200]


def test_reference_runs_do_not_carry_the_recording_machines_data_folder(tmp_path):
    root = tmp_path / "data"
    source = f"a rebuilt copy of CIFAR-100 in {root}/cifar-100-python whose checksums differ"
    assert portable_source(source, root) == (
        "a rebuilt copy of CIFAR-100 in the data folder's cifar-100-python whose checksums differ")
    assert portable_source("synthetic100, generated from seed 0", root) == "synthetic100, generated from seed 0"
    shipped = load_reference_runs()
    assert " /" not in shipped["data"] and "the data folder's cifar-100-python" in shipped["data"]


def test_reference_provenance_says_what_the_file_says():
    assert reference_provenance(REFERENCE) == (
        "Data: CIFAR-100, 10 images per class. Recorded on 2 cores by `python -m tl_lessons reference-runs`."
    )
    assert reference_provenance({"recorded": "2026-11-21", "torch": "2.15"}) == (
        "Recorded on 2026-11-21 with torch 2.15."
    )
    assert reference_provenance({}) == "The file does not say where its runs come from."


def test_missing_or_broken_reference_runs(tmp_path):
    assert load_reference_runs(tmp_path / "none.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LessonError, match="make reference-runs"):
        load_reference_runs(broken)


@pytest.mark.slow
def test_reading_them_needs_neither_altair_nor_pandas():
    code = ("import sys; from tl_lessons.reference_runs import load_reference_runs; load_reference_runs(); "
            "print(sorted(name for name in ('altair', 'pandas', 'streamlit') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
