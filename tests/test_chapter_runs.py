"""Chapters' committed outputs as a screen shows them: one progress bar per loop, in its final state."""
import json
from pathlib import Path

import pytest

from tl_lessons.chapters import as_shown, settle_streams

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("0*.ipynb"))


def test_a_line_keeps_what_follows_its_last_carriage_return():
    assert as_shown("a 0%\ra 50%\ra 100%\nnext\n") == "a 100%\nnext\n"
    assert as_shown("no bar\n") == "no bar\n"


def test_consecutive_outputs_to_one_stream_are_joined_before_they_settle():
    outputs = [{"output_type": "stream", "name": "stderr", "text": "sweep:   0%| 0/3"},
               {"output_type": "stream", "name": "stderr", "text": "\rsweep:  33%| 1/3"},
               {"output_type": "stream", "name": "stderr", "text": "\rsweep: 100%| 3/3\n"},
               {"output_type": "stream", "name": "stdout", "text": "3 runs in 9 s\n"},
               {"output_type": "stream", "name": "stderr", "text": "\n"}]
    assert settle_streams(outputs) == [{"output_type": "stream", "name": "stderr", "text": "sweep: 100%| 3/3\n"},
                                       {"output_type": "stream", "name": "stdout", "text": "3 runs in 9 s\n"}]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_hold_each_progress_bar_once(path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        streams = [output for output in cell.get("outputs", []) if output["output_type"] == "stream"]
        text = ["".join(output["text"]) for output in streams]
        assert not any("\r" in part for part in text), f"{path.name} cell {index}: a progress bar's redraws"
        names = [output["name"] for output in streams]
        assert all(a != b for a, b in zip(names, names[1:])), f"{path.name} cell {index}: one stream cut in pieces"
