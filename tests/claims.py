"""Prose that the outputs back: each sentence of a chapter that states a verdict, a ranking or a number,
with the committed output it rests on and the condition it states.

Each chapter's claims live in `claims_NN.py` beside this file (a list named CLAIMS); this module holds
what they share. A claim names a chapter, a sentence of its prose (matched with line breaks and repeated spaces
folded), the tag of the code cell whose committed output backs it, and a check of that output. The
test (`test_claims.py`) fails when a sentence is gone (its claim would guard nothing) and when a
re-run moved an output so far that the sentence no longer holds: then fix the sentence, or the
code, and run the chapter again.

Outputs are read as the chapters print them: `text.table` tables (columns two spaces apart) and
plain lines.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass(frozen=True)
class Claim:
    chapter: str          # the notebook's file name
    sentence: str         # a piece of its prose
    output: str           # the tag of the cell whose output backs it
    holds: Callable[[str], bool]


def folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def prose(notebook: dict) -> str:
    return folded(" ".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"))


def tagged_output(notebook: dict, tag: str) -> str:
    cells = [cell for cell in notebook["cells"] if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{len(cells)} cells are tagged {tag!r}"
    return "".join("".join(output.get("text", "")) for output in cells[0].get("outputs", []))


def table(text: str, first_column: str) -> list[dict]:
    """The rows of the first `text.table` in `text` whose header starts with `first_column`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_column))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = []
    for line in lines[start + 1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):   # a blank line or a sentence: the table has ended
            break
        rows.append(dict(zip(header, cells)))
    return rows


def percent(cell: str) -> float:
    return float(cell.rstrip(" %"))


def points(cell: str) -> float:
    return float(cell.split()[0])


def load(chapter: str) -> dict:
    return json.loads((NOTEBOOKS / chapter).read_text())


def all_claims() -> list[Claim]:
    """Every chapter's claims (the CLAIMS list of each claims_NN.py beside this file)."""
    import importlib

    found = []
    for path in sorted(Path(__file__).parent.glob("claims_[0-9][0-9].py")):
        found += importlib.import_module(path.stem).CLAIMS
    return found
