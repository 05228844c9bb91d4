"""DDP through the command line: two gloo processes on CPU give the metrics of one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dmtl.cli import main
from support import REPO
from support.cli import _args

pytestmark = pytest.mark.slow

ROOT = REPO
DDP = [
    f"--config={ROOT / 'experiments' / 'trainer' / 'ddp.yaml'}",
    "--trainer.accelerator=cpu",
    "--trainer.devices=2",
    "--model.network.backbone=mobilenetv3_small_050",
    # 7 evaluation samples: a padded sampler would count one of them twice
    "--data.synthetic.num_val=7",
]


def _dmtl(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "dmtl", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The epoch-level metrics are logged so that Lightning has nothing to warn about per key.
    assert "sync_dist" not in proc.stderr + proc.stdout, proc.stderr[-3000:]


def _metrics(path: Path) -> dict:
    return json.loads(path.read_text())


def test_ddp_fit_and_test_match_one_process(tmp_path):
    cache = tmp_path / "cache"
    _dmtl(*_args("fit", cache, tmp_path, *DDP, "--trainer.max_epochs=2", "--seed_everything=0"))
    ckpt = next((tmp_path / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    _dmtl(*_args("test", cache, tmp_path, *DDP, f"--ckpt_path={ckpt}"))

    one = tmp_path / "one"
    single = [a for a in DDP if not a.startswith(("--config", "--trainer.devices"))]
    # The reference runs with the DDP processes' one thread (``_dmtl``): the thread count changes
    # the float bits of a convolution here (a few ulps), and an arg-max near a tie could then
    # flip a pixel's class and move mIoU by far more than the tolerance below; with one thread on
    # both sides only the shards' batch composition differs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(_args("test", cache, one, *single, "--trainer.devices=1", f"--ckpt_path={ckpt}"))
    finally:
        torch.set_num_threads(threads)
    reference = _metrics(one / "run" / "test" / "test_metrics.json")
    for name in ("fit/val_metrics.json", "test/test_metrics.json"):
        ddp = _metrics(tmp_path / "run" / name)
        for task, metrics in reference.items():
            for metric, value in metrics.items():
                assert ddp[task][metric] == pytest.approx(value, rel=1e-5, abs=1e-6), (
                    name,
                    task,
                    metric,
                )
