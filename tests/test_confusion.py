"""Which classes a model mixes up most, read from its confusion matrix."""

import torch

from tl_lessons.confusion import most_confused


def test_most_confused_counts_off_diagonal_cells():
    matrix = torch.tensor([[5, 3, 0], [1, 4, 0], [0, 6, 2]])
    rows = most_confused(matrix, ["a", "b", "c"], top=5)
    assert [(r["true class"], r["predicted as"], r["images"]) for r in rows] == [("c", "b", 6), ("a", "b", 3), ("b", "a", 1)]
    assert rows[0]["share of the true class"] == "75.0%"


def test_a_model_that_makes_no_mistakes_mixes_up_nothing():
    assert most_confused(torch.eye(3, dtype=torch.long) * 4, ["a", "b", "c"]) == []
