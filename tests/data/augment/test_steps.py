"""dmtl's faster steps give albumentations' stock steps' output.

Float arithmetic within its tolerance (``support.floats``), since albumentations' own bits follow
OpenCV's release and the CPU; the task maps bit for bit.
"""

from __future__ import annotations

import copy
from pathlib import Path

import albumentations as A
import numpy as np
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import build_pascal_eval_transform, build_pascal_train_transform
from dmtl.data.augment.normalisation import IMAGENET_MEAN, IMAGENET_STD, normalize
from dmtl.data.augment.steps import CachedNormalize, FastBrightnessContrast
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from support.floats import IMAGE_ULPS, assert_float32_close, float64_oracle, product_in_float32
from support.pascal import write_pascal_context


def test_brightness_contrast_is_float64_and_albumentations_within_ulps() -> None:
    """Bit for bit the float64 expression; within 2 ulps of 1 + max|x a| of albumentations."""
    stock, fast = A.RandomBrightnessContrast(), FastBrightnessContrast()
    image = np.random.default_rng(1).random((40, 50, 3), dtype=np.float32) * 1.4 - 0.2
    for alpha, beta in [(1.0, 0.1), (1.0, -0.12549), (1.37, 0.0), (0.51, 0.0), (1.2, 0.05),
                        (1.0, 0.0), (0.0, 0.3)]:  # fmt: skip
        expected = stock.apply(image, alpha=alpha, beta=beta)
        got = fast.apply(image, alpha=alpha, beta=beta)
        assert got.dtype == expected.dtype == np.float32
        scale = 1 + abs(alpha) * float(np.abs(image).max())
        assert_float32_close(got, expected, scale, 2, (alpha, beta))
        if alpha:  # alpha 0 is albumentations' own path
            oracle = float64_oracle(image, alpha, beta)
            assert np.array_equal(got.view(np.uint32), oracle.view(np.uint32)), (alpha, beta)
            assert_float32_close(got, product_in_float32(image, alpha, beta), scale, 2)
    apart = product_in_float32(image, 1.2, 0.05) != fast.apply(image, alpha=1.2, beta=0.05)
    assert apart.sum() > 100  # the issue-22 case: OpenCV 5.1's float32 product rounds otherwise


def test_normalize_within_an_ulp_of_albumentations_for_every_shape_in_turn() -> None:
    stock = A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=1.0)
    cached = normalize(IMAGENET_MEAN, IMAGENET_STD)
    assert isinstance(cached, CachedNormalize)
    rng = np.random.default_rng(0)
    for shape in [(64, 64, 3), (37, 50, 3), (64, 64, 3), (20, 30)]:
        image = rng.random(shape, dtype=np.float32) * 1.4 - 0.2
        expected, got = stock.apply(image), cached.apply(image)
        assert_float32_close(got, expected, float(np.abs(expected).max()), 1, shape)


IMAGE_SCALE = 1 / min(IMAGENET_STD)  # a [0, 1] error carried through the normalisation
STOCK = {CachedNormalize: A.Normalize, FastBrightnessContrast: A.RandomBrightnessContrast}


def _stock_copy(step):
    if type(step) not in STOCK:
        return step
    stock = copy.copy(step)
    stock.__class__ = STOCK[type(step)]  # the same parameters, albumentations' own apply
    return stock


def _with_stock_normalize(transform):
    steps = [_stock_copy(step) for step in transform.compose.transforms]
    assert any(type(step) is A.RandomBrightnessContrast for step in steps) or len(steps) == 2
    transform.compose = A.Compose(
        steps,
        additional_targets=transform.compose.additional_targets,
        mask_interpolation=transform.compose.mask_interpolation,
        save_applied_params=True,
        is_check_shapes=False,
    )
    transform.reseed(transform.seed)
    transform.fused = False  # albumentations' steps one by one (tests/data/augment/test_fused.py)
    return transform


def test_pascal_recipes_give_the_stock_outputs(tmp_path: Path) -> None:  # 24 seeded draws
    data = PascalContextDataset(write_pascal_context(tmp_path / "p"), "train", list(TASKS))
    pairs = [
        (build_pascal_train_transform(48, 40, seed=3),
         _with_stock_normalize(build_pascal_train_transform(48, 40, seed=3))),
        (build_pascal_eval_transform(32, 32),
         _with_stock_normalize(build_pascal_eval_transform(32, 32))),
    ]  # fmt: skip
    for fast, stock in pairs:
        for repeat in range(24):
            sample = data.load_sample(repeat % len(data))
            got, expected = fast(dict(sample)), stock(dict(sample))
            assert_float32_close(got["image"], expected["image"], IMAGE_SCALE, IMAGE_ULPS, repeat)
            for task, target in expected["targets"].items():
                assert torch.equal(got["targets"][task], target), task
