"""PASCAL-Context augmentation and evaluation padding: geometry, invalid padding, normal signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import build_pascal_eval_transform, build_pascal_train_transform
from dmtl.errors import ConfigError, DataError
from dmtl.tasks import IGNORE_INDEX

HEIGHT, WIDTH = 24, 30


def make_sample() -> dict:
    """Analytic maps: class = column // 5, saliency by row parity, normals with x = column sign."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    normals = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    normals[..., 0] = np.where(cols < WIDTH // 2, -0.6, 0.6)
    normals[..., 2] = 0.8
    normals[0] = 0.0  # an invalid row
    edge = np.zeros((HEIGHT, WIDTH), np.float32)
    edge[:, 7] = 1.0
    return {
        "image": np.random.default_rng(0).random((HEIGHT, WIDTH, 3), dtype=np.float32),
        "semseg": cols // 5,
        "human_parts": np.where(rows < 12, 1, 0),
        "sal": rows % 2,
        "normals": normals,
        "edge": edge,
        "name": "2008_000002",
    }


def test_eval_padding_marks_every_added_pixel_invalid() -> None:
    sample = make_sample()
    out = build_pascal_eval_transform(32, 40)(sample)
    targets = out["targets"]
    assert out["image"].shape == (3, 32, 40)
    inside = targets["sal"] != IGNORE_INDEX
    rows = inside.any(dim=1).nonzero().flatten()
    cols = inside.any(dim=0).nonzero().flatten()
    top, left = int(rows[0]), int(cols[0])
    assert (len(rows), len(cols)) == (HEIGHT, WIDTH) and (top, left) == (4, 5)  # centred
    window = (slice(top, top + HEIGHT), slice(left, left + WIDTH))
    for key in ("semseg", "human_parts", "sal"):
        assert targets[key].dtype == torch.uint8  # compact, as the loader hands it over
        torch.testing.assert_close(targets[key][window].long(), torch.from_numpy(sample[key]))
        assert (targets[key][~inside] == IGNORE_INDEX).all()
    assert (targets["edge"][0][~inside] == IGNORE_INDEX).all()
    assert targets["edge"][0][window].sum() == HEIGHT  # the boundary column, unchanged
    assert (targets["normals"][:, ~inside] == 0).all()
    normals = torch.from_numpy(sample["normals"]).permute(2, 0, 1)
    torch.testing.assert_close(targets["normals"][:, window[0], window[1]], normals)
    assert (out["image"][:, ~inside] == 0).all()  # the normalised mean
    # the metrics see exactly the label pixels: valid counts equal those at the label resolution
    assert int((targets["semseg"] != IGNORE_INDEX).sum()) == HEIGHT * WIDTH


def test_eval_image_larger_than_the_padding_is_named() -> None:
    with pytest.raises(DataError, match="2008_000002.*does not fit"):
        build_pascal_eval_transform(16, 40)(make_sample())


def test_flip_negates_normal_x_and_mirrors_every_map() -> None:
    sample = make_sample()
    transform = build_pascal_train_transform(
        HEIGHT, WIDTH, scale_range=(1.0, 1.0), flip_p=1.0, photometric=False, seed=0
    )
    targets = transform(sample)["targets"]
    flipped = torch.from_numpy(sample["normals"][:, ::-1].copy()).permute(2, 0, 1)
    expected = flipped.clone()
    expected[0] = -expected[0]
    torch.testing.assert_close(targets["normals"], expected)
    assert targets["normals"][0, 5, 0] == pytest.approx(-0.6)  # left column now holds -(+0.6)
    assert (targets["normals"][:, 0] == 0).all()  # invalid stays invalid
    torch.testing.assert_close(  # uint8 from the loader, the same ids
        targets["semseg"].long(), torch.from_numpy(sample["semseg"][:, ::-1].copy())
    )
    assert targets["edge"][0, :, WIDTH - 1 - 7].sum() == HEIGHT


def test_zoom_out_pads_with_invalid_values() -> None:
    transform = build_pascal_train_transform(16, 20, scale_range=(0.5, 0.5), flip_p=0.0, seed=0)
    out = transform(make_sample())
    targets = out["targets"]
    assert out["image"].shape == (3, 16, 20)
    valid = targets["sal"] != IGNORE_INDEX
    assert int(valid.sum()) == (HEIGHT // 2) * (WIDTH // 2)  # the scaled image, the rest padding
    assert (targets["semseg"][~valid] == IGNORE_INDEX).all()
    assert (targets["normals"][:, ~valid] == 0).all() and (out["image"][:, ~valid] == 0).all()
    assert set(targets["semseg"][valid].unique().tolist()) <= set(range(6))


def test_zoom_in_crops_to_the_crop_size_and_repeats_with_a_seed() -> None:
    def run() -> dict:
        transform = build_pascal_train_transform(16, 16, scale_range=(1.5, 2.0), seed=3)
        return transform(make_sample())

    first, second = run(), run()
    assert first["image"].shape == (3, 16, 16)
    assert (first["targets"]["sal"] != IGNORE_INDEX).all()  # large enough: no padding
    torch.testing.assert_close(first["image"], second["image"])
    norms = first["targets"]["normals"].norm(dim=0)
    assert torch.isclose(norms[norms > 0], torch.tensor(1.0)).all()  # nearest keeps unit normals


@pytest.mark.parametrize(
    "kwargs",
    [{"height": 0}, {"scale_range": (0.0, 2.0)}, {"scale_range": (2.0, 1.0)}, {"flip_p": 2.0}],
)
def test_bad_options(kwargs) -> None:
    with pytest.raises(ConfigError):
        build_pascal_train_transform(**kwargs)
