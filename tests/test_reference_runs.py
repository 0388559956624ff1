"""The recorded reference runs: written by one module, read by another without the dashboard's libraries or the sweep trainer."""

import subprocess
import sys

import pytest

from tl_lessons import analysis, reference_file, reference_runs, transfer_setup
from tl_lessons.dashboard import charts
from tl_lessons.errors import LessonError
from tl_lessons.reference_file import load_reference_runs, reference_provenance
from tl_lessons.reference_runs import portable_source
from tl_lessons.synthetic import make_synthetic
from tl_lessons.transfer_setup import TransferSetup

REFERENCE = {
    "recorded_with": "python -m tl_lessons reference-runs",
    "data": "CIFAR-100, 10 images per class",
    "machine": "2 cores",
    "runs": [{"label": "linear probe", "strategy": "linear_probe", "epochs": [], "best_val_acc": 0.18}],
}


def test_recorded_runs_read_back_with_where_they_come_from(tmp_path, monkeypatch):
    """The sweeps themselves are chapter 04's (tests/test_analysis.py); here, what is written and read back."""
    base = TransferSetup(target="synthetic100", per_class=2, val_per_class=1)
    setups = [TransferSetup(target="synthetic100", strategy=name, per_class=2) for name in ("finetune", "linear_probe")]
    results = [{"label": s.label(), "strategy": s.strategy, "epochs": [{"epoch": 1, "val_acc": 0.1}], "sweep": sweep,
                "trainable_params": 100 * (i + 1)} for i, (s, sweep) in enumerate(zip(setups, ("comparison", "labels")))]
    monkeypatch.setattr(reference_runs, "chapter_runs", lambda base, seeds, executor=None: results)
    monkeypatch.setattr(transfer_setup, "load_target", lambda setup: (make_synthetic(100, "train", n_per_class=2),
                                                                      make_synthetic(100, "test", n_per_class=1)))
    monkeypatch.setattr(transfer_setup, "load_test", lambda setup: make_synthetic(100, "test", n_per_class=1))
    out = reference_runs.record_reference_runs(tmp_path / "reference.json", base)
    reference = load_reference_runs(out)
    assert reference["runs"] == results and "synthetic100" in reference["data"]
    assert reference["task"] == ("2 training images per class (200), 100 validation images held out from the "
                                 "training split, 100 test images")
    assert reference_file.comparison_runs(reference) == results[:1]
    assert charts.reference_table(reference)["trainable params"].tolist() == [100]  # the comparison's runs only


@pytest.mark.slow
def test_chapter_runs_tag_each_sweep(monkeypatch):
    seen = {}

    def fake(name):
        def sweep(setups, *args, seeds, progress, **options):
            seen[name] = (len(list(setups)) if not isinstance(setups, TransferSetup) else 1, seeds)
            return [{"label": name, "strategy": "x"}]
        return sweep

    monkeypatch.setattr(analysis, "compare_strategies", fake("comparison"))
    monkeypatch.setattr(analysis, "label_regimes", fake("labels"))
    monkeypatch.setattr(analysis, "freeze_depth_curve", fake("freeze depth"))
    runs = reference_runs.chapter_runs(seeds=(0, 1))
    assert [run["sweep"] for run in runs] == list(reference_runs.SWEEPS)
    assert seen == {"comparison": (7, (0, 1)), "labels": (3, (0, 1)), "freeze depth": (1, (0, 1))}


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
def test_reading_them_needs_neither_altair_nor_pandas_nor_the_sweep_trainer():
    code = ("import sys; from tl_lessons.reference_file import load_reference_runs; load_reference_runs(); "
            "print(sorted(name for name in ('altair', 'pandas', 'streamlit', 'tl_lessons.analysis') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def answers(right: int, images: int = 1000, offset: int = 0) -> str:
    """A run's recorded answers: `right` of `images` test images right, starting at image `offset`."""
    return "".join("1" if (i - offset) % images < right else "0" for i in range(images))


def recorded_run(label, strategy, seed, acc, sweep="comparison", correct=None):
    run = {"label": label, "strategy": strategy, "sweep": sweep, "test_acc": acc, "config": {"seed": seed, "strategy": strategy}}
    return run if correct is None else dict(run, test_correct=correct)


def test_the_comparison_table_reads_the_verdicts_on_the_recorded_answers():
    # scratch gets 50-70 of 1,000 images right; freeze 400-420 (the same images and more): a real gap;
    # the probe 40-100, partly other images: a gap smaller than its seeds disagree, within the noise.
    scratch, freeze, probe = (50, 60, 70), (400, 410, 420), (40, 60, 100)
    reference = {"runs": [recorded_run("scratch · lr 0.1 · 5/class", "scratch", s, n / 1000, correct=answers(n))
                          for s, n in enumerate(scratch)]
                 + [recorded_run("freeze k=2 · bn eval · lr 0.3 · 5/class", "freeze", s, n / 1000, correct=answers(n))
                    for s, n in enumerate(freeze)]
                 + [recorded_run("linear probe · bn eval · lr 1 · 5/class", "linear_probe", s, n / 1000,
                                 correct=answers(n, offset=5 * s)) for s, n in enumerate(probe)]
                 + [recorded_run("scratch · lr 0.1 · 1/class", "scratch", 0, 0.5, sweep="labels")]}
    table = reference_runs.comparison_table(reference)
    assert [row["setting"].split(" ·")[0] for row in table] == ["freeze k=2", "linear probe", "scratch"]
    assert table[0] == {"setting": "freeze k=2 · bn eval · lr 0.3 · 5/class", "seeds": 3, "test acc %": "41.0 (40.0-42.0)",
                        "vs scratch (points)": "+35.0 (above, beyond the noise)"}
    assert table[1]["vs scratch (points)"] == "+0.7 (within the noise)" and table[2]["vs scratch (points)"] == ""


def test_the_comparison_table_gives_no_verdict_without_recorded_answers():
    """Files recorded before runs kept their answers: the gap is shown, the range-overlap rule is not applied."""
    reference = {"runs": [recorded_run("scratch · lr 0.1 · 5/class", "scratch", s, a) for s, a in enumerate((0.05, 0.06, 0.07))]
                 + [recorded_run("freeze k=2 · bn eval · lr 0.3 · 5/class", "freeze", s, a) for s, a in enumerate((0.12, 0.13, 0.14))]}
    table = reference_runs.comparison_table(reference)
    assert table[0]["test acc %"] == "13.0 (12.0-14.0)"
    assert table[0]["vs scratch (points)"] == f"+7.0 ({reference_runs.NO_ANSWERS})" == "+7.0 (not recorded with answers: no verdict)"
    # One strategy recorded with answers and scratch without: still no verdict (nothing to pair with).
    reference["runs"][3:] = [dict(run, test_correct=answers(130)) for run in reference["runs"][3:]]
    assert reference_runs.comparison_table(reference)[0]["vs scratch (points)"].endswith(f"({reference_runs.NO_ANSWERS})")
