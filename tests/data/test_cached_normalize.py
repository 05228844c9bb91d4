"""The cached normalisation gives albumentations' bits, alone and in the PASCAL training recipe."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.pipelines import build_pascal_eval_transform, build_pascal_train_transform
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.transforms import IMAGENET_MEAN, IMAGENET_STD, CachedNormalize, normalize
from support.pascal import write_pascal_context


def test_same_bits_as_albumentations_for_every_shape_in_turn() -> None:
    stock = A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=1.0)
    cached = normalize(IMAGENET_MEAN, IMAGENET_STD)
    assert isinstance(cached, CachedNormalize)
    rng = np.random.default_rng(0)
    for shape in [(64, 64, 3), (37, 50, 3), (64, 64, 3), (20, 30)]:
        image = rng.random(shape, dtype=np.float32) * 1.4 - 0.2
        expected, got = stock.apply(image), cached.apply(image)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


def _with_stock_normalize(transform):
    steps = list(transform.compose.transforms)
    stock = A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=1.0)
    index = next(i for i, t in enumerate(steps) if isinstance(t, CachedNormalize))
    steps[index] = stock
    transform.compose = A.Compose(
        steps,
        additional_targets=transform.compose.additional_targets,
        mask_interpolation=transform.compose.mask_interpolation,
        save_applied_params=True,
        is_check_shapes=False,
    )
    transform.reseed(transform.seed)
    return transform


def test_pascal_recipes_give_the_stock_outputs(tmp_path: Path) -> None:
    data = PascalContextDataset(write_pascal_context(tmp_path / "p"), "train", list(TASKS))
    pairs = [
        (build_pascal_train_transform(48, 40, seed=3),
         _with_stock_normalize(build_pascal_train_transform(48, 40, seed=3))),
        (build_pascal_eval_transform(32, 32),
         _with_stock_normalize(build_pascal_eval_transform(32, 32))),
    ]  # fmt: skip
    for fast, stock in pairs:
        for repeat in range(6):
            sample = data.load_sample(repeat % len(data))
            got, expected = fast(dict(sample)), stock(dict(sample))
            assert torch.equal(got["image"], expected["image"])
            for task, target in expected["targets"].items():
                assert torch.equal(got["targets"][task], target), task
