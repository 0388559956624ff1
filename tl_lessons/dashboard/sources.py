"""Source models: the ones trained in the dashboard, the ImageNet ResNet, and training a new one.

Source models trained in the dashboard are checkpoints in a folder beside the run store; a
source is named by its key ("shipped", "imagenet", "scratch", "trained:<name>"), never by a
path, so that a shared URL cannot point the app at an arbitrary file.

    >>> labels, unavailable = source_choices("runs/runs.sqlite")
    >>> list(labels)[0], list(labels)[-1]
    ('shipped', 'scratch')
    >>> model, train_set, val_set, config = source_training("synthetic10", per_class=100, epochs=2)
    >>> len(train_set), len(val_set), config.epochs
    (1000, 200, 2)
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from tl_lessons import checkpoints, data, models, train
from tl_lessons.errors import CheckpointExistsError
from tl_lessons.runs import default_path
from tl_lessons.transfer_setup import epochs_problem, per_class_problem

SOURCE_DATASETS = ("cifar10", "synthetic10")
SOURCE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")


def sources_dir(store_path=None) -> Path:
    """Where source models trained in the dashboard are saved: beside the run store.

    >>> sources_dir("runs/runs.sqlite")
    PosixPath('runs/sources')
    """
    return Path(store_path if store_path is not None else default_path()).parent / "sources"


def trained_sources(store_path=None) -> dict[str, Path]:
    """Source models trained in the dashboard, as {"trained:<name>": checkpoint path}, newest first.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store_path = Path(folder, "runs.sqlite")
    ...     sources_dir(store_path).mkdir()
    ...     _ = (sources_dir(store_path) / "synthetic10-quick.pt").write_bytes(b"")   # what `save_source` writes
    ...     list(trained_sources(store_path))
    ['trained:synthetic10-quick']
    """
    folder = sources_dir(store_path)
    files = sorted(folder.glob("*.pt"), key=lambda path: path.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return {f"trained:{path.stem}": path for path in files}


def source_path(source: str, store_path=None) -> str:
    """The `TransferSetup.source` for a dashboard source key ("trained:<name>" becomes its path).

    A link names a trained source by its name, never by a path, so that a shared URL cannot
    point the app at an arbitrary file.

    >>> source_path("shipped")
    'shipped'
    """
    if source.startswith("trained:"):
        return str(sources_dir(store_path) / f"{source.removeprefix('trained:')}.pt")
    return source


def imagenet_problem() -> str | None:
    """Why the ImageNet ResNet-18 cannot be a source here (None when its weights are cached).

    Only the cache is looked at: the dashboard never starts a 45 MB download by itself, and a
    page must not hang on a network that drops connections.

    >>> problem = imagenet_problem()
    >>> problem is None or problem.startswith("The ImageNet weights of ResNet-18 are not on this computer")
    True
    """
    import torchvision  # here, not at the top: it is slow to import, and only this question needs it

    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if cached.is_file():
        return None
    return (
        f"The ImageNet weights of ResNet-18 are not on this computer ({cached}): download them once, "
        'with the network on, by running `python -c "from tl_lessons.models import imagenet_resnet18; '
        'imagenet_resnet18()"`, then reload this page.'
    )


def source_choices(store_path=None) -> tuple[dict[str, str], dict[str, str]]:
    """The sources this computer offers: ({key: label}, {key: why it cannot be used here}).

    >>> labels, unavailable = source_choices("runs/runs.sqlite")
    >>> labels["scratch"], unavailable.get("imagenet") == imagenet_problem()     # None once the weights are cached
    ('Random weights (no pre-training)', True)
    """
    labels, unavailable = {"shipped": "CIFAR-10 FastNet (shipped with the kit)"}, {}
    if not checkpoints.SOURCE_CHECKPOINT.is_file():
        unavailable["shipped"] = (
            "The shipped CIFAR-10 model is not in this copy of the kit: train a source "
            "model at the bottom of this page, or build it with `make source-model`."
        )
    for key, path in trained_sources(store_path).items():
        labels[key] = f"{path.stem} (trained in this app)"
    labels["imagenet"] = "ResNet-18 pre-trained on ImageNet (torchvision)"
    if (problem := imagenet_problem()) is not None:
        unavailable["imagenet"] = problem
    labels["scratch"] = "Random weights (no pre-training)"
    return labels, unavailable


def source_version(source: str, store_path=None) -> float:
    """The modification time of a source's checkpoint file (0 for sources without one): a re-saved source loads again.

    >>> source_version("scratch")
    0.0
    """
    if source == "shipped":
        path = checkpoints.SOURCE_CHECKPOINT
    elif source.startswith("trained:"):
        path = Path(source_path(source, store_path))
    else:
        return 0.0
    return path.stat().st_mtime if path.is_file() else 0.0


# ---------------------------------------------------------------------------------------
# Training a source model in the dashboard
# ---------------------------------------------------------------------------------------


def source_training(dataset: str, per_class: int, epochs: int, seed: int = 0, root=None):
    """Everything needed to train a source model with the "quick" preset: (model, train, val, config).

    >>> model, train_set, val_set, config = source_training("synthetic10", per_class=100, epochs=2)
    >>> len(train_set), len(val_set), models.output_count(model), config.lr   # validated on a fifth as many
    (1000, 200, 10, 0.4)
    """
    config = dataclasses.replace(train.PRESETS["quick"], epochs=epochs, seed=seed)
    full_train = data.load_dataset(dataset, "train", root=root, seed=seed)
    # The curve is followed on other images of the training split, never on the test split. A fifth of
    # the training size per class is plenty for that and keeps epochs short.
    train_set, val_set = data.task_split(full_train, per_class=per_class, val_per_class=max(per_class // 5, 2),
                                         seed=seed)
    torch.manual_seed(seed)
    model = models.build_model(config.arch, train_set.num_classes)
    return model, train_set, val_set, config


def source_problems(per_class, epochs, name: str, smallest_class: int, exists: bool = False,
                    replace: bool = False) -> dict[str, str]:
    """What is wrong with the "train a source model" form, as {field: sentence} (the transfer setup's rules).

    On a class's server every learner saves into one folder: a name already taken (`exists`) is only
    used again when the learner said yes to replacing that model (`replace`).

    >>> source_problems(500, 0, "my model", smallest_class=11)
    {'per_class': 'No class here can give more than 10 images: ask for at most 10 per class.',
     'epochs': 'Train for a whole number of epochs, at least 1.',
     'name': 'Name the model with letters, digits, - and _ only (up to 40), e.g. cifar10-quick.'}
    """
    problems = {}
    # Every class keeps at least one training image aside to validate on.
    if (problem := per_class_problem(per_class, smallest_class - 1)) is not None:
        problems["per_class"] = problem
    if (problem := epochs_problem(epochs)) is not None:
        problems["epochs"] = problem
    if not SOURCE_NAME.fullmatch(name):
        problems["name"] = "Name the model with letters, digits, - and _ only (up to 40), e.g. cifar10-quick."
    elif exists and not replace:
        problems["name"] = (f"A source model named {name} is saved already (yours, or another learner's): choose "
                            "another name, or tick the box to replace it.")
    return problems


def default_source_name(dataset: str, learner: str | None) -> str:
    """The name a learner's new source model is offered: the data, the recipe and the learner, so that two
    learners who keep the default do not save over each other.

    >>> default_source_name("cifar10", "3fa9c2d81b07")
    'cifar10-quick-3fa9'
    """
    return f"{dataset}-quick" + (f"-{learner[:4]}" if learner else "")


def source_run_config(dataset: str, per_class: int, epochs: int, model) -> dict:
    """What the run store keeps about training a source model (a run from scratch on `dataset`).

    >>> source_run_config("synthetic10", 100, 2, models.build_model("fastnet", 10))
    {'kind': 'source', 'target': 'synthetic10', 'per_class': 100, 'epochs': 2, 'strategy': 'scratch',
     'trainable_params': ...}
    """
    return {"kind": "source", "target": dataset, "per_class": per_class, "epochs": epochs, "strategy": "scratch",
            "trainable_params": models.count_parameters(model)}


def save_source(path, model, train_set, config, end: dict, replace: bool = True) -> Path:
    """Save a source model trained in the dashboard, with its metadata, as a checkpoint; returns its path.

    `replace=False` (the learner did not say yes to replacing a model): when another learner saved a
    model under this name while this one trained, this one is saved as "<name>-2" (or -3, ...) instead,
    and theirs is kept.

    >>> import tempfile
    >>> model, train_set, val_set, config = source_training("synthetic10", per_class=2, epochs=1)   # trained, in the lab
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     theirs = save_source(Path(folder, "mine.pt"), model, train_set, config, {"val_acc": 0.5})
    ...     save_source(Path(folder, "mine.pt"), model, train_set, config, {"val_acc": 0.5}, replace=False).name
    'mine-2.pt'
    """
    path = Path(path)
    for number in range(1, 100):
        candidate = path if number == 1 else path.with_name(f"{path.stem[:37]}-{number}{path.suffix}")
        try:
            return checkpoints.save_checkpoint(
                candidate,
                model,
                arch=config.arch,
                classes=train_set.classes,
                mean=train_set.mean,
                std=train_set.std,
                dataset=train_set.name,
                source=f"trained in the dashboard on {train_set.describe()}",
                preset="quick",
                metrics={"val_acc": end.get("val_acc"), "best_val_acc": end.get("best_val_acc")},
                replace=replace,
            )
        except CheckpointExistsError:
            continue
    raise CheckpointExistsError(f"Every name from {path.stem} to {path.stem}-99 is taken: choose another name.")


def saved_source_event(path: Path, wanted: str) -> dict:
    """What a finished source run's end says about its file: the name it was saved under, and why
    when that is not the one asked for (`save_source` with `replace=False`).

    >>> saved_source_event(Path("runs/sources/mine-2.pt"), "mine")["message"]
    'Saved as mine-2: another learner saved a model named mine while yours trained.'
    """
    saved = {"saved_as": path.stem}
    if path.stem != wanted:
        saved["message"] = f"Saved as {path.stem}: another learner saved a model named {wanted} while yours trained."
    return saved
