"""Runs of the ``dmtl`` command in their own process group, stopped by real signals.

The helper callbacks here mark where a run stands with a file in ``$DMTL_TEST_MARKS`` and slow
it down there, so that a test can send its signal at a known point (the run is started with
``tests`` on ``PYTHONPATH`` and ``--trainer.callbacks+=support.stops.<Callback>``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from support import REPO

MARKS = "DMTL_TEST_MARKS"
WAIT_S = 300  # for a run to reach its mark, under load
STOP_S = 30  # "within seconds": a stopped run must be gone by then, under load


def _mark(name: str) -> None:
    folder = os.environ.get(MARKS)
    if folder:
        (Path(folder) / name).touch()


class SlowValidation(Callback):
    """Marks ``val<epoch>_<batch>`` at each validation batch (sanity check not) and waits there.

    Args:
        secs: seconds to wait after each marked batch.
    """

    def __init__(self, secs: float = 1.0) -> None:
        self.secs = secs

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, *args) -> None:
        if not trainer.sanity_checking:
            _mark(f"val{trainer.current_epoch}_{batch_idx}")
            time.sleep(self.secs)


class SlowSteps(Callback):
    """Marks ``step<N>`` at the start of each training step and waits there.

    Args:
        secs: seconds to wait at each step.
    """

    def __init__(self, secs: float = 1.0) -> None:
        self.secs = secs

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        _mark(f"step{trainer.global_step}")
        time.sleep(self.secs)


def start(args: list[str], marks: Path, sigint: bool = False) -> subprocess.Popen:
    """Start ``python -m dmtl *args`` as the leader of a new process group.

    Args:
        args: the command line after ``dmtl``.
        marks: the folder of the helper callbacks' marks.
        sigint: give SIGINT its default disposition (a shell starts background jobs with it
            ignored; a terminal's Ctrl-C finds it at the default).
    """
    marks.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
        MARKS: str(marks),
    }

    def restore() -> None:
        if sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    return subprocess.Popen(
        [sys.executable, "-m", "dmtl", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=restore,
    )


def wait_for(proc: subprocess.Popen, mark: Path) -> None:
    """Wait until ``mark`` exists; assert that the run is still going then."""
    deadline = time.monotonic() + WAIT_S
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists() and proc.poll() is None, "the run ended before its mark"


def finish(proc: subprocess.Popen, timeout: float = STOP_S) -> tuple[int, str]:
    """The exit status and stderr of ``proc``; a run still there after ``timeout`` s is killed
    with its group and fails the test."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as hung:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(
            f"still running {timeout} s after the signal:\n{err.decode()}"
        ) from hung
    return proc.returncode, err.decode()


def kill(proc: subprocess.Popen, signum: int, group: bool) -> None:
    """Send ``signum`` to the run's main process, or to its whole group (workers too)."""
    if group:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
