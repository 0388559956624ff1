"""The transfer lab on this server: what it offers, the model a setup starts from, and what is wrong with a setup.

The lab's page lays out widgets; what they show is decided here, without Streamlit. A `Lab` holds
what one server offers (its source models, the target datasets that load, where runs are kept)
and answers the page's questions about a setup: the model it starts from, what is wrong with it
(`TransferSetup.problems` with this model and data), what will train, and what pressing Train
runs. The page hands the lab its cached loaders (`st.cache_resource`); without them (the tests,
the benchmark) it loads without a cache.

    >>> lab = Lab("runs/runs.sqlite", {"scratch": "Random weights (no pre-training)"}, {}, targets=["synthetic100"])
    >>> lab.smallest_class("synthetic100")
    100
    >>> list(lab.problems(TransferSetup(source="scratch", target="synthetic100", strategy="freeze")))  # nothing to keep
    ['strategy']
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from tl_lessons import data, models, targets, transfer_setup
from tl_lessons.dashboard import settings, sources
from tl_lessons.errors import ConfigError, LessonError
from tl_lessons.imageset import ImageSet
from tl_lessons.transfer_setup import TransferSetup

# How the lab names its datasets in its pickers.
TARGET_TEXT = {
    "cifar100": "CIFAR-100 (real photos, 100 classes)",
    "synthetic100": "Synthetic-100 (synthetic practice data, 100 classes)",
}
SOURCE_DATASET_TEXT = {"cifar10": "CIFAR-10 (real photos)", "synthetic10": "Synthetic-10 (synthetic practice data)"}


def load_split(name: str, split: str, classes: str = "all") -> ImageSet:
    """A dataset split, only the classes of the target `classes` ("near", "far"), relabelled as a run sees them.

    The lab's page passes its cached copy of this (one read per server process) to `Lab`.

    >>> load_split("synthetic100", "train", "far").num_classes
    15
    """
    return targets.restrict(data.load_dataset(name, split), classes)


def starting_model(source: str, from_scratch: bool, num_classes: int, seed: int, version: float = 0.0):
    """The model before a strategy is applied: the source with a new head (or random weights).

    `source` is a `TransferSetup.source` (a path for a source trained in the dashboard); `version`
    is only there for the page's cache (`sources.source_version`: a source saved again loads again).

    >>> models.stage_names(starting_model("scratch", True, num_classes=15, seed=0))
    ['stem', 'stage1', 'stage2', 'stage3', 'head']
    """
    setup = TransferSetup(source=source, strategy="scratch" if from_scratch else "finetune", seed=seed)
    model, _ = transfer_setup.build_target_model(setup, num_classes)
    return model


def loadable(names: list[str], load: Callable = load_split) -> tuple[list[str], list[str]]:
    """Those of `names` whose training split loads, and a sentence for each one that does not.

    >>> loadable(["synthetic100"])
    (['synthetic100'], [])
    """
    usable, problems = [], []
    for name in names:
        try:
            load(name, "train")
            usable.append(name)
        except LessonError as error:
            problems.append(str(error))
    return usable, problems


@dataclass
class Lab:
    """The transfer lab on one server: the sources and target datasets it offers, and how it loads them.

    source_labels: {source key: how the picker names it} (`sources.source_choices`); unavailable:
    {source key: why it cannot be used here}; targets: the target datasets that load here
    (`loadable`); dataset and target_model: the page's cached `load_split` and `starting_model`.
    """

    store_path: str
    source_labels: dict[str, str]
    unavailable: dict[str, str]
    targets: list[str]
    dataset: Callable = load_split
    target_model: Callable = starting_model

    def usable_sources(self) -> list[str]:
        """The sources a setup may start from here, the default first ("scratch" is always usable)."""
        return [key for key in self.source_labels if key not in self.unavailable]

    def smallest_class(self, name: str, classes: str = "all") -> int:
        """Training images in the smallest class of a dataset (or of a target of it): the most per class to ask for."""
        return min(self.dataset(name, "train", classes).class_counts())

    def num_classes(self, setup: TransferSetup, classes: str | None = None) -> int:
        """The classes a setup's run learns (`classes`: those of another target of its dataset, "all": every one)."""
        return self.dataset(setup.target, "train", classes or setup.classes).num_classes

    def defaults(self, tiny: bool = False) -> TransferSetup:
        """Where a first visit starts (`settings.first_setup`): the first usable source and target."""
        target = self.targets[0]
        return settings.first_setup(self.usable_sources()[0], target, self.smallest_class(target), tiny)

    def link_choices(self) -> dict[str, tuple]:
        """What a link may pick here (`settings.link_choices`): a source unusable here falls back."""
        return settings.link_choices(self.usable_sources(), self.targets)

    def model_before_strategy(self, setup: TransferSetup):
        """The model a setup starts from; a source that is unavailable here is never loaded.

        Raises ConfigError with the reason instead, so the page does not start a download by itself.
        (A scratch run of the ImageNet architecture needs no weights, so it may go ahead.)
        """
        from_scratch = setup.strategy == "scratch"
        if setup.source in self.unavailable and not (from_scratch and setup.source == "imagenet"):
            raise ConfigError(self.unavailable[setup.source])
        return self.target_model(sources.source_path(setup.source, self.store_path), from_scratch,
                                 self.num_classes(setup), setup.seed, self.source_version(setup))

    def stages(self, setup: TransferSetup) -> list[str]:
        """The stage names of the model a setup starts from ([] when it cannot be had here)."""
        try:
            return models.stage_names(self.model_before_strategy(setup))
        except LessonError:
            return []

    def problems(self, setup: TransferSetup) -> dict[str, str]:
        """What is wrong with `setup` here, as {field: sentence} (`TransferSetup.problems` with this model and data)."""
        try:
            stages = models.stage_names(self.model_before_strategy(setup))
        except LessonError as error:
            return {"source": str(error)}
        return setup.problems(stages, self.smallest_class(setup.target, setup.classes), self.unavailable)

    def what_will_train(self, setup: TransferSetup) -> pd.DataFrame:
        """Each stage of the setup's model with its strategy applied (`settings.what_will_train`)."""
        return settings.what_will_train(self.model_before_strategy(setup), setup)

    def source_version(self, setup: TransferSetup) -> float:
        """The modification time of the setup's source checkpoint (`sources.source_version`)."""
        return sources.source_version(setup.source, self.store_path)

    def run_setup(self, setup: TransferSetup) -> TransferSetup:
        """The setup as the library runs it (`settings.run_setup`: a source trained here becomes its path)."""
        return settings.run_setup(setup, self.store_path)

    def ready_to_train(self, setup: TransferSetup) -> tuple[TransferSetup, dict]:
        """What pressing Train runs: (the setup as the library runs it, what the run store keeps about the run).

        Raises ConfigError with every problem of the setup, in one sentence after another.
        """
        problems = self.problems(setup)
        if problems:
            raise ConfigError(" ".join(problems.values()))
        trainable = int(self.what_will_train(setup)["trainable"].sum())
        return self.run_setup(setup), settings.run_config(setup, trainable, self.store_path)

    def source_file(self, name: str) -> Path:
        """Where a source model trained here under `name` is saved (`sources.sources_dir`)."""
        return sources.sources_dir(self.store_path) / f"{name}.pt"

    def source_saved(self, name: str) -> bool:
        """Whether a source model is saved here under `name` (a name that is not one never is)."""
        return sources.SOURCE_NAME.fullmatch(name) is not None and self.source_file(name).is_file()
