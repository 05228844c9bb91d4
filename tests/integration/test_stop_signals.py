"""A stop signal while ``fit`` validates with DataLoader workers ends the process within seconds,
with its checkpoint, the logged rows and 128 + signal; Ctrl-C (SIGINT) stops the same way, and
pressed twice it interrupts at once.

Real processes and real signals: the workers' signal handling and the interpreter's exit, which
waits for every child process, are what an in-process run cannot see.
"""

import csv
import signal
import time

import pytest
import torch

from support import stops
from support.cli import _args

VALIDATING = [
    "--trainer.max_epochs=2",
    "--data.num_workers=2",
    "--trainer.callbacks+=support.stops.SlowValidation",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("stop-signals-cache")


@pytest.mark.parametrize(
    ("signum", "group", "persistent"),
    [
        (signal.SIGTERM, True, True),
        (signal.SIGUSR1, False, True),
        (signal.SIGTERM, False, False),
        (signal.SIGINT, True, True),
    ],
)
def test_stop_signal_in_validation_with_workers_ends_within_seconds(
    cache, tmp_path, signum, group, persistent
):
    args = _args("fit", cache, tmp_path, *VALIDATING, f"--data.persistent_workers={persistent}")
    proc = stops.start(args, tmp_path / "marks", sigint=signum == signal.SIGINT)
    stops.wait_for(proc, tmp_path / "marks" / "val0_0")
    stops.kill(proc, signum, group)
    code, err = stops.finish(proc)
    assert code == 128 + signum, err
    ckpt = tmp_path / "run" / "fit" / "checkpoints" / "last.ckpt"
    assert f"dmtl: stopped by {signum.name} at epoch 0, step 4; resumable checkpoint {ckpt}" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert torch.load(ckpt, weights_only=False)["global_step"] == 4
    rows = csv.DictReader((tmp_path / "run" / "fit" / "metrics.csv").open())
    assert {int(row["step"]) for row in rows} >= {0, 1, 2, 3}  # flushed on the way out


def test_sigint_pressed_twice_interrupts_at_once(cache, tmp_path):
    args = _args(
        "fit", cache, tmp_path, *VALIDATING[:2], "--trainer.callbacks+=support.stops.SlowSteps"
    )
    args += ["--trainer.callbacks.secs=300"]  # the step would end long after the test's bound
    proc = stops.start(args, tmp_path / "marks", sigint=True)
    stops.wait_for(proc, tmp_path / "marks" / "step0")
    stops.kill(proc, signal.SIGINT, True)
    # the second press: sent again until the run ends (two signals pending at once are one)
    deadline = time.monotonic() + stops.STOP_S
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
        if proc.poll() is None:
            stops.kill(proc, signal.SIGINT, True)
    code, err = stops.finish(proc)
    assert code not in (0, 128 + signal.SIGINT), err
    assert "dmtl: stopped by" not in err
    assert not (tmp_path / "run" / "fit" / "checkpoints" / "last.ckpt").exists()
