"""`dmtl predict` through the command line: outputs written by default, into a folder it names."""

import numpy as np
import pytest
from PIL import Image

from dmtl.cli import main
from dmtl.data.datasets.labelsets import NYUV2_13_COLOURS
from dmtl.viz import class_palette, make_legend
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("predict-cache")


def test_predict_writes_into_the_run_folder_without_flags_and_says_where(cache, tmp_path, capsys):
    main(_args("predict", cache, tmp_path))
    out = tmp_path / "run" / "predict" / "predictions"
    printed = capsys.readouterr().out
    assert f"dmtl: writing predictions to {out}" in printed
    assert f"dmtl: wrote the predictions of 8 images to {out}" in printed
    assert len(list((out / "semseg" / "val").glob("*.npy"))) == 8
    semseg = Image.open(out / "semseg" / "val" / "0.png")
    assert semseg.mode == "P" and semseg.size == (40, 32)
    assert np.array_equal(np.asarray(semseg), np.load(out / "semseg" / "val" / "0.npy"))
    palette = np.array(semseg.getpalette()[: 3 * 13]).reshape(13, 3)
    assert [tuple(c) for c in palette] == list(NYUV2_13_COLOURS)  # synthetic: NYUv2's classes
    assert Image.open(out / "legend" / "semseg.png").mode == "RGB"
    texts = [Image.open(out / "depth" / "val" / f"{i}.png").text for i in (0, 1)]
    assert {(t["depth_min"], t["depth_max"], t["depth_unit"]) for t in texts} == {("0", "10", "m")}
    bar = np.asarray(Image.open(out / "legend" / "depth.png"))  # one colour bar for every file
    assert bar.shape[0] > 200 and bar.shape[2] == 3 and len(np.unique(bar.reshape(-1, 3), 0)) > 50
    assert Image.open(out / "normals" / "val" / "0.png").mode == "RGB"


def test_predict_output_overlay_and_dataset_depth_range_options(cache, tmp_path):
    out = tmp_path / "mine"
    options = [
        f"--predictions.output_dir={out}",
        "--predictions.overlay=true",
        "--predictions.depth_range=image",
        "--predictions.class_names={semseg: [" + ", ".join(f"n{i}" for i in range(13)) + "]}",
    ]
    main(_args("predict", cache, tmp_path, *options))
    assert not (tmp_path / "run" / "predict" / "predictions").exists()
    overlay = Image.open(out / "overlay" / "semseg" / "val" / "3.png")
    assert overlay.mode == "RGB" and overlay.size == (40, 32)
    depth = np.load(out / "depth" / "val" / "3.npy")
    text = Image.open(out / "depth" / "val" / "3.png").text
    lo, hi = np.percentile(depth[depth > 0], [2, 98])  # each image's own range
    assert float(text["depth_min"]) == pytest.approx(lo, rel=1e-4)
    assert float(text["depth_max"]) == pytest.approx(hi, rel=1e-4)
    assert not (out / "legend" / "depth.png").exists()  # no shared scale to draw
    legend = np.asarray(Image.open(out / "legend" / "semseg.png"))
    names = [f"n{i}" for i in range(13)]
    assert np.array_equal(legend, make_legend(names, class_palette("synthetic", "semseg", 13)))


def test_class_names_of_another_length_are_one_line(cache, tmp_path, capsys):
    names = "--predictions.class_names={semseg: [road, car]}"
    with pytest.raises(SystemExit) as exit_info:
        main(_args("predict", cache, tmp_path, names))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        "dmtl: error: predictions.class_names.semseg has 2 names, the model has 13 classes: "
        "give one name per class id, in id order"
    )


def test_a_writer_given_as_a_trainer_callback_replaces_the_default_one(cache, tmp_path):
    out = tmp_path / "legacy"
    writer = ["--trainer.callbacks+=dmtl.callbacks.prediction_writer.PredictionWriter",
              f"--trainer.callbacks.output_dir={out}"]  # fmt: skip
    cli = main(_args("predict", cache, tmp_path, *writer))
    assert len(list((out / "depth" / "val").glob("*.npy"))) == 8
    assert not (tmp_path / "run" / "predict" / "predictions").exists()
    writers = [c for c in cli.trainer.callbacks if type(c).__name__ == "PredictionWriter"]
    assert len(writers) == 1


def test_an_output_folder_that_is_a_file_ends_with_one_line(cache, tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep")
    with pytest.raises(SystemExit) as exit_info:
        main(_args("predict", cache, tmp_path, f"--predictions.output_dir={taken}"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dmtl: error: predictions.output_dir") and "taken.txt" in err[-1]
    assert taken.read_text() == "keep" and not (tmp_path / "run").exists()
