"""A real-config run (experiments/nyuv2/base.yaml on a tiny NYUv2 tree) killed with SIGKILL in
the middle of an epoch loses at most that epoch, and the same command started again continues by
itself to the end."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from support import REPO
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
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    folder = tmp_path / "nyuv2" / "run1" / "checkpoints"
    proc = subprocess.Popen(
        _command(root, tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + WAIT_S
    while not (folder / "last.ckpt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)  # into the next epoch
    assert proc.poll() is None, proc.communicate()[1].decode()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)
    kept = torch.load(folder / "last.ckpt", weights_only=False)["global_step"]
    assert kept >= STEPS and kept % STEPS == 0
    again = subprocess.run(
        _command(root, tmp_path), env=env, capture_output=True, timeout=WAIT_S, check=False
    )
    err = again.stderr.decode()
    assert again.returncode == 0, err
    assert f"dmtl: resuming from {folder}" in err
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == EPOCHS * STEPS
    assert sorted(p.name for p in folder.glob("last*")) == ["last.ckpt"]  # no last-v1.ckpt
