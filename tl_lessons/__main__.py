"""The command line: `python -m tl_lessons COMMAND ...` (also installed as `tl-lessons`).

    python -m tl_lessons data status
    python -m tl_lessons data download all
    python -m tl_lessons train --preset quick --data cifar10 --save my_model.pt
    python -m tl_lessons transfer --source shipped --data cifar100 --strategy freeze --k 2
    python -m tl_lessons runs list
    python -m tl_lessons bench --json bench.json
    python -m tl_lessons book

Every command prints a learner-facing sentence and exits with status 2 when something is
wrong with its input or the data (a `LessonError`), never a stack trace. A training that
diverged exits with status 3 and says so (its model is not saved: `--save` is skipped). Ctrl+C,
`kill` (SIGTERM) and a closing terminal (SIGHUP) all stop a training the same way: the run is
stored as "stopped" with the epochs it finished (status 130, or 128 + the signal's number).
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import shlex
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

from .errors import CheckpointError, ConfigError, LessonError


def cmd_data(args):
    from . import data, synthetic

    if args.action == "status":
        for row in data.data_status(args.root):
            print(f"{row['name']:<9} {row['state']:<32} {row['folder']}")
            if not row["available"]:
                print(f"{'':<9} get it with: {row['download_command']}")
    elif args.action == "download":
        names = ("cifar10", "cifar100") if args.name == "all" else (args.name,)
        for name in names:
            print(f"{name}: {data.download_cifar(name, args.root)}")
    elif args.action == "synthetic":
        for split in ("train", "test"):
            print(synthetic.make_synthetic(args.classes, split, seed=args.seed).describe())


def add_training_options(parser, epochs=None):
    parser.add_argument("--epochs", type=int, default=epochs, help="override the number of epochs")
    parser.add_argument("--lr", type=float, help="override the (peak) learning rate")
    parser.add_argument("--batch-size", type=int, help="override the batch size")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument("--save", metavar="PATH", help="save the trained model as a checkpoint")
    parser.add_argument("--no-store", action="store_true", help="do not record the run in the run store")


def overrides(args) -> dict:
    """The training options given on the command line, as TrainConfig fields."""
    chosen = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed}
    return {key: value for key, value in chosen.items() if value is not None}


def run_stream(stream, args, config: dict, label: str):
    """Follow a fit() stream with a progress bar, recording it unless --no-store.

    A run store that cannot be used does not stop the training: it is said in one line.
    """
    from .recording import record
    from .runs import open_store
    from .train import follow

    if not args.no_store:
        store, notice = open_store()
        if notice:
            print(f"note: {notice}", file=sys.stderr)
        else:
            print(f"recording the run in {store.path}")
        stream = store_notices_said(record(stream, store, config, label))
    return follow(stream)


def store_notices_said(stream):
    """Pass the events on, printing the sentence of a run store that failed during the run."""
    from tqdm.auto import tqdm

    for event in stream:
        if event.get("store_notice"):
            tqdm.write(f"note: {event['store_notice']}", file=sys.stderr)  # above the progress bar
        yield event


def check_save(args):
    """Refuse a --save destination that cannot be written before any data is loaded or trained."""
    from .checkpoints import check_destination

    if args.save is not None:
        check_destination(args.save)


def save(args, model, **metadata):
    """Save the trained model to --save; if that fails, keep it elsewhere and say where (exit status 2)."""
    from .checkpoints import save_with_fallback

    saved, notice = save_with_fallback(args.save, model, command=args.command_line, **metadata)
    if notice:
        raise CheckpointError(notice)
    print(f"saved {saved}")


DIVERGED = 3
"""The exit status of a training that diverged: it ran, but its model is not worth keeping."""


def diverged(args, lr: float) -> int:
    """Say that the run diverged and that --save was skipped; returns the exit status."""
    skipped = f", so the model was not saved to {args.save}" if args.save else ""
    print(f"error: The training diverged{skipped}: run it again with a smaller learning rate, "
          f"for example --lr {lr / 10:g}.", file=sys.stderr)
    return DIVERGED


def budgeted(config, args):
    """The preset with the command line's overrides and its time budget: --minutes, else the preset's own
    (`full`: 10 minutes), none when --epochs fixes the epochs. Any preset takes --minutes."""
    if args.epochs is not None and args.minutes is not None:
        raise ConfigError("Give either the epochs (--epochs) or a time budget (--minutes), not both: with "
                          "--minutes the command measures this computer and picks the epochs that fit.")
    minutes = config.minutes if args.epochs is None else None   # --epochs fixes the epochs: no budget
    if args.minutes is not None:
        minutes = args.minutes
    config = dataclasses.replace(config, **overrides(args), minutes=minutes)
    problems = config.problems()
    if problems:
        raise ConfigError(" ".join(problems.values()))
    return config


def cmd_train(args):
    from . import budget, data, inference, models, train

    started = time.perf_counter()  # the budget counts from here: reading the data, training and testing
    check_save(args)
    config = budgeted(train.PRESETS[args.preset], args)
    train_set = data.load_dataset(args.data, "train", seed=config.seed)
    test_set = data.load_dataset(args.data, "test", seed=config.seed)
    print(train_set.describe())
    if config.minutes is not None:
        config, why = budget.plan_run(config, train_set, len(test_set), config.minutes * 60, time.perf_counter() - started)
        print(why)
    model = models.build_model(config.arch, train_set.num_classes)
    label = f"{args.preset} · {config.arch} · {args.data}"
    history = run_stream(train.fit(model, train_set, None, config), args,
                         {"command": "train", "preset": args.preset, "data": args.data,
                          **dataclasses.asdict(config)}, label)
    loss, accuracy = inference.evaluate(model, test_set, mean=config.mean, std=config.std, views=config.test_views)
    views = "" if config.test_views == "image" else f" with test-time views ({config.test_views})"
    print(f"{history.status}: test accuracy {accuracy:.2%}{views} (loss {loss:.3f}) "
          f"after {history.end.get('elapsed', 0):.0f} s of training, {time.perf_counter() - started:.0f} s in all")
    if history.status == "diverged":
        return diverged(args, config.lr)
    if args.save and history.status == "finished":
        save(
            args, model, arch=config.arch, classes=train_set.classes,
            mean=config.mean or train_set.mean, std=config.std or train_set.std, dataset=args.data,
            source=train_set.source, preset=args.preset,
            metrics={"test_accuracy": accuracy, "test_loss": loss, "seconds": history.end.get("elapsed")},
        )


def cmd_transfer(args):
    from . import data, inference, text, train, transfer_setup

    check_save(args)
    from .transfer import describe_text

    # Options left out take TransferSetup's defaults (the learning rate: the strategy's tuned one).
    chosen = {"source": args.source, "target": args.data, "per_class": args.per_class, "fraction": args.fraction,
              "strategy": args.strategy, "k": args.k, "bn": args.bn, **overrides(args)}
    setup = transfer_setup.TransferSetup(**{name: value for name, value in chosen.items() if value is not None})
    # prepare checks the setup before it reads any data, and nothing is recorded before it succeeds.
    model, strategy, train_set, val_set, config = transfer_setup.prepare(setup)
    print(train_set.describe())
    print(describe_text(model, strategy))
    if setup.fraction is not None or (setup.per_class or 0) > data.FEW_SHOT:
        # A larger label budget than the few-shot task's: say what it will cost before it starts.
        from .analysis import estimate_seconds

        print(f"{len(train_set):,} training images x {config.epochs} epochs: about "
              f"{text.duration(estimate_seconds(setup))} on this machine (measured on its first steps)")
    history = run_stream(train.fit(model, train_set, val_set, config, strategy), args,
                         {"command": "transfer", **setup.to_dict()}, setup.label())
    print(f"{history.status}: validation accuracy {history.final['val_acc']:.2%}" if history.final
          else history.status)
    if history.status == "diverged":
        return diverged(args, config.lr)
    metrics = {"val_accuracy": history.final["val_acc"]} if history.final else {}
    if history.status == "finished":
        # The test split, once, after every choice was made on the validation images.
        test_set = transfer_setup.load_test(setup)
        _, metrics["test_accuracy"] = inference.evaluate(model, test_set, mean=config.mean, std=config.std)
        print(f"test accuracy {metrics['test_accuracy']:.2%} on {len(test_set):,} test images (measured once, "
              f"after training; compare settings on validation accuracy)")
    if args.save and history.status == "finished":
        save(
            args, model, arch=config.arch, classes=train_set.classes,
            mean=config.mean or train_set.mean, std=config.std or train_set.std, dataset=setup.target,
            source=train_set.source, metrics=metrics,
            arch_options=transfer_setup.source_meta(setup.source).get("arch_options"),
        )


def cmd_runs(args):
    from .runs import RunStore, default_path

    path = default_path()
    if not path.exists():
        print(f"no runs yet in {path}")
        return
    # Only reading: a store in a read-only folder, or on a full disk, still lists its runs.
    store = RunStore(path, write=False)
    if args.action == "list":
        rows = store.runs()
        if not rows:
            print(f"no runs yet in {store.path}")
        for run in rows:
            best = run["results"].get("best_val_acc")
            best = f"{best:.2%}" if isinstance(best, float) else "-"
            unreadable = f"  ({' and '.join(run['unreadable'])} unreadable)" if run["unreadable"] else ""
            print(f"{run['id']:>4}  {run['status']:<11} {best:>7}  {run['label']}{unreadable}")
    else:
        store.export_csv(args.out, args.ids or None)
        print(f"wrote {args.out}")


def cmd_check_port(args):
    """Refuse a busy port before Streamlit starts, naming the next one to try (`make app` runs this)."""
    with socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET) as probe:
        # Like Streamlit's server: a port left in TIME_WAIT by a dashboard just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.address, args.port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"Port {args.port} is already in use (another dashboard, or another `make app`?): stop "
                    f"that one, or start this one on another port with `make app PORT={args.port + 1}`."
                ) from None
            raise ConfigError(
                f"The dashboard cannot listen on {args.address} port {args.port} ({error.strerror}): "
                "use the default address (`make app`), or another port, e.g. `make app PORT=8502`."
            ) from None


def cmd_teacher_token(args):
    """Print a fresh token for the dashboard's teacher page (`make app` passes it to the server)."""
    from .dashboard import classroom

    print(classroom.new_teacher_token())


