"""Prediction on a folder of images of any size (dmtl.data.readers.image_folder, dmtl predict)."""

import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.cli import main
from dmtl.data.augment import denormalize
from dmtl.data.readers.image_folder import ImageFolderDataset, pad_collate
from dmtl.errors import DataError, MissingDataError
from support.cli import _args

SIZES = {"a.png": (37, 50), "sub/b.jpg": (64, 33), "c.jpeg": (20, 20)}  # (H, W)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_samples_keep_size_and_pixels(folder):
    data = ImageFolderDataset(folder)
    assert [data[i]["name"] for i in range(len(data))] == ["a", "c", "sub/b"]
    sample = data[0]
    assert sample["image"].shape == (3, 37, 50)
    original = np.asarray(Image.open(folder / "a.png"), dtype=np.float32) / 255
    restored = denormalize(sample["image"]).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(restored, original, atol=1e-5)


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    stored = np.zeros((20, 30, 3), np.uint8)  # landscape as stored, H 20 W 30
    stored[:, :5] = 255  # a white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    image = denormalize(ImageFolderDataset(tmp_path)[0]["image"]).permute(1, 2, 0).numpy()
    assert image.shape == (30, 20, 3)  # portrait, as a viewer shows it
    assert image[:3].mean() > 0.9 and image[-3:].mean() < 0.1  # the band is now on top


def test_collate_pads_to_the_stride_and_records_sizes(folder):
    data = ImageFolderDataset(folder)
    batch = pad_collate([data[0], data[2]], multiple=32)
    assert batch["image"].shape == (2, 3, 64, 64)
    assert batch["meta"]["height"].tolist() == [37, 64]
    assert batch["meta"]["width"].tolist() == [50, 33]
    assert torch.equal(batch["image"][0, :, :37, :50], data[0]["image"])
    assert (batch["image"][0, :, 37:] == 0).all() and (batch["image"][0, :, :, 50:] == 0).all()


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(MissingDataError, match="nowhere"):
        ImageFolderDataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match="holds no image"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        ImageFolderDataset(tmp_path)[0]


def test_predict_writes_maps_of_the_original_size(folder, tmp_path):
    out = tmp_path / "pred"
    writer = ["--trainer.callbacks+=dmtl.callbacks.prediction_writer.PredictionWriter",
              f"--trainer.callbacks.output_dir={out}"]  # fmt: skip
    args = _args("predict", tmp_path / "cache", tmp_path, f"--data.predict_dir={folder}", *writer)
    main(args)
    assert not (tmp_path / "cache").exists()  # no dataset was rendered for a folder
    for name, (h, w) in SIZES.items():
        stem = name.rsplit(".", 1)[0]
        labels = np.load(out / "semseg" / f"{stem}.npy")
        assert labels.shape == (h, w) and labels.dtype == np.int64 and labels.max() < 13
        depth = np.load(out / "depth" / f"{stem}.npy")
        assert depth.shape == (1, h, w)
        normals = np.load(out / "normals" / f"{stem}.npy")
        np.testing.assert_allclose(np.linalg.norm(normals, axis=0), 1.0, atol=1e-5)
        assert Image.open(out / "normals" / f"{stem}.png").size == (w, h)
