"""A training run held at a known step, so that a test stops it there, not after a guessed time.

A test that kills or signals a running ``dmtl fit`` must reach it in the middle of a known epoch.
Waiting for a checkpoint file and then sleeping or racing the run's remaining steps depends on
the machine's speed and load (a fast machine ends the run first, a loaded one lets it run on).
``HoldAtStep`` instead stops the run at a given step: it writes ``marker`` and waits there until
``release`` exists (never, without one: the run waits to be killed). Give it to the run with
``held_at(...)`` and put ``tests`` on its ``PYTHONPATH`` (``support.hold``).
"""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

POLL_S = 0.02


class HoldAtStep(Callback):
    """At the start of training step ``step``: write ``marker``, wait until ``release`` exists.

    Signals that arrive while it waits are handled as usual (the handlers run during the sleep),
    so a stop signal sent before ``release`` is created stops the run after this step.
    """

    def __init__(self, step: int, marker: str, release: str = "") -> None:
        self.step, self.marker, self.release = (
            step,
            Path(marker),
            Path(release) if release else None,
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        self.marker.write_text(str(self.step))
        while self.release is None or not self.release.exists():
            time.sleep(POLL_S)


def held_at(step: int, marker: Path, release: Path | None = None) -> list[str]:
    """The command-line arguments that add a ``HoldAtStep`` to a run's callbacks."""
    args = [
        "--trainer.callbacks+=support.hold.HoldAtStep",
        f"--trainer.callbacks.step={step}",
        f"--trainer.callbacks.marker={marker}",
    ]
    return args + ([f"--trainer.callbacks.release={release}"] if release else [])


def wait_for(marker: Path, proc, timeout_s: float, log: Path | None = None) -> None:
    """Wait until the held run wrote ``marker``; fail at once if it ended instead.

    ``timeout_s`` only bounds a broken run (it never decides a correct one's outcome); ``log``,
    the run's stderr, is shown if it ended.
    """
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"the run ended before it reached the held step\n{tail}")
        assert time.monotonic() < deadline, f"no {marker} after {timeout_s} s"
        time.sleep(POLL_S)
