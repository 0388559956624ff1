"""Saving and loading trained models, with what is needed to use them again.

A bare `state_dict` holds numbers only: it does not say which architecture they fit, how
many classes the head has, what the classes are called, or how the images were normalised.
A tl-lessons checkpoint is a dict that carries all of that beside the weights:

    {"format": "tl-lessons-checkpoint", "version": 1, "state_dict": {...},
     "arch": "fastnet", "arch_options": {}, "num_classes": 10, "classes": [...],
     "mean": (...), "std": (...), "dataset": "cifar10", "source": "...",
     "preset": "full", "metrics": {...}, "versions": {...}, "created": "..."}

Loading is safe: `torch.load(..., weights_only=True)` only rebuilds tensors and plain values,
so a file that smuggles in Python code is refused instead of run.

Saving never loses a trained model: `check_destination` refuses a path that cannot be written
before any training starts, a failed save removes its temporary file and leaves the older
checkpoint in place, and `save_with_fallback` keeps the model in the temporary folder when its
destination fails after all (a full disk), saying where.

    >>> model = build_model("fastnet", num_classes=2)            # a chapter saves a trained one
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_checkpoint(Path(folder) / "probe.pt", model, arch="fastnet", classes=["cat", "dog"],
    ...                            mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), dataset="cifar10",
    ...                            source="an untrained FastNet, for the example")
    ...     model, meta = load_checkpoint(path)
    >>> meta["classes"], meta["num_classes"], meta["source"]
    (['cat', 'dog'], 2, 'an untrained FastNet, for the example')
"""

import errno
import os
import pickle
import secrets
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

import tl_lessons
from tl_lessons.errors import CheckpointError, CheckpointExistsError
from tl_lessons.models import build_model, output_count

FORMAT = "tl-lessons-checkpoint"
VERSION = 1
SOURCE_CHECKPOINT = Path(__file__).parent / "assets" / "cifar10_fastnet.pt"


def save_checkpoint(path, model: nn.Module, *, arch: str, classes, mean, std, dataset: str,
                    source: str, preset: str | None = None, metrics: dict | None = None,
                    arch_options: dict | None = None, command: str | None = None, replace: bool = True) -> Path:
    """Save a model's weights with everything needed to rebuild and use it.

    The file is written next to its destination first and then renamed into place, so a
    save that fails half-way (disk full, interrupted) never destroys an older checkpoint.
    `replace=False`: a file already at `path` (one that appeared while the model trained, say) is
    kept, and `CheckpointExistsError` raised; the check and the move are one step, so two savers
    racing for one name cannot both win.
    `arch_options` are extra arguments of the architecture (for example FastNet's width);
    `command` is the command line that reproduces the file (kept in its metadata when given).

    >>> with tempfile.TemporaryDirectory() as folder:
    ...     saved = save_checkpoint(Path(folder) / "runs" / "fastnet.pt", build_model("fastnet", 10), arch="fastnet",
    ...                             classes=range(10), mean=(0.5,) * 3, std=(0.25,) * 3, dataset="cifar10",
    ...                             source="kit preset full")
    ...     saved.relative_to(folder)
    PosixPath('runs/fastnet.pt')
    """
    classes = [str(name) for name in classes]
    outputs = output_count(model)
    if outputs is not None and outputs != len(classes):
        raise CheckpointError(
            f"The model has {outputs} outputs but {len(classes)} class names were given: "
            "pass the classes of the dataset this model was trained on."
        )
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()},
        "arch": arch,
        "arch_options": plain(arch_options or {}),
        "num_classes": len(classes),
        "classes": classes,
        "mean": tuple(float(m) for m in mean),
        "std": tuple(float(s) for s in std),
        "dataset": dataset,
        "source": source,
        "preset": preset,
        "metrics": plain(metrics or {}),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if command is not None:
        checkpoint["command"] = str(command)
    path = check_destination(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide the file's mode, as for any file the user makes
        # (tempfile.mkstemp would make it readable by its owner only).
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            move_without_replacing(temporary, path)
    except FileExistsError:
        temporary.unlink(missing_ok=True)
        raise CheckpointExistsError(f"A checkpoint named {path.name} exists already; it was kept as it is.") from None
    except BaseException as error:  # a full disk, Ctrl+C, SIGTERM (the command line raises it)
        temporary.unlink(missing_ok=True)
        if isinstance(error, (OSError, RuntimeError)):
            raise not_saved(path, error) from error
        raise
    return path


def move_without_replacing(temporary: Path, path: Path):
    """Give `temporary` the name `path` unless a file has it; FileExistsError if one has.

    A hard link is made only where the name is free, in one step; where the file system has no hard
    links (some USB sticks), look first and then rename, which leaves a moment for a race.
    """
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temporary, path)
        return
    temporary.unlink()