def cmd_bench(args):
    from . import bench

    bench.main(json_path=args.json, only=args.only)


def cmd_reference_runs(args):
    from .executors import dask_executor
    from .reference_runs import record_reference_runs

    if not (args.cluster or args.workers):
        record_reference_runs(args.out)
        return
    with dask_executor(args.cluster, args.workers) as executor:
        record_reference_runs(args.out, executor=executor)


def cmd_book(args):
    from . import book

    print(book.summary(book.build(args.out)))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m tl_lessons", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("data", help="download CIFAR, show what is on disk, or describe the synthetic sets")
    p.add_argument("action", choices=("status", "download", "synthetic"))
    p.add_argument("name", nargs="?", default="all", choices=("cifar10", "cifar100", "all"))
    p.add_argument("--root", help="data folder (default: $TL_LESSONS_DATA or <project>/data)")
    p.add_argument("--classes", type=int, default=10, choices=(10, 100))
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_data)

    from .train import PRESETS

    p = commands.add_parser("train", help="train a model from scratch with a preset")
    p.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    p.add_argument("--data", default="cifar10", help="cifar10, cifar100, synthetic10 or synthetic100")
    p.add_argument("--minutes", type=float, help="a time budget: measure this computer, then train as many epochs "
                   "as fit it with reading the data and testing (default: the preset's, 10 for full; none for the others)")
    add_training_options(p)
    p.set_defaults(run=cmd_train)

    from .transfer import BN_MODES, STRATEGIES
    from .transfer_setup import TransferSetup

    defaults = TransferSetup()
    p = commands.add_parser("transfer", help="transfer a source model to a target dataset")
    p.add_argument("--source", help="'shipped' (the default), 'imagenet' (torchvision's ResNet-18; its weights are "
                   "downloaded once), 'scratch', or a checkpoint path")
    p.add_argument("--data", help=f"the target dataset (default: {defaults.target})")
    p.add_argument("--strategy", choices=STRATEGIES, help=f"default: {defaults.strategy}")
    p.add_argument("--k", type=int, help=f"freeze: number of leading stages frozen (default: {defaults.k})")
    p.add_argument("--bn", choices=BN_MODES, help=f"BatchNorm in frozen stages (default: {defaults.bn})")
    p.add_argument("--per-class", type=int, help="train on this many labelled images per class")
    p.add_argument("--fraction", type=float, help="or on this fraction of the labels")
    add_training_options(p)
    p.set_defaults(run=cmd_transfer)

    p = commands.add_parser("runs", help="list the recorded runs or export them as CSV")
    p.add_argument("action", choices=("list", "export"))
    p.add_argument("out", nargs="?", default="runs.csv", help="export: the CSV file to write")
    p.add_argument("--ids", type=int, nargs="*", help="export only these run ids")
    p.set_defaults(run=cmd_runs)

    p = commands.add_parser("check-port", help="check that the dashboard's address and port are free (make app)")
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.set_defaults(run=cmd_check_port)

    p = commands.add_parser("teacher-token", help="print a fresh token for the dashboard's teacher page (make app)")
    p.set_defaults(run=cmd_teacher_token)

    p = commands.add_parser("bench", help="measure speed and accuracy against the kit's targets")
    p.add_argument("--json", default="bench.json", help="where to write the results")
    p.add_argument("--only", nargs="*", help="run only these sections (e.g. loader probe presets)")
    p.set_defaults(run=cmd_bench)

    p = commands.add_parser("reference-runs", help="record the dashboard's reference curves on real data")
    p.add_argument("--out", default="tl_lessons/assets/reference_runs.json")
    p.add_argument("--cluster", metavar="ADDRESS", help="train on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://host:8786; needs `pip install 'tl-lessons[cluster]'`)")
    p.add_argument("--workers", type=int, metavar="N", help="train on a Dask cluster of N worker processes on this "
                   "computer (with TL_LESSONS_THREADS=1, so that they do not fight over its cores)")
    p.set_defaults(run=cmd_reference_runs)

    p = commands.add_parser("book", help="write the chapters as a static web book (make book)")
    p.add_argument("--out", default="build/book", help="the folder to write it to (replaced if it holds a book)")
    p.set_defaults(run=cmd_book)
    return top


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that it stops as after Ctrl+C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop(signum, frame):
    raise Stopped(signum)


@contextmanager
def stopping_on_signals():
    """SIGTERM and SIGHUP stop the command as Ctrl+C does, instead of killing it on the spot.

    Killed on the spot, a run would stay "running" in the store and a checkpoint being saved
    would leave its temporary file; stopped, `record` marks the run "stopped" with its epochs
    and `save_checkpoint` removes the temporary file.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python only delivers signals to the main thread
        return
    caught = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, stop) for signum in caught}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def use_thread_setting():
    """Set torch's CPU threads from $TL_LESSONS_THREADS, as the chapters and the dashboard do."""
    from .hardware import thread_setting

    threads = thread_setting()  # a value that is not a whole number raises, saying what to do
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    # The command line that made a saved checkpoint goes into its metadata, to reproduce it.
    words = sys.argv[1:] if argv is None else argv
    args.command_line = " ".join(["python -m tl_lessons", *(shlex.quote(str(word)) for word in words)])
    try:
        with stopping_on_signals():
            use_thread_setting()
            status = args.run(args)
    except LessonError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Stopped as stopped:
        print(f"stopped by {stopped}", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
