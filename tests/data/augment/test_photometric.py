"""The in-place float32 photometric steps and normalisation of the fused executor.

Exact against their numpy definitions; within the tolerance of OpenCV's float kernels
(``support.floats``) against albumentations, whose bits follow OpenCV's release and the CPU.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.pixel import functional as fpixel

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import photometric as photo
from dmtl.data.augment.normalisation import normalize
from support.bits import same_bits as _same
from support.floats import IMAGE_ULPS, assert_float32_close, float64_oracle, product_in_float32


def _image(rng, height=53, width=70) -> np.ndarray:
    """A float32 image as the pipeline has it after scaling: bilinear mixtures of k / 255."""
    image = rng.integers(0, 256, (height - 7, width - 9, 3), dtype=np.uint8)
    return cv2.resize(image.astype(np.float32) / np.float32(255), (width, height))


def test_brightness_contrast_is_its_float64_expression_and_albumentations_within_ulps() -> None:
    """Exact against the float64 definition; within 2 ulps of albumentations on any OpenCV.

    The two ways to compute ``clip(x * a + b)`` differ only in the rounding of the product
    (OpenCV 5.1 rounds it to float32: at most half an ulp of ``|x * a|``) and of the result (half
    an ulp of [0, 1]), so 2 ulps of ``1 + max|x * a|`` bound the difference.
    """
    rng = np.random.default_rng(0)
    stock = A.RandomBrightnessContrast()
    image = _image(rng) * np.float32(1.2) - np.float32(0.1)  # outside [0, 1] too
    draws = [(1.0, 0.0), (1.0, 0.1), (1.0, -0.12549), (1.37, 0.0), (0.51, 0.0), (1.2, 0.05)]
    draws += [(1.0 + float(c), 0.0) for c in rng.uniform(-0.5, 0.5, 6)]
    draws += [(1.0, float(b)) for b in rng.uniform(-32 / 255, 32 / 255, 6)]
    draws += [(1.0 + float(c), float(b)) for c, b in rng.uniform(-0.12, 0.12, (6, 2))]
    rounded_apart = 0
    for alpha, beta in draws:
        got = image.copy()
        photo.brightness_contrast(got, alpha, beta)
        assert _same(got, float64_oracle(image, alpha, beta)), (alpha, beta)
        scale = 1 + abs(alpha) * float(np.abs(image).max())
        for reference in (stock.apply(image, alpha=alpha, beta=beta),
                          product_in_float32(image, alpha, beta)):  # fmt: skip
            assert_float32_close(got, reference, scale, 2, (alpha, beta))
        rounded_apart += int((product_in_float32(image, alpha, beta) != got).sum())
    assert rounded_apart > 100  # the draws hold values where the two roundings differ


def test_saturation_and_hue_give_albumentations_output_within_ulps() -> None:
    """The same OpenCV calls as albumentations, in place: within ``IMAGE_ULPS`` of [0, 1].

    OpenCV 5.1's in-place HSV conversion rounds some pixels up to 7 ulps otherwise than its
    separate-output one (its hue has ulps of 360, a sixtieth of which reach the RGB values).
    """
    rng = np.random.default_rng(1)
    image = _image(rng, 64, 512)
    for factor in [0.0, 1.0, 0.5, 1.5, *map(float, rng.uniform(0.5, 1.5, 6))]:
        got = image.copy()
        photo.saturation(got, factor)
        expected = fpixel.adjust_saturation_torchvision(image.copy(), factor)
        assert_float32_close(got, expected, 1.0, IMAGE_ULPS, factor)
    for factor in [0.0, 0.1, -0.1, 1e-9, -1e-9, *map(float, rng.uniform(-0.1, 0.1, 8))]:
        got = image.copy()
        photo.hue(got, factor)
        expected = fpixel.adjust_hue_torchvision(image.copy(), factor)
        assert_float32_close(got, expected, 1.0, IMAGE_ULPS, factor)


def _normalised(image: np.ndarray, mean, inverse_std) -> np.ndarray:
    """The float32 subtraction, then the product in the constants' dtype, rounded once (HWC)."""
    return (np.subtract(image, mean) * inverse_std).astype(np.float32)


def test_normalisation_is_its_numpy_expression_and_albumentations_within_ulps() -> None:
    """Exact against numpy's same operations; within 1 ulp of the output range of OpenCV's."""
    rng = np.random.default_rng(2)
    image = _image(rng) * np.float32(1.4) - np.float32(0.2)
    stock = A.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), max_pixel_value=1.0)
    expected = stock.apply(image).transpose(2, 0, 1)
    for step in (stock, normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        mean, inverse_std = photo.normalisation_constants(step)
        out = np.full((3, 60, 80), 7.0, dtype=np.float32)  # into a window of a larger array
        photo.normalise_into(out[:, 3:56, 5:75], image, mean, inverse_std)
        assert _same(out[:, 3:56, 5:75], _normalised(image, mean, inverse_std).transpose(2, 0, 1))
        assert_float32_close(out[:, 3:56, 5:75], expected, float(np.abs(expected).max()), 1)
        assert (out[:, :3] == 7).all() and (out[:, :, 75:] == 7).all()
    wide = (np.float32(0.485), np.float32(0.456), np.float32(0.406))  # a float64 1/std
    out = np.empty((3, 53, 70), dtype=np.float32)
    inverse = 1 / np.array([0.229, 0.224, 0.225])
    photo.normalise_into(out, image, np.array(wide), inverse)
    expected = cv2.multiply(cv2.subtract(image, np.zeros_like(image) + np.array(wide)),
                            np.zeros_like(image) + inverse, dtype=cv2.CV_32F)  # fmt: skip
    assert _same(out, _normalised(image, np.array(wide), inverse).transpose(2, 0, 1))
    assert_float32_close(out, expected.transpose(2, 0, 1), float(np.abs(expected).max()), 1)
