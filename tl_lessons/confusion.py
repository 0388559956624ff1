"""Which classes a model mixes up most, read from its confusion matrix.

A confusion matrix counts, for each true class (a row), what the model answered (a column); its
diagonal holds the right answers, every other cell a mistake (`train.confusion_counts` builds one
from answers already computed). The largest cells off the diagonal say which class is most often
taken for which: the chapters print them, and the dashboard shows them beside a run.
"""
from __future__ import annotations

import torch


def most_confused(matrix: torch.Tensor, classes, top: int = 5) -> list[dict]:
    """The `top` largest off-diagonal cells: which class is most often taken for which.

    >>> most_confused(torch.tensor([[8, 2], [0, 10]]), ["cat", "dog"], top=1)
    [{'true class': 'cat', 'predicted as': 'dog', 'images': 2, 'share of the true class': '20.0%'}]
    """
    mistakes = matrix.clone()
    mistakes.fill_diagonal_(0)
    values, cells = mistakes.flatten().topk(min(top, mistakes.numel()))
    rows = []
    for value, cell in zip(values.tolist(), cells.tolist()):
        if value == 0:
            break
        true, predicted = divmod(cell, len(classes))
        rows.append({"true class": classes[true], "predicted as": classes[predicted], "images": value,
                     "share of the true class": f"{value / max(int(matrix[true].sum()), 1):.1%}"})
    return rows