def check_destination(path) -> Path:
    """The checkpoint path as a Path, or CheckpointError when a checkpoint cannot be written there.

    Checked before training, so that a wrong path costs seconds, not a training run. Writes
    nothing (a probe file is removed at once); a full disk only shows when saving.

    >>> check_destination("runs/fastnet.pt")
    PosixPath('runs/fastnet.pt')
    >>> check_destination("")
    Traceback (most recent call last):
    ...
    tl_lessons.errors.CheckpointError: The checkpoint path is empty: give a file name, for example my_model.pt.
    """
    if path is None or not str(path).strip():
        raise CheckpointError("The checkpoint path is empty: give a file name, for example my_model.pt.")
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder: give a file name inside it, for example {path / 'model.pt'}.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folders that do not exist yet are made when saving
    if not folder.is_dir():
        raise CheckpointError(f"Cannot save to {path}: {folder} is a file, not a folder. Choose another path.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CheckpointError(
            f"Cannot save to {path}: the folder {folder} cannot be written ({error.strerror}). "
            "Choose a folder you can write to."
        ) from error
    return path


def not_saved(path: Path, error: Exception) -> CheckpointError:
    """The error for a save that failed while writing."""
    if isinstance(error, OSError) and error.errno != errno.ENOSPC:
        why = error.strerror or str(error)
    elif isinstance(error, OSError):
        why = "the disk is full"
    else:  # torch.save reports a failed write, typically a full disk, as "[enforce fail at ...]"
        why = "the file could not be written; is the disk full?"
    return CheckpointError(
        f"Could not save the checkpoint to {path} ({why}): free some space there, or choose another "
        "file. An older file at that path is left as it was."
    )


def save_with_fallback(path, model: nn.Module, **metadata) -> tuple[Path, str | None]:
    """Save like `save_checkpoint`; if that fails, save into the temporary folder and say so.

    Returns (where the checkpoint is, None) or (the fall-back file, the sentence to show).
    A model trained for minutes is not lost because its destination failed at the very end.

    >>> with tempfile.TemporaryDirectory() as folder:
    ...     saved, notice = save_with_fallback(Path(folder) / "my_model.pt", build_model("fastnet", 10), arch="fastnet",
    ...                                        classes=range(10), mean=(0.5,) * 3, std=(0.25,) * 3,
    ...                                        dataset="cifar10", source="preset quick")
    >>> saved.name, notice          # saved where asked: no notice to show
    ('my_model.pt', None)
    """
    try:
        return save_checkpoint(path, model, **metadata), None
    except CheckpointError as error:
        path = Path(path)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        fallback = Path(tempfile.gettempdir()) / f"{path.stem}-{stamp}{path.suffix or '.pt'}"
        try:
            save_checkpoint(fallback, model, **metadata)
        except CheckpointError as second:
            raise CheckpointError(f"{error} Saving it to {fallback} instead failed too: {second}") from second
        return fallback, f"{error} The trained model was saved to {fallback} instead: move it where you want it."


