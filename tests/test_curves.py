"""Training curves from a run's metrics.csv: ``dmtl plot RUN`` and the end of ``dmtl fit``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from dmtl.cli import main
from dmtl.curves import COLUMNS, DPI, PLOT_SIZE, plot_groups, read_series
from dmtl.run_summary import draw_training_curves

HEADER = "epoch,lr-Adam,step,train/loss,train/loss/depth,val/depth/abs_err,"
HEADER += "val_initial/depth/abs_err,val/semseg/miou\n"
CSV = (
    HEADER
    + """,0.001,0,,,,,
0,,0,2.5,1.5,,,
,0.0008,1,,,,,
0,,1,2.0,1.0,,,
0,,1,,,0.9,1.1,12.5
1,,3,1.5,0.7,,,
1,,3,,,0.7,1.0,20.0
"""
)


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "runs" / "exp" / "version_0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(CSV)
    return folder


def test_each_column_becomes_its_points_and_each_metric_its_plot(run):
    series = read_series(run / "metrics.csv")
    assert series["train/loss"] == [(0.0, 2.5), (1.0, 2.0), (3.0, 1.5)]
    assert series["lr-Adam"] == [(0.0, 0.001), (1.0, 0.0008)]
    assert plot_groups(series) == {
        "training loss": ["train/loss", "train/loss/depth"],
        "learning rate": ["lr-Adam"],
        "val/depth/abs_err": ["val/depth/abs_err", "val_initial/depth/abs_err"],
        "val/semseg/miou": ["val/semseg/miou"],
    }


def test_dmtl_plot_writes_curves_png_with_a_plot_per_group(run, capsys):
    main(["plot", str(run)])
    assert capsys.readouterr().out.strip() == f"dmtl: training curves: {run / 'curves.png'}"
    with Image.open(run / "curves.png") as png:
        size = png.size
    rows = 2  # four plots, three a row
    assert size == (round(PLOT_SIZE[0] * COLUMNS * DPI), round(PLOT_SIZE[1] * rows * DPI))


def test_dmtl_plot_of_a_folder_without_metrics_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"dmtl: error: {tmp_path / 'metrics.csv'} does not exist: a run folder of the "
        "CSV logger holds it"
    ]


def test_a_fit_with_nothing_to_draw_says_so_and_does_not_fail(tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text("epoch,step\n0,0\n")
    trainer = SimpleNamespace(
        loggers=[], default_root_dir=str(tmp_path), is_global_zero=True, fast_dev_run=False
    )
    assert draw_training_curves(trainer) is None
    assert capsys.readouterr().err.startswith("dmtl: no training curves: ")
    assert not (tmp_path / "curves.png").exists()
