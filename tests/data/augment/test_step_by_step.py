"""Tests of the joint augmentations: depth and normal corrections, formats, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_eval_transform,
    build_train_transform,
    denormalize,
)
from dmtl.errors import ConfigError, DataError
from dmtl.tasks import IGNORE_INDEX

HEIGHT, WIDTH = 16, 20


def make_sample(seed: int = 0) -> dict:
    """A sample with pixel-unique depth (1 + row * W + col), random labels, unit normals, holes."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    depth = (1 + rows * WIDTH + cols).astype(np.float32)
    depth[2:4, 5:9] = 0.0  # invalid hole
    normals = rng.normal(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    normals[6:8, 1:5] = 0.0  # invalid hole
    semseg = rng.integers(0, 13, (HEIGHT, WIDTH))
    semseg[10:12] = IGNORE_INDEX
    return {
        "image": rng.random((HEIGHT, WIDTH, 3), dtype=np.float32),
        "semseg": semseg,
        "depth": depth,
        "normals": normals,
        "edge": (rng.random((HEIGHT, WIDTH)) < 0.3).astype(np.float32),
        "name": "train/7",
    }


def as_hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).numpy()


def test_forced_flip_mirrors_maps_and_negates_normal_x() -> None:
    sample = make_sample()
    transform = build_train_transform(
        HEIGHT, WIDTH, scales=(1.0,), flip_p=1.0, color_jitter=False, seed=0
    )
    out = transform(sample)
    targets = out["targets"]
    mirrored = sample["normals"][:, ::-1]
    normals = as_hwc(targets["normals"])
    np.testing.assert_array_equal(normals[..., 0], -mirrored[..., 0])
    np.testing.assert_array_equal(normals[..., 1:], mirrored[..., 1:])  # y (down), z (forward) kept
    assert not np.signbit(normals[6:8, WIDTH - 5 : WIDTH - 1]).any()  # invalid stays +0, all-zero
    np.testing.assert_array_equal(targets["depth"][0].numpy(), sample["depth"][:, ::-1])
    np.testing.assert_array_equal(targets["semseg"].numpy(), sample["semseg"][:, ::-1])
    np.testing.assert_array_equal(targets["edge"][0].numpy(), sample["edge"][:, ::-1])
    np.testing.assert_allclose(
        as_hwc(denormalize(out["image"])), sample["image"][:, ::-1], atol=1e-6
    )


def test_no_flip_no_zoom_is_identity_on_targets() -> None:
    sample = make_sample()
    out = build_train_transform(
        HEIGHT, WIDTH, scales=(1.0,), flip_p=0.0, color_jitter=False, seed=0
    )(sample)
    np.testing.assert_array_equal(as_hwc(out["targets"]["normals"]), sample["normals"])
    np.testing.assert_array_equal(out["targets"]["depth"][0].numpy(), sample["depth"])
    np.testing.assert_allclose(as_hwc(denormalize(out["image"])), sample["image"], atol=1e-6)


def test_forced_zoom_divides_depth_and_uses_nearest() -> None:
    scale = 1.5
    crop_rows, crop_cols = round(HEIGHT / scale), round(WIDTH / scale)
    sample = make_sample()
    transform = build_train_transform(
        HEIGHT, WIDTH, scales=(scale,), flip_p=0.0, color_jitter=False, seed=3
    )
    origins = set()
    for _ in range(6):
        out = transform(sample)
        depth = out["targets"]["depth"][0].numpy()
        assert depth.dtype == np.float32
        # the crop origin is the source of the top-left pixel (depth is 1 + row * W + col there)
        top_left = int(round(float(depth[0, 0]) * scale)) - 1
        top, left = divmod(top_left, WIDTH)
        assert 0 <= top <= HEIGHT - crop_rows and 0 <= left <= WIDTH - crop_cols
        origins.add((top, left))
        # nearest neighbour: output pixel r takes source row floor(r * crop / out)
        src_rows = top + np.arange(HEIGHT) * crop_rows // HEIGHT
        src_cols = left + np.arange(WIDTH) * crop_cols // WIDTH
        expected = sample["depth"][np.ix_(src_rows, src_cols)] / np.float32(scale)
        np.testing.assert_array_equal(
            depth, expected
        )  # holes stay exactly 0, no fractional borders
        np.testing.assert_array_equal(
            out["targets"]["semseg"].numpy(), sample["semseg"][np.ix_(src_rows, src_cols)]
        )
        np.testing.assert_array_equal(
            as_hwc(out["targets"]["normals"]), sample["normals"][np.ix_(src_rows, src_cols)]
        )
    assert len(origins) > 1  # the crop position is random


