"""Errors a learner can meet.

Every one of them carries a message that says what went wrong *and what to do next*.
The command line, the dashboard and the notebooks catch `LessonError` and show that
message instead of a stack trace; any other exception is a bug in the kit.
"""


class LessonError(Exception):
    """Base class: an error whose message is written for the learner.

    >>> raise LessonError("The learning rate must be positive: try 0.01.")
    Traceback (most recent call last):
    LessonError: The learning rate must be positive: try 0.01.
    """


class DataUnavailableError(LessonError):
    """A dataset is not on disk and cannot be downloaded (for example, offline)."""


class CorruptDataError(LessonError):
    """A dataset file is truncated or corrupt; the message names the file and the fix."""


class WeightsUnavailableError(LessonError):
    """Pre-trained weights (e.g. ImageNet) are not cached and the network is unreachable."""


class CheckpointError(LessonError):
    """A checkpoint does not fit (architecture, class count), is not one, or carries code."""


class ConfigError(LessonError):
    """An invalid combination of options; the dashboard shows it beside the widget."""


class RunStoreError(LessonError):
    """The run store cannot be opened, read or written; training goes on without storing the run."""
