"""Chapters 01, 04 and 05 on official-size CIFAR-100: every cell runs, in test mode, on a full-size stand-in.

Our development copy of CIFAR-100 holds about 11 training images per class; a learner's `make data`
gives 500. Code that only ever met the small copy can break on the large one (a class name that is
not there, a table sized for a handful of images, a cache that no longer fits). This test writes the
stand-in at the official sizes (`tl_lessons.standin`: 50,000 training and 10,000 test images of the
synthetic set in CIFAR-100's layout, beside the real CIFAR-10) and runs the chapters that read
CIFAR-100 top to bottom in test mode, as nbval would, failing on any cell's error. (Their full-mode
times and memory on it are measured once and listed in the README; tests do not time things.)
"""
import os
from pathlib import Path

import pytest

from tl_lessons import standin

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def official_size_standin(tmp_path_factory, real_cifar_root):
    folder = tmp_path_factory.mktemp("official_size")
    standin.write_cifar100_standin(folder, cifar10_from=real_cifar_root)
    return folder


@pytest.mark.parametrize("chapter", ["01_background", "04_cifar100_transfer", "05_when_transfer_helps"])
def test_the_chapter_runs_on_official_size_cifar100(chapter, official_size_standin, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    # The kernel inherits this environment: test mode, the stand-in as the data folder, a run store of its own.
    monkeypatch.setenv("TL_LESSONS_FAST", "1")
    monkeypatch.setenv("TL_LESSONS_DATA", str(official_size_standin))
    monkeypatch.setenv("TL_LESSONS_RUNS", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()   # raises on a cell's error
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.get("outputs", []) if output.get("output_type") == "stream")
    if chapter.startswith("05"):   # it prints each target's sizes: 15 classes of 100 official test images
        assert "75 training, 75 validation and 1,500 test images" in printed and "stand in for them" in printed
    else:
        assert "50,000 images, 100 classes (500 per class)" in printed   # it really read the official-size files
        assert "STAND-IN" in printed
