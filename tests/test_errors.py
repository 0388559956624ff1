"""Learner-facing errors: in a notebook a LessonError shows its sentence, not the frames of the kit behind it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tl_lessons import data
from tl_lessons.errors import DataUnavailableError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def shown_in_ipython(cell: str, capsys) -> str:
    """What IPython prints when `cell` raises, without colours."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell()
    capsys.readouterr()
    result = shell.run_cell(cell)
    assert result.error_in_exec is not None
    return ANSI.sub("", capsys.readouterr().out)


def test_a_lesson_error_in_a_notebook_shows_only_its_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TL_LESSONS_DATA", str(tmp_path))
    shown = shown_in_ipython("from tl_lessons import data\ndata.load_dataset('cifar10', 'train')", capsys)
    with pytest.raises(DataUnavailableError) as raised:
        data.load_dataset("cifar10", "train")
    assert shown.strip() == f"DataUnavailableError: {raised.value}"
    assert "Traceback" not in shown and "File " not in shown and "data.py" not in shown


def test_any_other_error_keeps_its_traceback(capsys):
    shown = shown_in_ipython("def broken():\n    return 1 / 0\nbroken()", capsys)
    assert "ZeroDivisionError" in shown and "broken()" in shown  # a bug is shown where it happened


def test_importing_the_kit_does_not_import_ipython():
    code = "import sys, tl_lessons.errors, tl_lessons.data; print('IPython' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "False"


@pytest.mark.slow
def test_chapter_03_in_full_mode_without_cifar_shows_one_sentence(tmp_path, monkeypatch):
    """The chapter's first cells, run as Jupyter runs them, with no CIFAR-10 and no test mode."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    chapter = nbformat.read(notebooks / "03_cifar10_training.ipynb", as_version=4)
    loading = next(i for i, cell in enumerate(chapter.cells) if "data.load_dataset(\"cifar10\"" in cell.source)
    chapter.cells = chapter.cells[:loading + 1]
    monkeypatch.setenv("TL_LESSONS_DATA", str(tmp_path))  # the kernel inherits this environment
    monkeypatch.setenv("TL_LESSONS_THREADS", "1")
    monkeypatch.delenv("TL_LESSONS_FAST", raising=False)
    NotebookClient(chapter, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(notebooks)}}).execute()
    errors = [output for cell in chapter.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "DataUnavailableError"
    shown = ANSI.sub("", "\n".join(errors[0].traceback))
    assert shown == f"DataUnavailableError: {errors[0].evalue}"
    assert "make data" in shown and str(tmp_path) in shown
