"""DataLoader workers that ignore the stop signals the main process handles.

SLURM signals every process of a job step and GNU ``timeout`` its whole process group, so the
DataLoader workers receive SIGTERM or SIGUSR1 together with the main process. A worker killed by
it makes the main process fail with "DataLoader worker ... is killed by signal" before the stop
checkpoint is written; a worker that ignores it keeps loading until the main process, which
handles the signal, shuts the workers down.

A run that stops must therefore shut its workers down itself (``shutdown_workers``): at exit,
``multiprocessing`` ends the worker processes that are still there with SIGTERM, which they
ignore, and then waits for them without a time limit. A validation loop left by the stop
exception keeps its iterator (the exception's traceback holds it), so its workers would still be
there and the process would never end.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Iterable
from typing import Any

from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

LOADER_HOOKS = ("train_dataloader", "val_dataloader", "test_dataloader", "predict_dataloader")


class IgnoreSignalsInit:
    """A ``worker_init_fn`` that sets ``signals`` to ``SIG_IGN``, then runs the loader's own.

    A class rather than a closure so that it pickles for the ``spawn`` start method.

    Args:
        signals: the signal numbers to ignore in the worker.
        previous: the loader's own ``worker_init_fn``, or ``None``.
    """

    def __init__(self, signals: Iterable[int], previous: Callable[[int], Any] | None) -> None:
        self.signals = [int(s) for s in signals]
        self.previous = previous

    def __call__(self, worker_id: int) -> None:
        for signum in self.signals:
            signal.signal(signum, signal.SIG_IGN)
        if self.previous is not None:
            self.previous(worker_id)


def guard_loader(loader: Any, signals: Iterable[int]) -> Any:
    """Give ``loader`` (a ``DataLoader``, or anything else left as it is) ``IgnoreSignalsInit``."""
    if isinstance(loader, DataLoader) and not isinstance(loader.worker_init_fn, IgnoreSignalsInit):
        loader.worker_init_fn = IgnoreSignalsInit(signals, loader.worker_init_fn)
    return loader


def guard_datamodule(datamodule: Any, signals: Iterable[int]) -> None:
    """Wrap the data module's ``*_dataloader`` methods so that every loader they build is guarded.

    Wrapped on the instance, before Lightning first asks for a loader (callbacks' ``setup``) and
    before any worker starts; calling it again does not wrap twice.
    """
    signals = list(signals)
    for name in LOADER_HOOKS:
        method = getattr(datamodule, name, None)
        if method is None or getattr(method, "_dmtl_guarded", False):
            continue

        def guarded(method: Callable[[], Any] = method) -> Any:
            loaders = method()
            if isinstance(loaders, (list, tuple)):
                return type(loaders)(guard_loader(dl, signals) for dl in loaders)
            if isinstance(loaders, dict):
                return {key: guard_loader(dl, signals) for key, dl in loaders.items()}
            return guard_loader(loaders, signals)

        guarded._dmtl_guarded = True  # type: ignore[attr-defined]
        setattr(datamodule, name, guarded)


def shutdown_workers() -> int:
    """Shut down the workers of every DataLoader iterator of this process that still has them.

    The iterators are found among the live objects: the loops that made them may be gone, their
    frames kept only by an exception's traceback. Returns how many iterators were shut down.
    """
    live = [  # type(), not isinstance: no lazy module attribute is asked for its __class__
        obj
        for obj in gc.get_objects()
        if issubclass(type(obj), _MultiProcessingDataLoaderIter) and not obj._shutdown
    ]
    for iterator in live:
        iterator._shutdown_workers()
    return len(live)