def load_checkpoint(path, arch: str | None = None, num_classes: int | None = None,
                    map_location="cpu") -> tuple[nn.Module, dict]:
    """Rebuild a saved model; returns (model in eval mode, metadata without the weights).

    Give `arch` and/or `num_classes` to check that the file is the model you expect: a
    mismatch raises `CheckpointError` with what the file holds and what to do.

    >>> model, meta = load_checkpoint(SOURCE_CHECKPOINT, arch="fastnet")     # the shipped CIFAR-10 model
    >>> meta["classes"][:2], model.training
    (['airplane', 'automobile'], False)
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"There is no checkpoint file at {path}: check the path, or save one with save_checkpoint().")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):
            # weights_only met a reference to Python code (a class or function) and refused it.
            raise CheckpointError(
                f"{path} contains Python objects, not only weights, and loading it could run code on "
                "your computer, so it was refused: re-save the weights with save_checkpoint() "
                "(or torch.save(model.state_dict())) from a source you trust."
            ) from None
        raise not_a_checkpoint(path) from None
    except Exception:
        # Random bytes, a JSON file, a truncated download: torch.load has no single error for these.
        raise not_a_checkpoint(path) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        if isinstance(checkpoint, dict) and checkpoint and all(torch.is_tensor(v) for v in checkpoint.values()):
            raise CheckpointError(
                f"{path} is a bare state_dict without metadata: build the model yourself and call "
                "model.load_state_dict(torch.load(path)), or save it with save_checkpoint()."
            )
        raise not_a_checkpoint(path)
    if checkpoint["version"] > VERSION:
        raise CheckpointError(
            f"{path} was saved by a newer tl-lessons (checkpoint version {checkpoint['version']}): "
            "upgrade tl-lessons to load it."
        )
    if damaged := not_numbers(checkpoint["state_dict"]):
        raise CheckpointError(
            f"{path} holds weights that are not numbers (NaN or infinite) in {damaged}: the file is damaged, "
            "or was saved from a run that diverged. Train the model again (with a smaller learning rate "
            "if it diverged), or load another checkpoint."
        )
    if arch is not None and checkpoint["arch"] != arch:
        raise CheckpointError(
            f"{path} holds a {checkpoint['arch']} model, not a {arch}: "
            f"load it with arch={checkpoint['arch']!r} or pick a {arch} checkpoint."
        )
    if num_classes is not None and checkpoint["num_classes"] != num_classes:
        raise CheckpointError(
            f"{path} classifies {checkpoint['num_classes']} classes, not {num_classes}: load it "
            f"without num_classes, then call replace_head(model, {num_classes}) for the new task."
        )
    model = build_model(checkpoint["arch"], checkpoint["num_classes"], **checkpoint["arch_options"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise CheckpointError(
            f"The weights in {path} do not fit a {checkpoint['arch']} with options "
            f"{checkpoint['arch_options']}: the file was saved by a different version of the model."
        ) from None
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    meta = {key: value for key, value in checkpoint.items() if key != "state_dict"}
    return model, meta


def not_numbers(state_dict: dict) -> str:
    """The names of the tensors holding NaN or infinity, for a sentence ("" when every weight is a number).

    A run that diverged leaves such weights behind; a model built from them predicts nothing useful,
    and training it further cannot repair it.

    >>> not_numbers({"head.fc.bias": torch.tensor([0.5, float("nan")])})
    'head.fc.bias'
    """
    names = [name for name, tensor in state_dict.items()
             if torch.is_tensor(tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    shown = names[:3] + ([f"{len(names) - 3} more"] if len(names) > 3 else [])
    return " and ".join(filter(None, [", ".join(shown[:-1]), *shown[-1:]]))


def load_source_model() -> tuple[nn.Module, dict]:
    """The FastNet trained on CIFAR-10 that ships with the kit: the source of every transfer.

    >>> source, meta = load_source_model()
    >>> f"{meta['metrics']['test_accuracy']:.1%}"
    '78.8%'
    """
    if not SOURCE_CHECKPOINT.is_file():
        raise CheckpointError(
            f"The shipped CIFAR-10 model is missing ({SOURCE_CHECKPOINT}): "
            "build it with `make source-model`, which trains it on CIFAR-10."
        )
    return load_checkpoint(SOURCE_CHECKPOINT, arch="fastnet")


def provenance(meta: dict) -> str:
    """A checkpoint's metadata as lines a learner reads: what it is, what made it, and how well it did.

    Accuracies are percentages, losses three decimals, durations whole seconds: the kit's way of
    printing numbers, never a float's full repr (which another machine's run would not repeat).

    >>> print(provenance(load_source_model()[1]))
    arch     : fastnet
    dataset  : cifar10
    ...
    metrics  : test accuracy 78.8 %, test loss 0.671, 1,155 s of training
    ...
    """
    def metric(name, value):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{name.replace('_', ' ')} {value}"
        if name == "seconds":
            return f"{value:,.0f} s of training"
        if "acc" in name:
            return f"{name.replace('_', ' ').replace('acc ', 'accuracy ')} {100 * value:.1f} %"
        return f"{name.replace('_', ' ')} {value:.3f}"

    rows = {"arch": meta.get("arch"), "dataset": meta.get("dataset"), "preset": meta.get("preset"),
            "created": str(meta.get("created", ""))[:10], "source": meta.get("source"),
            "metrics": ", ".join(metric(name, value) for name, value in (meta.get("metrics") or {}).items()),
            "versions": ", ".join(f"{name} {version}" for name, version in (meta.get("versions") or {}).items()),
            "command": meta.get("command")}
    return "\n".join(f"{key:9}: {value}" for key, value in rows.items() if value)


def not_a_checkpoint(path) -> CheckpointError:
    """The error for a file that torch cannot read as a tl-lessons checkpoint."""
    return CheckpointError(
        f"{path} is not a tl-lessons checkpoint (not a file written by save_checkpoint): "
        "check the path, or download/save it again."
    )


def plain(value):
    """Metadata as plain Python values (tensors and numpy numbers converted), which weights_only can load."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None:
        return value
    # Subclasses (numpy.float64 is a float, torch.__version__ a str) would be pickled as their
    # own class, which weights_only refuses to load: store the base type.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    if hasattr(value, "tolist"):  # torch tensors and numpy arrays or scalars
        return value.tolist()
    raise CheckpointError(
        f"A {type(value).__name__} cannot be stored in a checkpoint's metadata: "
        "use numbers, strings, lists or dicts."
    )


def library_versions() -> dict:
    """Versions of the libraries that wrote the checkpoint, to explain differences later."""
    try:
        torchvision = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        torchvision = None
    return plain({"torch": torch.__version__, "torchvision": torchvision, "tl_lessons": tl_lessons.__version__})
