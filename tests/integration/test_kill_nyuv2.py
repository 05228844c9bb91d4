"""A real-config run (experiments/nyuv2/base.yaml on a tiny NYUv2 tree) killed with SIGKILL in
the middle of an epoch loses at most that epoch, and the same command started again continues by
itself to the end. The run is held in the middle of its second epoch (``support.hold``) and
killed there: where it stops does not depend on the machine's speed or load."""

import os
import signal
import subprocess
import sys

import pytest
import torch

from support import REPO
from support.hold import held_at, wait_for
from support.mtpsl import write_nyuv2

pytestmark = pytest.mark.slow

EPOCHS, STEPS = 3, 4  # 8 training images, batch 2
WAIT_S = 300


def _command(root, out):
    return [
        sys.executable, "-m", "dmtl", "fit",
        "--config", str(REPO / "experiments" / "nyuv2" / "base.yaml"),
        f"--data.root={root}",
        f"--trainer.max_epochs={EPOCHS}",
        "--trainer.accelerator=cpu",
        f"--trainer.default_root_dir={out}",
        f"--trainer.logger.init_args.save_dir={out}",
        "--trainer.logger.init_args.version=run1",
        "--trainer.enable_progress_bar=false",
        "--data.num_workers=2",
        "--model.network.backbone=mobilenetv3_small_050",  # small and offline
        "--model.network.pretrained=false",
        "--model.network.embed_dim=16",
    ]  # fmt: skip


def test_sigkill_mid_epoch_loses_at_most_that_epoch_and_a_restart_finishes(tmp_path):
    root = write_nyuv2(tmp_path / "data", {"train": 2 * STEPS, "val": 2}, 32, 40)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])}
    folder = tmp_path / "nyuv2" / "run1" / "checkpoints"
    held = tmp_path / "held"
    middle = STEPS + STEPS // 2  # the middle of the second epoch, after the first's checkpoint
    log = tmp_path / "first.err"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            _command(root, tmp_path) + held_at(middle, held), env=env, stdout=subprocess.DEVNULL,
            stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(held, proc, WAIT_S, log)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
    kept = torch.load(folder / "last.ckpt", weights_only=False)["global_step"]
    assert kept == STEPS  # the first epoch's checkpoint: the second epoch is lost, no more
    again = subprocess.run(
        _command(root, tmp_path), env=env, capture_output=True, timeout=WAIT_S, check=False
    )
    err = again.stderr.decode()
    assert again.returncode == 0, err
    assert f"dmtl: resuming from {folder}" in err
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == EPOCHS * STEPS
    assert sorted(p.name for p in folder.glob("last*")) == ["last.ckpt"]  # no last-v1.ckpt
