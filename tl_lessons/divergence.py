"""Noticing a training run that blew up: `fit` feeds every step's loss to a `DivergenceWatch`.

A learning rate that is too large makes the loss grow instead of shrink, or turn into NaN. The
watch says so in a sentence that names the rate and a smaller one to try, and `fit` ends the run
with status "diverged" (watching a run diverge is part of the lesson, so no rate is refused up front).
"""
import math


class DivergenceWatch:
    """Notices a training run that blew up: a NaN/inf loss, or a loss far above where it started.

    Where a run starts: a model that guesses (equal odds for every class) has a loss of
    log(classes), 2.30 for 10 classes; a model that starts worse than that is judged from its
    first loss instead. Both are known before the first update, so a blow-up in the first steps
    cannot pass for the start, and every step is checked from the first one.

    Single batches are noisy (a batch of 4 images can have a huge loss by chance), so the
    comparison uses a running average of the loss over about `SMOOTHING_IMAGES` images: a
    batch of 512 counts alone, a batch of 4 is averaged with the 63 before it.

    >>> from tl_lessons.train import PRESETS
    >>> watch = DivergenceWatch(PRESETS["quick"], num_classes=10)
    >>> watch.update(2.3, step=1)   # None: all is well
    >>> watch.update(float("nan"), step=2)
    'The loss became nan at step 2: ...'
    """

    SMOOTHING_IMAGES = 256
    ENDED_ABOVE = 1.5  # a run that never got better and ended this many times above its start made things worse

    def __init__(self, config, num_classes: int):
        self.config = config
        self.guess = math.log(max(num_classes, 2))  # the loss of equal odds for every class
        self.weight = min(1.0, config.batch_size / self.SMOOTHING_IMAGES)
        self.start = self.smoothed = self.lowest = None
        self.step = 0

    def update(self, loss: float, step: int) -> str | None:
        """Feed one step's loss; returns the learner-facing message when the run diverged."""
        self.step = step
        if not math.isfinite(loss):
            return f"The loss became {loss} at step {step}: {self.advice()}"
        if self.start is None:
            # The loss before the first update: the model's, not the learning rate's doing.
            self.start = max(self.guess, loss)
            self.smoothed = loss
            return None
        self.smoothed += self.weight * (loss - self.smoothed)
        self.lowest = self.smoothed if self.lowest is None else min(self.lowest, self.smoothed)
        if self.smoothed > self.config.diverge_factor * self.start:
            return (f"The loss rose to {self.smoothed:.3g} at step {step}, more than {self.config.diverge_factor:g} "
                    f"times the {self.start:.3g} it started from: {self.advice()}")
        return None

    def at_end(self) -> str | None:
        """The message for a run that ended well above its start without ever coming below it, else None.

        A short run can end before its loss climbs past `diverge_factor` times the start, yet leave
        a model worse than one that guesses.
        """
        if self.lowest is None or self.lowest < self.start or self.smoothed <= self.ENDED_ABOVE * self.start:
            return None
        return (f"After {self.step} steps the loss was {self.smoothed:.3g}, above the {self.start:.3g} it started "
                f"from, and it never came below that: {self.advice()}")

    def advice(self) -> str:
        lr = self.config.lr
        return f"the learning rate {lr:g} is too large; try {lr / 10:g} or smaller."
