"""Run a chapter top to bottom and keep its outputs as a learner's screen shows them at the end.

The committed outputs of a chapter come from one such run (full mode, the real data). A progress bar
redraws itself in place with a carriage return; a saved notebook keeps every redraw as text of its
own, and a ten-minute sweep leaves a wall of half-finished bars. Here each cell's consecutive
outputs to one stream are joined and every line keeps only what followed its last carriage return:
one bar per loop, in its final state, as JupyterLab shows it once the cell is done.

    python -m tl_lessons.chapters notebooks/04_cifar100_transfer.ipynb          # runs it, saves it in place
    python -m tl_lessons.chapters --settle-only notebooks/02_*.ipynb             # only settles saved outputs
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def as_shown(text: str) -> str:
    """What a terminal shows for `text`: each line from its last carriage return on.

    >>> as_shown("tuning:   0%|  | 0/10\\rtuning: 100%|##| 10/10\\n")
    'tuning: 100%|##| 10/10\\n'
    """
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def settle_streams(outputs: list) -> list:
    """A cell's outputs with each run of consecutive same-stream outputs joined and shown as a screen would."""
    settled = []
    for output in outputs:
        previous = settled[-1] if settled else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            settled.append(output)
    for output in settled:
        if output.get("output_type") == "stream":
            output["text"] = as_shown("".join(output["text"]))
    return [output for output in settled if output.get("output_type") != "stream" or output["text"].strip()]


def run_chapter(path, timeout_s: int = 3600, execute: bool = True) -> float:
    """Execute the notebook at `path` in its own folder, settle its streams, save it in place; returns minutes.

    `execute` False: only settle the outputs it holds (the same run, shown as a screen shows it)."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    if execute:
        # No timestamps per cell and no widget state: the file keeps what the chapter printed and drew.
        NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", record_timing=False,
                       store_widget_state=False, resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = settle_streams(cell.outputs)
    nbformat.write(notebook, path)
    return (time.perf_counter() - started) / 60


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run chapters top to bottom and save their outputs in place.")
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--settle-only", action="store_true", help="do not run: only settle the saved outputs")
    arguments = parser.parse_args()
    for chapter in arguments.notebooks:
        print(f"{chapter}: {run_chapter(chapter, execute=not arguments.settle_only):.1f} min", flush=True)
