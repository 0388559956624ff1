"""Many runs at once: one after another in this process, or spread over the workers of a cluster.

A sweep is a list of runs that do not wait for each other: chapter 04 trains every strategy once per
seed, the tuning tries every learning rate, `make reference-runs` trains chapter 04's three sweeps.
By default they train one after another, here. Given any `concurrent.futures.Executor` they train
side by side instead: each run becomes a work item (a function and its setup) that a worker
runs, and its result comes back as plain data. With Dask's `distributed` (`pip install
'tl-lessons[cluster]'`) that worker can be any computer of a cluster (`in_order` shows a run with threads):

    from distributed import Client
    executor = Client("tcp://scheduler:8786").get_executor()
    results = analysis.compare_strategies(analysis.strategy_setups(), seeds=analysis.SEEDS, executor=executor)

The results are the ones a run here gives, to the last bit, because of four rules:

- a run carries everything that decides it: its setup, the seed included (`analysis.train_setup`
  seeds torch's random state from it before anything random happens), never state that an
  earlier run left behind in the process;
- the work is a top-level function (`analysis.train_setup`), which a worker imports by its name;
- a worker trains each run on as many torch threads as this process has (`in_order` sets them):
  threads split a sum into parts, and a library may add other parts in another order, so to other
  last bits (on the development CPU 1 and 2 threads happened to give the same bits; nothing promises it);
- the results come back in the order the runs were handed out, whichever finished first.

The same bits also need the same machine underneath: a worker with another CPU (one with bfloat16
instructions, which `hardware.use_bf16` turns on, and one without) or another torch version gives
slightly different numbers, as it would running the sweep alone. A worker reads the data from its
own data folder ($TL_LESSONS_DATA) and a source checkpoint from the same path as here.

Workers on one computer share its cores: give each run fewer threads (`torch.set_num_threads(1)`
before the call, or TL_LESSONS_THREADS=1 on the command line), and the results are those of a run
here on that many threads.
"""
from __future__ import annotations

import contextlib

import torch

from tl_lessons.errors import LessonError, WorkerError

INSTALL = "pip install 'tl-lessons[cluster]'"


def in_order(work, items, executor=None, describe=str, drop=()):
    """`work(item)` for every item, as an iterator of results in the items' order.

    executor None: each item runs here when its result is asked for, exactly as a plain loop would.
    Any other executor: every item is handed out at once (`executor.submit`), to run on the
    caller's number of torch threads; a result is waited for when it is asked for. A work item
    that fails stops the sweep with a `WorkerError` naming the run (`describe(item)`), and the
    items not started yet are cancelled.

    drop: keys of each result the worker leaves out (a trained model is large and not plain data).

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as executor:
    ...     list(in_order(abs, [-2, 3], executor))
    [2, 3]
    """
    if executor is None:
        return (work(item) for item in items)
    return _results(work, list(items), executor, describe, tuple(drop))


def _results(work, items, executor, describe, drop):
    threads = torch.get_num_threads()
    futures = [executor.submit(on_threads, work, threads, drop, item) for item in items]
    try:
        for item, future in zip(items, futures):
            try:
                yield future.result()
            except LessonError as error:   # a sentence for the learner already: say which run
                raise WorkerError(f"The run '{describe(item)}' failed on a worker: {error}") from None
            except Exception as error:   # a bug, a missing file, a worker that ran out of memory
                raise WorkerError(
                    f"The run '{describe(item)}' failed on a worker ({type(error).__name__}: {error}). Train it "
                    f"here without an executor to see where it fails; if it trains here, check the worker: "
                    f"the same tl-lessons and torch as here, the data in its data folder, enough memory.") from None
    finally:
        for future in futures:   # after a failure or an interruption, nothing more trains for nothing
            future.cancel()


def on_threads(work, threads: int, drop, item):
    """One work item on a worker: `work(item)` on `threads` torch threads, without the `drop` keys.

    Top-level, so that a worker process finds it by name. The worker's own thread setting comes
    back afterwards: its next item may come from another caller.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = work(item)
    finally:
        torch.set_num_threads(previous)
    if drop and isinstance(result, dict):
        result = {key: value for key, value in result.items() if key not in drop}
    return result


def each_run(setups, desc: str, progress: bool):
    """The setups one by one, under a text progress bar when `progress` (its last state stays
    readable in a saved notebook, where a widget bar would not)."""
    setups = list(setups)
    if not progress:
        yield from setups
        return
    from tqdm import tqdm

    # A redraw every 30 s: a saved notebook keeps every redraw as a line, so a faster bar leaves a wall of them.
    with tqdm(setups, desc=desc, unit="run", mininterval=30.0) as bar:
        for setup in bar:
            bar.set_postfix_str(f"{setup.label()} · seed {setup.seed}", refresh=False)
            yield setup


@contextlib.contextmanager
def dask_executor(address: str | None = None, workers: int | None = None):
    """An executor on a Dask cluster, closed again at the end of the `with` block.

    address: the scheduler's ("tcp://scheduler:8786"); None starts a `LocalCluster` on this computer
    instead, of `workers` worker processes (one thread each; it listens on 127.0.0.1 only, on ports
    the system picks). The executor is the client's `get_executor()`, as on any cluster.

    It starts worker processes, so tests/test_cluster.py runs it, not a doctest:

    with dask_executor(workers=2) as executor:
        results = analysis.compare_strategies(setups, executor=executor)
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LessonError(f"Training on a cluster needs Dask's `distributed`, which is not installed: run "
                          f"`{INSTALL}` (or `make install`), then try again.") from None
    with contextlib.ExitStack() as stack:
        if address:
            try:
                client = stack.enter_context(Client(address, timeout="20s"))
            except (OSError, TimeoutError, ValueError) as error:
                raise LessonError(f"No Dask scheduler answered at {address} ({error}): start one there "
                                  f"(`dask scheduler`, then `dask worker {address}` on each worker) or check "
                                  f"the address.") from None
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                                       host="127.0.0.1", dashboard_address="127.0.0.1:0"))
            client = stack.enter_context(Client(cluster))
        yield client.get_executor()
