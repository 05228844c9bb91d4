"""The float32 photometric steps and the normalisation, in place: what is exact and what is not.

Each function changes a contiguous float32 (H, W, 3) RGB image in place. The fused PASCAL-Context
augmentation calls them; its step-by-step path computes the same expressions through
``dmtl.data.augment.steps`` (brightness/contrast by this very function) and albumentations' own
steps (OpenCV). What each equals:

* ``brightness_contrast`` (``RandomBrightnessContrast``): ``clip(x * a + b, 0, 1)`` with ``a``
  rounded to float32 (albumentations' factor image is float32), computed in float64 and rounded
  once to float32. numpy's float64 multiply and add are IEEE operations, so the result is the
  same bits on every CPU: the correctly rounded value of the float64 expression. With b = 0 the
  float64 product of two float32 numbers is exact, so float32 multiplication gives those bits
  directly; with b != 0 the float64 sum is kept, a block of rows at a time (cache-sized).
* ``normalise_into`` (``A.Normalize``): ``(x - mean) * (1 / std)``, the subtraction in float32
  and the product in the dtype of albumentations' 1/std constants (float64), rounded once.
* ``saturation`` and ``hue`` (``adjust_saturation_torchvision``, ``adjust_hue_torchvision``): the
  same OpenCV calls albumentations makes (grey, ``addWeighted``; RGB to HSV and back), in place.
  OpenCV's float kernels are not part of its contract: their bits may differ by a few float32
  ulps between OpenCV releases, between CPUs (the SIMD width decides which pixels of a row a
  vector instruction computes), and between an in-place and a separate output (OpenCV 5.1).

albumentations 2.0.8 itself computes brightness/contrast through ``cv2.multiply(..., CV_64F)``,
whose product OpenCV 5.0 forms in float64 and OpenCV 5.1 in float32: so these functions equal
albumentations' output bit for bit with OpenCV 5.0 and within a few float32 ulps of the value
range with OpenCV 5.1 (``tests/data/augment/test_by_index.py`` checks both bounds). Nothing here
promises albumentations' bits; ``docs/datasets.md`` ("Augmentation arithmetic") says what is
compared exactly and what within a tolerance.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from albucore.utils import convert_value

BLOCK_ROWS = 32  # rows per float64 block of ``brightness_contrast``
HUE_TURN = np.float32(360.0)


def brightness_contrast(img: np.ndarray, alpha: float, beta: float) -> None:
    """``RandomBrightnessContrast.apply(img, alpha, beta)`` of a float32 image, in place."""
    if alpha == 1 and beta == 0:  # albumentations clips even then
        np.clip(img, 0.0, 1.0, out=img)
        return
    if beta == 0:
        np.multiply(img, np.float32(alpha), out=img)
        np.clip(img, 0.0, 1.0, out=img)
        return
    factor, offset = np.float64(np.float32(alpha)), np.float64(beta)
    block = np.empty((min(BLOCK_ROWS, img.shape[0]), *img.shape[1:]), dtype=np.float64)
    for start in range(0, img.shape[0], BLOCK_ROWS):
        rows = img[start : start + BLOCK_ROWS]
        wide = block[: rows.shape[0]]
        if alpha != 1:  # x * 1.0 is x
            np.multiply(rows, factor, out=wide)
            wide += offset
        else:
            np.add(rows, offset, out=wide)
        np.clip(wide, 0.0, 1.0, out=wide)
        rows[...] = wide  # rounds to float32 as astype does


def saturation(img: np.ndarray, factor: float) -> None:
    """``adjust_saturation_torchvision(img, factor)`` of a float32 RGB image, in place."""
    if factor != 1:
        grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if factor == 0:
            img[...] = grey
        else:
            cv2.addWeighted(img, factor, grey, 1 - factor, 0, dst=img)
    np.clip(img, 0.0, 1.0, out=img)


def hue(img: np.ndarray, factor: float) -> None:
    """``adjust_hue_torchvision(img, factor)`` of a float32 RGB image, in place."""
    if factor == 0:
        return
    cv2.cvtColor(img, cv2.COLOR_RGB2HSV, dst=img)
    h = img[..., 0]
    h += np.float32(factor * 360)  # numpy adds the Python float as float32
    if factor > 0:
        np.subtract(h, HUE_TURN, out=h, where=h >= HUE_TURN)
    else:
        np.add(h, HUE_TURN, out=h, where=h < 0)
    cv2.cvtColor(img, cv2.COLOR_HSV2RGB, dst=img)


def normalisation_constants(normalize: Any, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel mean and 1/std of an ``A.Normalize``, in the dtypes its images have.

    Built as albucore's ``normalize_opencv`` builds its constant images, from one pixel.
    """
    pixel = np.zeros((1, 1, channels), dtype=np.float32)
    mean = (pixel + convert_value(normalize.mean_np, channels)).astype(np.float32, copy=False)
    inverse_std = pixel + convert_value(normalize.denominator, channels)
    return mean.reshape(channels), inverse_std.reshape(channels)


def normalise_into(
    out: np.ndarray, img: np.ndarray, mean: np.ndarray, inverse_std: np.ndarray
) -> None:
    """Write ``A.Normalize`` of ``img`` (H, W, C) into ``out`` (C, H, W), a view if need be.

    Args:
        out: float32 (C, H, W) destination (a window of a larger array is fine).
        img: float32 (H, W, C) image.
        mean, inverse_std: from ``normalisation_constants``.
    """
    centred = np.empty(img.shape[:2], dtype=np.float32)
    wide = inverse_std.dtype != np.float32
    product = np.empty(img.shape[:2], dtype=inverse_std.dtype) if wide else None
    for channel in range(img.shape[2]):
        np.subtract(img[..., channel], mean[channel], out=centred)
        if wide:
            np.multiply(centred, inverse_std[channel], out=product)
            out[channel] = product  # rounds the float64 product to float32 as OpenCV does
        else:
            np.multiply(centred, inverse_std[channel], out=out[channel])
