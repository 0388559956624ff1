"""Errors a learner can meet.

Every one of them carries a message that says what went wrong *and what to do next*.
The command line and the dashboard catch `LessonError` and show that message instead of a stack
trace, and a notebook shows only the message too (`LessonError._render_traceback_`); any other
exception is a bug in the kit.

`is_number` and `is_whole_number` are the two type rules behind the ConfigErrors: a setting
typed as text, or a fractional epoch count, gets a sentence instead of a TypeError from deep
inside PyTorch.
"""
from __future__ import annotations

import math
import numbers


class LessonError(Exception):
    """Base class: an error whose message is written for the learner.

    >>> raise LessonError("The learning rate must be positive: try 0.01.")
    Traceback (most recent call last):
    tl_lessons.errors.LessonError: The learning rate must be positive: try 0.01.
    """

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows when a cell raises this: the sentence, without the kit's frames behind it.

        IPython asks an exception for this method before it formats a traceback (no import of
        IPython is needed here). The frames would only lead a learner into the kit's code, while the
        sentence already says what to do. Errors that are not LessonErrors keep their full traceback:
        those are bugs, and their frames show where.
        """
        return [f"{type(self).__name__}: {self}"]


class DataUnavailableError(LessonError):
    """A dataset is not on disk and cannot be downloaded (for example, offline)."""


class CorruptDataError(LessonError):
    """A dataset file is truncated or corrupt; the message names the file and the fix."""


class WeightsUnavailableError(LessonError):
    """Pre-trained weights (e.g. ImageNet) are not cached and the network is unreachable.

    `headline` is the calm one-sentence version, without this computer's folders or the network's own
    error, for a page or a chapter to show; the message keeps every detail of what to do.
    """

    def __init__(self, message: str, headline: str | None = None):
        super().__init__(message)
        self.headline = headline or message


class CheckpointError(LessonError):
    """A checkpoint does not fit (architecture, class count), is not one, or carries code."""


class CheckpointExistsError(CheckpointError):
    """A checkpoint was to be saved without replacing one, and one of that name exists."""


class ConfigError(LessonError):
    """An invalid combination of options; the dashboard shows it beside the widget."""


class WorkerError(LessonError):
    """A run handed to an executor (`tl_lessons.executors`) failed there; the message names the run."""


def is_number(value) -> bool:
    """A finite real number (True and "0.1" are not numbers here).

    >>> is_number(0.1), is_number("0.1"), is_number(float("inf"))
    (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_whole_number(value) -> bool:
    """An integer (2 is one; 2.0, True and "2" are not).

    >>> is_whole_number(2), is_whole_number(2.0)
    (True, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class RunStoreError(LessonError):
    """The run store cannot be opened, read or written; training goes on without storing the run."""
