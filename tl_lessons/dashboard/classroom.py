"""A class on one dashboard: the rules every run follows, who the teacher is, and learner codes.

A teacher starts the dashboard (`make app ADDRESS=...`) and up to 30 learners open it. On a
2-core server one run trains at a time, so the class shares it by rules the server enforces,
whatever a learner's link or number of tabs says:

- **One run per learner at a time** (training or waiting in line): see `jobs.TrainingLine.join`.
- **A limit on each run's size** (epochs × training images) and **on its training time**: a run
  that reaches the time limit stops like a learner's Stop, its curve and finished epochs kept. They
  hold once the dashboard is opened to a class; a learner alone at their own `make app` has none.
- **The teacher can pause new runs**, change the limits and the number of runs that train at
  once, stop any run: the teacher page, opened with a token that only the teacher has.

The rules are kept in the server process (`SHARED_RULES`); a restart brings back the defaults,
which keep a class moving: the lab's first run (500 images, 8 epochs: 4,000 image-epochs) is a
tenth of the size limit, and most runs end well before the time limit.

    >>> rules = ClassRules(max_minutes=3, max_image_epochs=50_000)
    >>> rules.refusal(size=200_000, learner_has_a_run=False)
    'This run is too big for the class: 200,000 image-epochs ...'
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import threading
from dataclasses import dataclass, field

TEACHER_VARIABLE = "TL_LESSONS_TEACHER_TOKEN"

# Defaults for a 2-core classroom server: 30 runs of the lab's first settings take 3-4 minutes one
# after the other; the limits stop one learner's run from holding the only slot for hours.
MAX_MINUTES = 3.0
MAX_IMAGE_EPOCHS = 50_000


@dataclass
class ClassRules:
    """What every run on this server must respect; the teacher page changes them while the class works.

    `max_minutes`: training time of one run (its turn in line not counted); `max_image_epochs`: its
    size, epochs × training images; `paused`: no new run may join the line.
    """

    max_minutes: float = MAX_MINUTES
    max_image_epochs: int = MAX_IMAGE_EPOCHS
    paused: bool = False
    limited: bool = True  # False on a dashboard that only its own computer can open: a learner alone
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def serving(self, address: str | None) -> ClassRules:
        """Say where the dashboard listens: the size and time limits hold for a class (any address but
        this computer's own), not for a learner alone at `make app`, whose long runs hurt nobody."""
        self.limited = not is_loopback(address)
        return self

    def time_limit_s(self) -> float | None:
        """Seconds of training a run may have (None: no limit here)."""
        return self.max_minutes * 60 if self.limited else None

    def change(self, **values) -> ClassRules:
        """Set some rules at once (the teacher page's form); refuses values that cannot work."""
        if "max_minutes" in values and not 0 < float(values["max_minutes"]) <= 24 * 60:
            raise ValueError("The time limit must be between a few seconds and a day (in minutes).")
        if "max_image_epochs" in values and int(values["max_image_epochs"]) < 1:
            raise ValueError("The size limit must be at least 1 image-epoch.")
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)
        return self

    def refusal(self, size: int, learner_has_a_run: bool) -> str | None:
        """Why a new run of `size` image-epochs may not join the line now (None: it may)."""
        if self.paused:
            return ("The teacher has paused new runs for now: wait until they start again, then press Train. "
                    "Your settings are kept.")
        if learner_has_a_run:
            return ("You already have a run training or waiting in line (in this tab or another): "
                    "one run per learner at a time, so stop it or wait for it to end, then press Train.")
        if self.limited and size > self.max_image_epochs:
            return (f"This run is too big for the class: {size:,} image-epochs (epochs × training images), "
                    f"and each run may have at most {self.max_image_epochs:,} here. Use fewer epochs or fewer "
                    "images per class, or ask your teacher.")
        return None

    def time_up_message(self, saves_at_end: bool = False) -> str:
        """What a run that reached the time limit says at its end (`saves_at_end`: a run whose model is only
        saved when it finishes, a source model: it says that nothing was saved, and what to do)."""
        reached = f"It reached the class's limit of {minutes_text(self.max_minutes)} of training per run, so it stopped there"
        if saves_at_end:
            return (f"{reached}, and a source model is saved only when its training ends: nothing was saved. Train "
                    "fewer epochs or images per class, or ask your teacher for a longer limit. Its curve is kept.")
        return f"{reached}; its curve and the epochs it finished are kept."


def minutes_text(minutes: float) -> str:
    """A limit in words: "3 minutes", "1 minute", "90 seconds"."""
    if minutes < 1:
        seconds = round(minutes * 60)
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"


# One set of rules for the whole server process, shared by every page (and the teacher's).
SHARED_RULES = ClassRules()


def is_loopback(address: str | None) -> bool:
    """Whether a server address reaches this computer only ("127.0.0.1", "localhost", "::1"; unset means
    Streamlit's own default, every interface).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("192.168.1.20")
    (True, False, False)
    """
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


# ---------------------------------------------------------------------------------------
# The teacher
# ---------------------------------------------------------------------------------------


def teacher_token() -> str | None:
    """The token that opens the teacher page: `$TL_LESSONS_TEACHER_TOKEN` (`make app` sets and prints
    one). None when the server was started without one: then nobody is the teacher."""
    token = os.environ.get(TEACHER_VARIABLE, "").strip()
    return token or None


def new_teacher_token() -> str:
    """A fresh token for `make app` to print: 16 random characters nobody can guess in a lesson."""
    return secrets.token_urlsafe(12)


def is_teacher(given: str | None) -> bool:
    """Whether `given` is the teacher's token (compared in constant time: no guessing it letter by letter)."""
    expected = teacher_token()
    return bool(expected and given) and hmac.compare_digest(given.strip().encode(), expected.encode())


# ---------------------------------------------------------------------------------------
# Learner codes
# ---------------------------------------------------------------------------------------

# A learner's code is what their browser keeps to be known again: short enough to copy from the page
# into another browser, from an alphabet without look-alikes (no 0/O, 1/I/L). 10 characters of 31 are
# 49 bits: a class cannot guess another learner's code.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


def new_learner_code() -> str:
    """A fresh learner code, e.g. "K7QX-M2TZ-9B" shown as groups but stored without the dashes."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def learner_code(typed: str) -> str | None:
    """The code a learner typed, tidied (case, spaces, dashes); None when it cannot be a code.

    >>> learner_code(" k7qx-m2tz 9b"), learner_code("hello")
    ('K7QXM2TZ9B', None)
    """
    code = "".join(ch for ch in typed.upper() if ch not in " -")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def shown_code(code: str) -> str:
    """A code as the page shows it, in groups that are easy to copy: "K7QX-M2TZ-9B"."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


# ---------------------------------------------------------------------------------------
# What the teacher page shows
# ---------------------------------------------------------------------------------------


def every_run(jobs_seen: list) -> list[dict]:
    """One row per run this server process knows (`jobs.JobRegistry.every()`, each polled first), for
    the teacher: whose it is, what it trains, where it stands, its size and how long it has trained."""
    rows = []
    for job in jobs_seen:
        elapsed = [event["elapsed"] for event in job.events if event.get("elapsed") is not None]
        rows.append({
            "learner": (job.learner or "?")[:4],
            "run": job.label,
            "status": job.status,
            "runs ahead": job.ahead if job.status == "waiting" else None,
            "image-epochs": job.size(),
            "trained (s)": round(elapsed[-1]) if elapsed else None,
        })
    return rows