def test_zoom_and_resize_keep_label_sets_and_unit_normals() -> None:
    sample = make_sample(1)
    transform = build_train_transform(24, 30, scales=(1.0, 1.2, 1.5), flip_p=0.5, seed=5)
    for _ in range(8):
        targets = transform(sample)["targets"]
        assert set(np.unique(targets["semseg"].numpy())) <= set(np.unique(sample["semseg"]))
        norms = np.linalg.norm(as_hwc(targets["normals"]), axis=2)
        valid = norms > 0
        np.testing.assert_allclose(norms[valid], 1.0, atol=1e-6)
        # the other pixels are invalid, all-zero as in the input (the hole may be cropped away)
        assert (as_hwc(targets["normals"])[~valid] == 0).all()
        assert set(np.unique(targets["edge"].numpy())) <= {0.0, 1.0}


def test_drawn_scales_cover_the_set() -> None:
    sample = {
        "image": np.full((HEIGHT, WIDTH, 3), 0.5, np.float32),
        "depth": np.full((HEIGHT, WIDTH), 3.0),
    }
    transform = build_train_transform(HEIGHT, WIDTH, scales=(1.0, 1.5), color_jitter=False, seed=0)
    depths = {float(transform(sample)["targets"]["depth"].unique()) for _ in range(30)}
    assert depths == {3.0, 2.0}


def test_output_format_and_key_subset() -> None:
    sample = make_sample()
    out = build_train_transform(24, 32, seed=0)(sample)
    assert set(out) == {"image", "targets", "name"} and out["name"] == "train/7"
    assert out["image"].dtype == torch.float32 and out["image"].shape == (3, 24, 32)
    targets = out["targets"]
    assert targets["semseg"].dtype == torch.uint8 and targets["semseg"].shape == (24, 32)
    assert targets["depth"].dtype == torch.float32 and targets["depth"].shape == (1, 24, 32)
    assert targets["normals"].dtype == torch.float32 and targets["normals"].shape == (3, 24, 32)
    assert targets["edge"].dtype == torch.uint8 and targets["edge"].shape == (1, 24, 32)
    only_depth = {"image": sample["image"], "depth": sample["depth"][..., None], "name": "val/0"}
    out = build_eval_transform()(only_depth)
    assert set(out["targets"]) == {"depth"} and out["targets"]["depth"].shape == (1, HEIGHT, WIDTH)


def test_colour_jitter_touches_the_image_only() -> None:
    sample = make_sample()
    transform = build_train_transform(
        HEIGHT, WIDTH, scales=(1.0,), flip_p=0.0, color_jitter=True, seed=0
    )
    changed = 0
    for _ in range(10):
        out = transform(sample)
        np.testing.assert_array_equal(as_hwc(out["targets"]["normals"]), sample["normals"])
        np.testing.assert_array_equal(out["targets"]["semseg"].numpy(), sample["semseg"])
        image = as_hwc(denormalize(out["image"]))
        assert image.min() >= -1e-6 and image.max() <= 1 + 1e-6  # jitter keeps the [0, 1] range
        changed += not np.allclose(image, sample["image"], atol=1e-4)
    assert 0 < changed < 10  # applied with probability 0.5


