"""DataLoader workers that ignore the stop signals the main process handles.

SLURM signals every process of a job step and GNU ``timeout`` its whole process group, so the
DataLoader workers receive SIGTERM or SIGUSR1 together with the main process. A worker killed by
it makes the main process fail with "DataLoader worker ... is killed by signal" before the stop
checkpoint is written; a worker that ignores it keeps loading until the main process, which
handles the signal, shuts the workers down.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from typing import Any

from torch.utils.data import DataLoader

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
