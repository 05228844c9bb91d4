"""Each command ends by naming where its results are; an evaluation of a run's checkpoint writes
into that run's folder, not a new ``version_N``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from dmtl.cli import main
from support.cli import TINY_DATA

ONE_EPOCH = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
]


def named(printed: str) -> dict[str, Path]:
    """``what -> path`` of the ``dmtl: <what>: <path>`` lines printed (the first of each)."""
    found: dict[str, Path] = {}
    for line in printed.splitlines():
        what, sep, path = line.removeprefix("dmtl: ").partition(": ")
        if line.startswith("dmtl: ") and sep and "/" in path:
            found.setdefault(what, Path(path))
    return found


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A one-epoch fit with the default logger, from an empty folder: (folder, printed paths)."""
    folder = tmp_path_factory.mktemp("result-paths")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.chdir(folder)
        main(["fit", f"--data.root={folder / 'cache'}", *TINY_DATA, *ONE_EPOCH])
    return folder, out.getvalue()


def test_fit_names_its_run_folder_checkpoint_metrics_and_panels(fitted):
    folder, printed = fitted
    paths = named(printed)
    run = folder / "runs" / "dmtl" / "version_0"
    assert (folder / paths["run folder"]).resolve() == run.resolve()
    assert (folder / paths["checkpoint"]).suffix == ".ckpt"
    assert (folder / paths["checkpoint"]).is_file()
    assert (folder / paths["metrics"]).name == "val_metrics.json"
    assert "semseg" in json.loads((folder / paths["metrics"]).read_text())
    assert (folder / paths["panels"]).is_dir()
    assert paths["training curves"] == paths["run folder"] / "curves.png"
    with Image.open(folder / paths["training curves"]) as curves:
        assert curves.format == "PNG" and min(curves.size) > 100
    assert printed.rstrip().splitlines()[-1].startswith("dmtl: ")  # the paths come last


@pytest.mark.parametrize(
    ("command", "metrics"),
    [("test", "test_metrics.json"), ("validate", "validate_metrics.json")],
)
def test_an_evaluation_of_a_run_checkpoint_writes_beside_it(
    fitted, command, metrics, monkeypatch, capsys, recwarn
):
    folder, printed = fitted
    run = (folder / "runs" / "dmtl" / "version_0").resolve()
    checkpoint = named(printed)["checkpoint"]  # as printed: relative to the folder of the fit
    monkeypatch.chdir(folder)
    capsys.readouterr()
    main(
        [
            command,
            f"--data.root={folder / 'cache'}",
            *TINY_DATA,
            f"--ckpt_path={checkpoint}",
            "--trainer.limit_test_batches=1",
            "--trainer.limit_val_batches=1",
        ]
    )
    captured = capsys.readouterr()
    paths = named(captured.out)
    assert paths["run folder"].resolve() == run
    assert paths["checkpoint"] == checkpoint
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]
    assert paths["metrics"] == paths["run folder"] / metrics
    assert "semseg" in json.loads((folder / paths["metrics"]).read_text())
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]  # no new version_N
    assert (run / "val_metrics.json").is_file()  # the fit's own file stays
    assert (run / "config.yaml").is_file() and list(run.glob("config.*.yaml"))
    with (run / "metrics.csv").open() as rows:
        columns = next(csv.reader(rows))
    assert any(c.startswith("val/") for c in columns) and any(
        c.startswith("train/") for c in columns
    )


def test_predict_from_a_run_checkpoint_names_its_predictions(fitted, monkeypatch, capsys):
    folder, printed = fitted
    checkpoint = named(printed)["checkpoint"]
    monkeypatch.chdir(folder)
    capsys.readouterr()
    main(
        [
            "predict",
            f"--data.root={folder / 'cache'}",
            *TINY_DATA,
            f"--ckpt_path={checkpoint}",
            "--trainer.limit_predict_batches=1",
        ]
    )
    paths = named(capsys.readouterr().out)
    assert paths["predictions"] == paths["run folder"] / "predictions"
    assert len(list((folder / paths["predictions"] / "semseg" / "val").glob("*.npy"))) == 4


def test_a_fast_dev_run_says_it_wrote_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["fit", f"--data.root={tmp_path / 'cache'}", *TINY_DATA, "--trainer.fast_dev_run=true"])
    assert "dmtl: fit was a fast_dev_run: nothing was written" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()