def test_eval_transform_is_normalisation_only() -> None:
    sample = make_sample()
    out = build_eval_transform()(sample)
    expected = (sample["image"] - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(as_hwc(out["image"]), expected, atol=1e-5)
    np.testing.assert_allclose(as_hwc(denormalize(out["image"])), sample["image"], atol=1e-6)
    batch = torch.stack([out["image"], out["image"]])
    np.testing.assert_allclose(
        denormalize(batch)[1].permute(1, 2, 0).numpy(), sample["image"], atol=1e-6
    )
    targets = out["targets"]
    np.testing.assert_array_equal(targets["semseg"].numpy(), sample["semseg"])
    np.testing.assert_array_equal(targets["depth"][0].numpy(), sample["depth"])
    np.testing.assert_array_equal(as_hwc(targets["normals"]), sample["normals"])
    np.testing.assert_array_equal(targets["edge"][0].numpy(), sample["edge"])


def _run(transform, sample: dict, calls: int) -> list[torch.Tensor]:
    outputs = [transform(sample) for _ in range(calls)]
    return [torch.cat([o["image"].flatten(), o["targets"]["depth"].flatten()]) for o in outputs]


def test_same_seed_same_sequence() -> None:
    sample = make_sample()
    first = _run(build_train_transform(HEIGHT, WIDTH, seed=11), sample, 5)
    second = _run(build_train_transform(HEIGHT, WIDTH, seed=11), sample, 5)
    other = _run(build_train_transform(HEIGHT, WIDTH, seed=12), sample, 5)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    transform = build_train_transform(HEIGHT, WIDTH, seed=11)
    _run(transform, sample, 3)
    transform.reseed(11)
    assert all(torch.equal(a, b) for a, b in zip(first, _run(transform, sample, 5)))


def test_without_seed_torch_seed_decides() -> None:
    sample = make_sample()

    def run(torch_seed: int) -> list[torch.Tensor]:
        torch.manual_seed(torch_seed)
        return _run(build_train_transform(HEIGHT, WIDTH), sample, 5)

    first, again, other = run(4), run(4), run(5)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


class _RepeatDataset(torch.utils.data.Dataset):
    """The same sample at every index, so that only the augmentation differs between items."""

    def __init__(self, transform, size: int) -> None:
        self.sample, self.transform, self.size = make_sample(), transform, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.sample)["targets"]["depth"].flatten()


def _epochs(torch_seed: int, seed: int | None, epochs: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(torch_seed)
    transform = build_train_transform(HEIGHT, WIDTH, flip_p=0.5, color_jitter=False, seed=seed)
    loader = torch.utils.data.DataLoader(_RepeatDataset(transform, 8), batch_size=4, num_workers=2)
    return [torch.cat(list(loader)) for _ in range(epochs)]


@pytest.mark.parametrize("seed", [0, None])
def test_workers_and_epochs_draw_different_reproducible_augmentations(seed: int | None) -> None:
    first = _epochs(torch_seed=0, seed=seed)
    # worker 0 yields items 0-3, worker 1 items 4-7: a copied generator would make them equal
    assert not torch.equal(first[0][:4], first[0][4:])
    assert not torch.equal(first[0], first[1])  # new workers each epoch draw new augmentations
    again = _epochs(torch_seed=0, seed=seed)
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # reproducible under a torch seed


def test_bad_config_and_inputs() -> None:
    with pytest.raises(ConfigError, match="scales"):
        build_train_transform(HEIGHT, WIDTH, scales=(0.5, 1.0))
    with pytest.raises(ConfigError, match="flip_p"):
        build_train_transform(HEIGHT, WIDTH, flip_p=1.5)
    with pytest.raises(ConfigError, match="std"):
        build_eval_transform(std=(0.2, 0.0, 0.2))
    transform = build_eval_transform()
    sample = make_sample()
    with pytest.raises(ConfigError, match="mask"):
        transform({**sample, "mask": sample["depth"]})
    with pytest.raises(DataError, match="train/7"):
        transform({**sample, "depth": sample["depth"][:, :-1]})
