"""Slow: a short real training run through the CLI learns well beyond constant predictions."""

import json

import pytest

from dmtl.cli import main
from dmtl.constant_baselines import evaluate_constants
from support import REPO

pytestmark = pytest.mark.slow
DEFAULT_CONFIG = REPO / "experiments" / "synthetic" / "default.yaml"


def test_short_training_beats_the_best_constants(tmp_path):
    args = [
        "fit",
        f"--config={DEFAULT_CONFIG}",
        f"--data.root={tmp_path / 'data'}",
        "--data.synthetic.num_train=480",
        "--data.synthetic.num_val=96",
        "--data.label_setting=full",
        "--model.network.embed_dim=64",
        "--trainer.max_epochs=4",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.logger.init_args.version=slow",
    ]
    cli = main(args)
    run = tmp_path / "synthetic" / "slow"
    val = json.loads((run / "val_metrics.json").read_text())
    constant = evaluate_constants(cli.datamodule.val_dataloader(), cli.datamodule.task_specs)
    assert val["semseg"]["miou"] > 3.0 * constant["semseg"]["miou"]
    assert val["depth"]["abs_err"] < 0.9 * constant["depth"]["abs_err"]
    assert val["normals"]["mean"] < 0.8 * constant["normals"]["mean"]
