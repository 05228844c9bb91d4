"""The predict writer (callbacks.prediction_writer): palettes, depth ranges, legends, overlays."""

from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.callbacks.prediction_writer import PredictionWriter
from dmtl.data.augment import denormalize
from dmtl.data.datasets.labelsets import (
    CITYSCAPES_7_COLOURS,
    CITYSCAPES_19_COLOURS,
    NYUV2_13_COLOURS,
    VOC_COLOURS,
)
from dmtl.errors import ConfigError
from dmtl.tasks import resolve_tasks

H, W = 12, 16


class Stub(pl.LightningModule):
    """What the writer reads of a module: task specs, the dataset, the diffusion options."""

    def __init__(self, dataset: str, depth_scale: float = 10.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.task_specs = resolve_tasks(dataset)
        self.diffusion = SimpleNamespace(depth_scale=depth_scale)


def _trainer(tmp_path, world_size=1):
    return SimpleNamespace(
        is_global_zero=True, world_size=world_size, loggers=[], default_root_dir=str(tmp_path)
    )


def _prediction(module, n=2, seed=0, sizes=None):
    g = torch.Generator().manual_seed(seed)
    maps = {}
    for spec in module.task_specs:
        if spec.behaviour.class_ids:
            maps[spec.name] = torch.randint(0, spec.channels, (n, H, W), generator=g)
        elif spec.kind == "depth":
            maps[spec.name] = torch.rand(n, 1, H, W, generator=g) * 5 + 0.5
        elif spec.kind == "normals":
            maps[spec.name] = torch.nn.functional.normalize(torch.randn(n, 3, H, W, generator=g))
        else:
            maps[spec.name] = torch.rand(n, 1, H, W, generator=g)
    meta = {"name": [f"val/{i}" for i in range(n)]}
    if sizes is not None:
        meta["height"] = torch.tensor([h for h, _ in sizes])
        meta["width"] = torch.tensor([w for _, w in sizes])
    batch = {"image": torch.randn(n, 3, H, W, generator=g), "meta": meta}
    return {"predictions": maps, "meta": meta}, batch


def _predict(writer, module, tmp_path, **kwargs):
    trainer = _trainer(tmp_path)
    prediction, batch = _prediction(module, **kwargs)
    writer.setup(trainer, module, "predict")
    writer.write_on_batch_end(trainer, module, prediction, None, batch, 0)
    writer.on_predict_end(trainer, module)
    return prediction, batch


def _palette(path, n):
    image = Image.open(path)
    assert image.mode == "P"
    return [tuple(c) for c in np.array(image.getpalette()[: 3 * n]).reshape(n, 3)]


def test_segmentation_pngs_are_indexed_in_the_voc_palette_with_legends(tmp_path):
    module = Stub("pascal_context")
    prediction, _ = _predict(PredictionWriter(str(tmp_path / "out")), module, tmp_path)
    out = tmp_path / "out"
    for task, n in (("semseg", 21), ("human_parts", 7)):
        path = out / task / "val" / "1.png"
        assert np.array_equal(np.asarray(Image.open(path)), prediction["predictions"][task][1])
        assert _palette(path, n) == list(VOC_COLOURS[:n])
        legend = np.asarray(Image.open(out / "legend" / f"{task}.png"))
        assert legend.shape[0] > 16 * n and legend.shape[2] == 3
    assert _palette(out / "sal" / "val" / "0.png", 2) == [(0, 0, 0), (255, 255, 255)]
    assert _palette(out / "semseg" / "val" / "0.png", 21)[15] == (192, 128, 128)  # person
    assert not (out / "legend" / "normals.png").exists()
    assert not (out / "overlay").exists()  # off by default


@pytest.mark.parametrize(
    ("dataset", "classes", "colours"),
    [
        ("cityscapes", 7, CITYSCAPES_7_COLOURS),
        ("cityscapes19", 19, CITYSCAPES_19_COLOURS),
        ("synthetic_cityscapes", 7, CITYSCAPES_7_COLOURS),
        ("nyuv2", 13, NYUV2_13_COLOURS),
        ("synthetic", 13, NYUV2_13_COLOURS),
    ],
)
def test_each_dataset_gets_its_standard_palette(tmp_path, dataset, classes, colours):
    _predict(PredictionWriter(str(tmp_path)), Stub(dataset), tmp_path)
    assert _palette(tmp_path / "semseg" / "val" / "0.png", classes) == list(colours)


def test_cityscapes_colours_are_those_of_its_label_definition():
    assert CITYSCAPES_19_COLOURS[0] == (128, 64, 128)  # road
    assert CITYSCAPES_19_COLOURS[13] == (0, 0, 142)  # car
    assert CITYSCAPES_7_COLOURS[0] == CITYSCAPES_19_COLOURS[0]  # flat: road's colour
    assert CITYSCAPES_7_COLOURS[6] == CITYSCAPES_19_COLOURS[13]  # vehicle: car's colour


def test_depth_of_image_range_uses_a_robust_range_per_image_written_in_the_png(tmp_path):
    module = Stub("nyuv2")
    writer = PredictionWriter(str(tmp_path), depth_range="image")
    prediction, _ = _predict(writer, module, tmp_path)
    assert not (tmp_path / "legend" / "depth.png").exists()  # no range shared by the files
    for i in range(2):
        depth = prediction["predictions"]["depth"][i].numpy()
        text = Image.open(tmp_path / "depth" / "val" / f"{i}.png").text
        lo, hi = np.percentile(depth, [2, 98])
        assert float(text["depth_min"]) == pytest.approx(lo, rel=1e-5)
        assert float(text["depth_max"]) == pytest.approx(hi, rel=1e-5)
        assert text["depth_unit"] == "m" and text["depth_range"].startswith("image")
    saved = np.load(tmp_path / "depth" / "val" / "0.npy")
    np.testing.assert_array_equal(saved, prediction["predictions"]["depth"][0].numpy())


def test_dataset_and_fixed_depth_ranges_and_inverse_depth(tmp_path):
    _predict(PredictionWriter(str(tmp_path / "a"), depth_range="dataset"), Stub("cityscapes", 0.5),
             tmp_path)  # fmt: skip
    text = Image.open(tmp_path / "a" / "depth" / "val" / "0.png").text
    assert (text["depth_min"], text["depth_max"], text["depth_unit"]) == (
        "0",
        "0.5",
        "inverse depth",
    )
    _predict(PredictionWriter(str(tmp_path / "b"), depth_range=(1, 4)), Stub("nyuv2"), tmp_path)
    text = Image.open(tmp_path / "b" / "depth" / "val" / "0.png").text
    assert (text["depth_min"], text["depth_max"], text["depth_range"]) == ("1", "4", "fixed")
    for folder in ("a", "b"):  # a shared range: its colour bar beside the class legends
        bar = np.asarray(Image.open(tmp_path / folder / "legend" / "depth.png"))
        assert bar.ndim == 3 and bar.shape[0] > 200


def test_the_default_depth_range_is_the_datasets(tmp_path):
    _predict(PredictionWriter(str(tmp_path)), Stub("nyuv2"), tmp_path)
    text = Image.open(tmp_path / "depth" / "val" / "1.png").text
    assert (text["depth_min"], text["depth_max"]) == ("0", "10")
    assert text["depth_range"].startswith("dataset")


def test_normals_are_rgb_of_n_plus_one_over_two(tmp_path):
    prediction, _ = _predict(PredictionWriter(str(tmp_path)), Stub("nyuv2"), tmp_path)
    normals = prediction["predictions"]["normals"][0]
    rgb = np.asarray(Image.open(tmp_path / "normals" / "val" / "0.png"))
    expected = ((normals.permute(1, 2, 0).numpy() + 1) / 2 * 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb, expected)


def test_overlays_and_maps_are_cropped_to_each_image(tmp_path):
    module = Stub("nyuv2")
    writer = PredictionWriter(str(tmp_path), overlay=True)
    prediction, batch = _predict(writer, module, tmp_path, sizes=[(H, W), (7, 9)])
    small = np.asarray(Image.open(tmp_path / "overlay" / "semseg" / "val" / "1.png"))
    assert small.shape == (7, 9, 3)
    assert np.load(tmp_path / "semseg" / "val" / "1.npy").shape == (7, 9)
    assert Image.open(tmp_path / "depth" / "val" / "1.png").size == (9, 7)
    image = (denormalize(batch["image"]).clamp(0, 1) * 255 + 0.5).byte()[0].permute(1, 2, 0)
    colours = np.asarray(NYUV2_13_COLOURS, np.float32)[prediction["predictions"]["semseg"][0]]
    expected = np.clip(image.numpy() * 0.5 + colours * 0.5 + 0.5, 0, 255).astype(np.uint8)
    full = np.asarray(Image.open(tmp_path / "overlay" / "semseg" / "val" / "0.png"))
    assert np.abs(full.astype(int) - expected.astype(int)).max() <= 1


def test_without_a_folder_it_writes_into_the_run_folder_and_says_where(tmp_path, capsys):
    writer = PredictionWriter()
    _predict(writer, Stub("nyuv2"), tmp_path)
    assert writer.output_dir == tmp_path / "predictions"
    assert (tmp_path / "predictions" / "semseg" / "val" / "0.png").is_file()
    printed = capsys.readouterr().out
    assert f"writing predictions to {tmp_path / 'predictions'}" in printed
    assert f"wrote the predictions of 2 images to {tmp_path / 'predictions'}" in printed


def test_png_false_writes_the_maps_only(tmp_path):
    _predict(PredictionWriter(str(tmp_path), png=False, overlay=True), Stub("nyuv2"), tmp_path)
    assert not list(tmp_path.rglob("*.png")) and len(list(tmp_path.rglob("*.npy"))) == 6


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"depth_range": (5.0, 1.0)}, r"predictions\.depth_range \[5\.0, 1\.0\]"),
        ({"depth_range": "percentile"}, r"predictions\.depth_range 'percentile'"),
    ],
)
def test_bad_options_are_named(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        PredictionWriter(**kwargs)


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "taken"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="predictions.output_dir .*taken is a file"):
        PredictionWriter(str(path))
    assert path.read_text() == "keep me"
