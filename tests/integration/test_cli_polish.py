"""The command line itself: help, version, program name, one optimiser, metrics printed once."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dmtl import __version__
from dmtl.cli import main
from support import REPO
from support.cli import _args

H, W = 32, 40  # support.cli.TINY_DATA's image size


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("polish-cache")


def test_python_m_dmtl_help_is_dmtl_and_lists_every_subcommand():
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "dmtl", "--help"], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: dmtl ")
    for name in ("fit", "validate", "test", "predict", "convert-checkpoint", "prepare"):
        assert f"\n    {name} " in proc.stdout, name
    assert "--version" in proc.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"dmtl {__version__}"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (["--optimizer=AdamW"], "optimizer"),
        (["--optimizer=torch.optim.SGD", "--optimizer.lr=0.1"], "optimizer"),
        (["--lr_scheduler=torch.optim.lr_scheduler.StepLR", "--lr_scheduler.step_size=2"],
         "lr_scheduler"),
    ],
)  # fmt: skip
def test_lightning_optimisers_are_refused_pointing_at_model_optim(cache, tmp_path, capsys, extra,
                                                                  key):  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, *extra))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"dmtl: error: --{key} ") and "--model.optim.lr" in err[-1]
    assert not (tmp_path / "run").exists()


def test_an_optimizer_in_a_config_file_is_refused_too(cache, tmp_path, capsys):
    config = tmp_path / "opt.yaml"
    config.write_text("optimizer:\n  class_path: torch.optim.AdamW\n  init_args: {lr: 0.01}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, f"--config={config}"))
    assert exit_info.value.code == 2
    assert "`optimizer:` in a config" in capsys.readouterr().err.strip().splitlines()[-1]


def test_test_prints_its_metrics_once_with_units_and_directions(cache, tmp_path, capsys):
    main(_args("test", cache, tmp_path))
    printed = capsys.readouterr().out
    assert printed.count("test metrics (per task)") == 1
    assert "DataLoader 0" not in printed and "Test metric" not in printed  # Lightning's table
    rows = {line.split()[0]: line for line in printed.splitlines() if line.strip()}
    assert "miou ↑" in rows["semseg"] and rows["semseg"].rstrip().endswith("%")
    assert "abs_err ↓" in rows["depth"] and " m " in rows["depth"]
    assert "mean ↓" in rows["normals"] and "°" in rows["normals"]


def test_fit_panels_have_titles_and_the_initial_predictions(cache, tmp_path):
    options = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
               "--trainer.limit_val_batches=1", "--panels.samples=2"]  # fmt: skip
    main(_args("fit", cache, tmp_path, *options))
    panel = np.asarray(Image.open(tmp_path / "run" / "fit" / "panels" / "val_epoch000.png"))
    tiles = 1 + 3 * 3  # image; target, initial, final of semseg, depth, normals
    assert panel.shape[1] == tiles * W + (tiles - 1) * 2
    header = panel.shape[0] - (2 * H + 2)
    assert header > 10 and (panel[:header] < 128).any()  # two rows of titles above the samples
