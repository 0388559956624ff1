"""The chapters' committed outputs: nothing in them may depend on a library's own wording.

nbval compares the outputs of the cells marked for it with a fresh run. If such an output holds
PyTorch's repr of a tensor or a layer, or the text of one of its errors, the chapter breaks the
day a learner's PyTorch words it differently (it happened: "mat1 and mat2 shapes cannot be
multiplied" became "addmm: mat1 and mat2 ..."). The chapters print through `tl_lessons.text`.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# What a library's own printing looks like.
LIBRARY_WORDING = {
    "a tensor's repr": re.compile(r"\btensor\(\["),
    "a dtype in a repr": re.compile(r"dtype=torch\."),
    "torch.Size": re.compile(r"torch\.Size\("),
    "a layer's repr": re.compile(r"\b(Linear|Conv2d|BatchNorm2d)\(in_|\b\w+\(in_features="),
    "a module tree": re.compile(r"^\s*\(\w+\): \w+\(", re.MULTILINE),
    "PyTorch's shape error": re.compile(r"shapes cannot be multiplied|size mismatch for"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
}


def checked_cells(path: Path):
    """(index, output text) of the code cells whose output nbval checks."""
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "nbval-check-output" in cell.get("metadata", {}).get("tags", []) or "NBVAL_CHECK_OUTPUT" in source:
            texts = ["".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
                     for output in cell.get("outputs", [])]
            yield index, "\n".join(texts)


def library_wording(text: str) -> list[str]:
    """The kinds of library wording found in `text`."""
    return [kind for kind, pattern in LIBRARY_WORDING.items() if pattern.search(text)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_checked_outputs_hold_no_library_wording(path):
    found = {index: kinds for index, text in checked_cells(path) if (kinds := library_wording(text))}
    assert found == {}, f"{path.name}: cells whose checked output depends on a library's wording: {found}"


def test_the_scan_recognises_library_wording():
    assert library_wording("tensor([[0.09, 0.24]], dtype=torch.float64)") == ["a tensor's repr", "a dtype in a repr"]
    assert library_wording("new classifier: Linear(in_features=128, out_features=100, bias=True)") == ["a layer's repr"]
    assert library_wording("RuntimeError: addmm: mat1 and mat2 shapes cannot be multiplied (1x2048 and 6272x100)") == [
        "PyTorch's shape error"]
    assert library_wording("Sequential(\n  (conv1): Sequential(\n") == ["a module tree"]
    assert library_wording("each image arrives as 128x4x4 = 2,048 numbers") == []


def test_there_are_five_chapters():
    assert [path.stem[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


def committed_output(path: Path, marker: str) -> str:
    """The committed text output of the one code cell whose source contains `marker`."""
    notebook = json.loads(path.read_text())
    (cell,) = [c for c in notebook["cells"] if c["cell_type"] == "code" and marker in "".join(c["source"])]
    return "".join("".join(output.get("text", "")) for output in cell.get("outputs", []))


def test_chapter_01s_recorded_comparison_is_what_the_shipped_file_says():
    """A committed output derived from a shipped asset goes stale when the asset is recorded again."""
    from tl_lessons import reference_runs, text

    chapter = next(path for path in NOTEBOOKS if path.stem.startswith("01"))
    reference = reference_runs.load_reference_runs()
    expected = (f"task: {reference.get('task', '-')}\nrecorded on: {reference['data']}\n"
                f"{text.table(reference_runs.comparison_table(reference))}\n")
    assert committed_output(chapter, "reference_runs.comparison_table(reference)") == expected


def test_chapter_04s_tuning_record_is_the_librarys():
    from tl_lessons import analysis, text, transfer

    chapter = next(path for path in NOTEBOOKS if path.stem.startswith("04"))
    expected = text.table([{"strategy": name, **{f"lr {lr:g}": f"{acc:.1%}" for lr, acc in scores.items()},
                            "chosen": f"{transfer.STRATEGY_TABLE[name].lr:g}"}
                           for name, scores in analysis.TUNING_RECORD.items()]) + "\n"
    assert committed_output(chapter, "analysis.TUNING_RECORD.items()") == expected


def all_outputs(path: Path):
    """(index, output) of every output of every code cell."""
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            for output in cell.get("outputs", []):
                yield index, output


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_committed_chapter_is_one_run_from_top_to_bottom(path):
    """Outputs from one kernel, in order: no cell left unrun, none run twice or out of turn."""
    notebook = json.loads(path.read_text())
    counts = [cell.get("execution_count") for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_committed_output_is_an_error_or_a_warning(path):
    """A learner reads the committed chapter: a traceback or a library's warning there teaches nothing."""
    found = []
    for index, output in all_outputs(path):
        if output["output_type"] == "error":
            found.append((index, output.get("ename")))
        elif output["output_type"] == "stream" and output.get("name") == "stderr":
            text = "".join(output.get("text", ""))
            if re.search(r"Warning\b|Traceback", text):
                found.append((index, text[:120]))
    assert found == [], f"{path.name}: {found}"


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users|var|opt|mnt)/[\w./-]+")


def committed_text(path: Path) -> str:
    """Every text a chapter's committed outputs hold: streams, plain-text results and errors."""
    notebook = json.loads(path.read_text())
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
            texts.append(" ".join(output.get("traceback", [])))
    return "\n".join(texts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_outputs_name_no_folder_of_the_machine_that_ran_them(path):
    found = sorted(set(MACHINE_PATH.findall(committed_text(path))))
    assert found == [], f"{path.name} shows the paths of the machine that ran it: {found[:5]}"


def test_the_path_scan_finds_a_machine_path_and_leaves_relative_names_alone():
    assert MACHINE_PATH.findall("cached in /root/.cache/torch/hub/checkpoints and") == ["/root/.cache/torch/hub/checkpoints"]
    assert MACHINE_PATH.findall("a copy in the data folder's cifar-100-python, see ../shared/data") == []


RUN_SPECIFIC = {
    "a float's full repr": re.compile(r"(?<![\w.])\d+\.\d{7,}(?![\d])"),
    "a warning": re.compile(r"\w+Warning\b"),
    "an errno": re.compile(r"\[Errno -?\d+\]"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_outputs_hold_no_raw_float_warning_errno_or_traceback(path):
    text = committed_text(path)
    found = {kind: pattern.findall(text)[:3] for kind, pattern in RUN_SPECIFIC.items() if pattern.search(text)}
    assert found == {}, f"{path.name}: outputs a learner's run would not repeat: {found}"


def test_the_run_specific_scan_finds_what_it_names():
    sample = "{'test_loss': 0.6713093444824219} ChecksumMismatchWarning: ... ([Errno -2] Name or service not known)"
    assert [kind for kind, pattern in RUN_SPECIFIC.items() if pattern.search(sample)] == [
        "a float's full repr", "a warning", "an errno"]
    assert not any(pattern.search("test accuracy 78.8 %, 8.9e-07, 1,155 s") for pattern in RUN_SPECIFIC.values())
