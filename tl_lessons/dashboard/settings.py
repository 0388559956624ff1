"""The transfer lab's setup: its first values, the widgets and the link that carry it, and what will train.

The settings a learner picks are one `TransferSetup` (`tl_lessons.transfer_setup`). This module
adds what the dashboard needs around it: where a first visit starts, how the setup is held in
the page's widgets and travels in the URL (so a link opens the same experiment), the preview of
what will train, and what the run store keeps about a run. What is wrong with a setup is
`TransferSetup.problems`.

    >>> query = setup_to_query(TransferSetup(per_class=10, strategy="freeze", k=2))    # into the URL ...
    >>> setup, notices = setup_from_query(query, TransferSetup(), {})                 # ... and out again
    >>> setup == TransferSetup(per_class=10, strategy="freeze", k=2), notices
    (True, [])
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re

import pandas as pd

from tl_lessons import data, targets, transfer
from tl_lessons.dashboard import sources
from tl_lessons.transfer_setup import TransferSetup

BATCH_SIZES = (16, 32, 64, 128, 256)
TARGETS = ("cifar100", "synthetic100")  # the lab's targets: 100 classes, few labels each


def first_setup(source: str, target: str, smallest_class: int, tiny: bool = False) -> TransferSetup:
    """The setup a first visit (or a link without settings) starts from.

    TransferSetup's defaults: the kit's few-shot task (few labels: where transfer shines) and the
    strategy's own learning rate; `tiny` (the automated tests) cuts the sizes so that a run takes seconds.

    >>> first_setup("shipped", "cifar100", smallest_class=500).label()
    'linear probe · bn eval · lr 0.3 · 5/class'
    """
    strategy = "scratch" if source == "scratch" else TransferSetup.strategy  # random weights: nothing to keep
    setup = TransferSetup(source=source, target=target, per_class=min(data.FEW_SHOT, smallest_class),
                          strategy=strategy)
    if tiny:
        setup = dataclasses.replace(setup, per_class=min(2, smallest_class), val_per_class=1, epochs=1, batch_size=32)
    return setup


# ---------------------------------------------------------------------------------------
# Setup <-> URL query parameters
# ---------------------------------------------------------------------------------------

# The settings a shared link carries, and how to read each one back from text.
QUERY_FIELDS = {
    "source": str,
    "target": str,
    "classes": str,
    "per_class": int,
    "fraction": float,
    "strategy": str,
    "k": int,
    "bn": str,
    "lr": float,
    "epochs": int,
    "batch_size": int,
    "seed": int,
    "head_lr_factor": float,
    "stage_decay": float,
    "unfreeze_every": int,
    "head_epochs": int,
}


def link_choices(sources: list[str], datasets: list[str]) -> dict[str, tuple]:
    """What a link may ask for in the fields picked from a list (`datasets`: the target datasets usable
    here): a source unusable here falls back.

    >>> link_choices(["shipped", "scratch"], ["synthetic100"])["classes"]
    ('all', 'near', 'far')
    """
    return {"source": tuple(sources), "target": tuple(datasets), "classes": tuple(targets.TARGETS),
            "strategy": transfer.STRATEGIES, "bn": transfer.BN_MODES, "batch_size": BATCH_SIZES}


def setup_to_query(setup: TransferSetup) -> dict[str, str]:
    """The settings as URL query parameters: images per class OR label fraction, and only the
    options the chosen strategy takes, so that a shared link stays short and readable.

    >>> setup_to_query(TransferSetup(per_class=10, strategy="freeze", k=2))
    {'source': 'shipped', 'target': 'cifar100', 'classes': 'all', 'per_class': '10', 'strategy': 'freeze', 'k': '2', ...}
    """
    query = {}
    for name in QUERY_FIELDS:
        value = getattr(setup, name)
        if value is not None and (name not in transfer.OPTIONS or name in setup.options_taken()):
            query[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return query


def setup_from_query(
    params, defaults: TransferSetup, choices: dict[str, tuple], problems=None
) -> tuple[TransferSetup, list[str]]:
    """Read settings from a link; every unknown, invalid or adjusted value falls back to its default, with a notice.

    `choices` lists the allowed values of the fields picked from a list (source, target,
    classes, strategy, bn, batch_size). `problems(setup)` returns {field: message} for values that do not
    fit this model or dataset (e.g. k too large, see `TransferSetup.problems`); those fall back too.
    Images per class and the label fraction are one choice: a problem with either brings back
    the default choice. A link naming a strategy without a usable learning rate gets that
    strategy's starting rate (`transfer.STRATEGY_TABLE`). Values from the link are quoted in the
    notices as code and cut to `QUOTED_LENGTH` characters: a link is written by anyone, and its
    text must not turn into a link or an image on the page. Returns (setup, notices).

    >>> setup, notices = setup_from_query({"lr": "abc"}, TransferSetup(), {})
    >>> notices
    ['Ignored `lr=abc` from the link (not a number); using the default 0.3.']
    """
    values, notices = {}, []
    if params.get("strategy") in choices.get("strategy", transfer.STRATEGIES):
        # A link that names a strategy but no usable rate gets that strategy's starting rate.
        defaults = dataclasses.replace(defaults, lr=transfer.STRATEGY_TABLE[params["strategy"]].lr)

    def ignored(name, why):
        notices.append(f"Ignored {quoted(f'{name}={params[name]}')} from the link ({why}); "
                       f"using the default {_default(defaults, name)}.")

    for name, text in params.items():
        if name not in QUERY_FIELDS:
            notices.append(f"Ignored the unknown setting {quoted(name)} in the link.")
            continue
        kind = QUERY_FIELDS[name]
        try:
            value = kind(text)
        except ValueError:
            ignored(name, f"not {'a whole number' if kind is int else 'a number'}")
            continue
        if kind is float and not math.isfinite(value):
            ignored(name, "not a finite number")
            continue
        if name in choices and value not in choices[name]:
            ignored(name, "not available here")
            continue
        values[name] = value
    if "per_class" in values and "fraction" in values:
        notices.append("The link gives both images per class and a label fraction; using images per class.")
        del values["fraction"]
    if "per_class" in values:
        values.setdefault("fraction", None)
    elif "fraction" in values:
        values.setdefault("per_class", None)
    setup = dataclasses.replace(defaults, **values)
    if problems is not None:
        for name, message in problems(setup).items():
            if name in values and name in params:
                notices.append(f"Ignored {quoted(f'{name}={params[name]}')} from the link: {message} "
                               f"Using the default {_default(defaults, name)}.")
                fallback = LABEL_CHOICE if name in LABEL_CHOICE else (name,)
                setup = dataclasses.replace(setup, **{field: getattr(defaults, field) for field in fallback})
    return setup, notices


# Images per class and the label fraction: one choice, made with one of the two.
LABEL_CHOICE = ("per_class", "fraction")
QUOTED_LENGTH = 40


def quoted(text: str, limit: int = QUOTED_LENGTH) -> str:
    """Text from a link as Markdown code, at most `limit` characters: shown as typed, never as a link or image.

    The code span's fence is one backtick longer than any run of backticks inside, so nothing
    in the text can close it early; line breaks and other control characters become spaces.

    >>> quoted("[click](http://example.com)")
    '`[click](http://example.com)`'
    """
    text = "".join(char if char.isprintable() else " " for char in str(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    # Spaces inside the fence keep a leading or trailing backtick from joining it.
    return f"{fence} {text} {fence}" if "`" in text else f"{fence}{text}{fence}"


def _default(defaults: TransferSetup, name: str) -> str:
    """How the default a link falls back to is named in its notice."""
    if name in LABEL_CHOICE:
        if defaults.per_class is not None:
            return f"of {defaults.per_class} images per class"
        return f"label fraction {defaults.fraction:g}" if defaults.fraction else "of every training image"
    return _show(getattr(defaults, name))


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------
# Setup <-> the page's widgets
# ---------------------------------------------------------------------------------------

# Each one is in the widgets' state as "lab_<field>"; the learning rate has one per strategy (see `lr_key`).
WIDGET_FIELDS = [name for name in QUERY_FIELDS if name != "lr"]
# The hidden one of the two label widgets keeps this value for when it is picked.
FRACTION_WHEN_PICKED = 0.1


def lr_key(strategy: str) -> str:
    """The learning rate's widget key: one per strategy.

    Each strategy's rate is its own widget, starting at the strategy's suggested rate. A rate
    typed for one strategy can then never be trained with another: with a single widget, a
    Train click that overtook the redraw after a strategy change (on a busy server) sent the old
    strategy's rate along with the new strategy.

    >>> lr_key("freeze")
    'lab_lr_freeze'
    """
    return f"lab_lr_{strategy}"


def rate_in_widgets(state, strategy: str) -> float:
    """The learning rate the widgets hold for `strategy`: its starting rate (`transfer.STRATEGY_TABLE`)
    until the learner types another, which is kept in `state` from then on.

    >>> rate_in_widgets({}, "discriminative")
    0.1
    """
    return state.setdefault(lr_key(strategy), transfer.STRATEGY_TABLE[strategy].lr)


def put_in_widgets(state, setup: TransferSetup, defaults: TransferSetup):
    """Show `setup` in the widgets: write it into their state (`state`, the page's session state).

    >>> state = {}; put_in_widgets(state, TransferSetup(strategy="freeze", k=2), TransferSetup())
    >>> state["lab_k"], state["lab_lr_freeze"], state["lab_labels"]
    (2, 0.3, 'per_class')
    """
    for name in WIDGET_FIELDS:
        state[f"lab_{name}"] = getattr(setup, name)
    state[lr_key(setup.strategy)] = setup.lr
    state["lab_labels"] = "per_class" if setup.per_class is not None else "fraction"
    if setup.per_class is None:
        state["lab_per_class"] = defaults.per_class
    if setup.fraction is None:
        state["lab_fraction"] = FRACTION_WHEN_PICKED


def reset_widgets(state, defaults: TransferSetup):
    """Put the defaults back in the widgets, every strategy back at its starting rate."""
    for strategy in transfer.STRATEGIES:
        state.pop(lr_key(strategy), None)
    put_in_widgets(state, defaults, defaults)


def setup_in_widgets(state, tiny: bool = False) -> TransferSetup:
    """The setup the widgets hold (a strategy whose rate widget is not drawn yet: its starting rate).

    `tiny` (the automated tests) validates on one held-out image per class.

    >>> state = {}; put_in_widgets(state, TransferSetup(per_class=None, fraction=0.5), TransferSetup())
    >>> setup_in_widgets(state) == TransferSetup(per_class=None, fraction=0.5)
    True
    """
    values = {name: state[f"lab_{name}"] for name in WIDGET_FIELDS}
    values["lr"] = rate_in_widgets(state, values["strategy"])
    if state["lab_labels"] == "per_class":
        values["fraction"] = None
    else:
        values["per_class"] = None
    return TransferSetup(**values, **({"val_per_class": 1} if tiny else {}))


# ---------------------------------------------------------------------------------------
# What will train, and what the run store keeps
# ---------------------------------------------------------------------------------------


def what_will_train(model, setup: TransferSetup) -> pd.DataFrame:
    """Each stage once the setup's strategy is applied to a copy of `model`: stage, state,
    trainable and all parameters, and the share that trains (the same `apply_strategy` as `prepare`).

    >>> from tl_lessons.models import FastNet
    >>> what_will_train(FastNet(10), TransferSetup(strategy="freeze", k=2))["state"].tolist()
    ['frozen, BN in eval', 'frozen, BN in eval', 'trainable', 'trainable', 'trainable']
    """
    model = copy.deepcopy(model)
    rows = pd.DataFrame(transfer.describe(model, transfer.apply_strategy(model, setup.as_strategy())))
    rows["share"] = rows["trainable"] / rows["total"].clip(lower=1)
    return rows[["stage", "state", "trainable", "total", "share"]]


def run_setup(setup: TransferSetup, store_path=None) -> TransferSetup:
    """The setup as the library runs it: a source trained in the dashboard becomes its checkpoint's path.

    >>> run_setup(TransferSetup(source="trained:mine"), store_path="runs/runs.sqlite").source
    'runs/sources/mine.pt'
    """
    return dataclasses.replace(setup, source=sources.source_path(setup.source, store_path))


def run_config(setup: TransferSetup, trainable: int, store_path=None) -> dict:
    """What the run store keeps about a lab run: the setup it ran, the source as picked, the trainable parameters.

    >>> config = run_config(TransferSetup(source="trained:mine"), trainable=12_900, store_path="runs/runs.sqlite")
    >>> config["source"], config["source_key"], config["trainable_params"]
    ('runs/sources/mine.pt', 'trained:mine', 12900)
    """
    return {**run_setup(setup, store_path).to_dict(), "source_key": setup.source, "trainable_params": trainable}


def stored_setup(config: dict) -> TransferSetup | None:
    """The setup a stored lab run ran, from what the run store keeps (None for other runs, e.g. a source model's).

    >>> stored = run_config(TransferSetup(), trainable=12_900)        # what the store keeps: store.get(run_id)["config"]
    >>> stored_setup(stored).target, stored_setup({"kind": "source", "epochs": 2})
    ('cifar100', None)
    """
    if config.get("kind") == "source" or "target" not in config:
        return None
    fields = {field.name for field in dataclasses.fields(TransferSetup)}
    return TransferSetup(**{name: value for name, value in config.items() if name in fields})
