"""A grid stopped by a signal stops its cells with it.

While ``dmtl bench run`` runs (``stop_signals``), SIGTERM, SIGINT and SIGUSR1 are not the end of
the bench process alone: each running cell's ``dmtl fit`` or ``dmtl test`` gets SIGTERM (SIGUSR1
as itself, SLURM's requeue signal), finishes its step, writes its resumable checkpoint and exits;
no further cell starts; ``dmtl bench`` then says which cells stopped and exits with 128 + the
signal. Without this a ``kill`` of the bench alone left its cells training, unseen, and a restart
of the grid would race them for their folders. A cell's command that a Ctrl-C in the terminal
already reached gets SIGTERM beside it, which the fit's fault tolerance takes as the same stop
(only a second SIGINT interrupts it at once).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from dmtl.errors import DMTLError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class CellStopped(DMTLError):
    """The grid is stopping: the cell was stopped by the signal, or not started."""


class _Stop:
    """The stop signal received (if any) and the cells' processes running now."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.RLock()  # the handler runs in the main thread

    def handle(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            if self.received is None:
                self.received = signal.Signals(signum)
            forward = signal.SIGUSR1 if signum == signal.SIGUSR1 else signal.SIGTERM
            for proc in self._running:
                if proc.poll() is None:
                    proc.send_signal(forward)

    def run(self, command: list[str], **kwargs) -> int:
        """Run ``command`` to its end as a cell's process; its exit status.

        Raises:
            CellStopped: a stop signal came before it started, or stopped it.
        """
        with self._lock:
            if self.received is not None:
                raise CellStopped(f"not started: the grid is stopping ({self.received.name})")
            proc = subprocess.Popen(command, **kwargs)
            self._running.add(proc)
        try:
            code = proc.wait()
        finally:
            with self._lock:
                self._running.discard(proc)
        if self.received is not None and code != 0:
            raise CellStopped(f"stopped by {self.received.name} with a resumable checkpoint")
        return code


STOP = _Stop()


@contextmanager
def stop_signals() -> Iterator[_Stop]:
    """Handle the stop signals as above while the grid runs (the main thread only)."""
    STOP.received = None
    previous = {signum: signal.signal(signum, STOP.handle) for signum in STOP_SIGNALS}
    try:
        yield STOP
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        STOP.received = None
