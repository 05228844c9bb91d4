"""Albumentations' float32 photometric steps and normalisation, in place, to the same bits.

Each function here changes a contiguous float32 (H, W, 3) RGB image in place and gives exactly the
bits of the albumentations 2.0.8 function it names (``tests/data/test_fused_augment.py`` compares
them bit for bit). Why each is exact:

* ``brightness_contrast`` (``RandomBrightnessContrast``: ``clip(x * a + b, 0, 1)`` in float64,
  rounded to float32): with b = 0 the float64 product of two float32 numbers is exact, so rounding
  it to float32 is IEEE float32 multiplication, and clipping to [0, 1] commutes with the rounding;
  so float32 arithmetic gives the same bits. With b != 0 the float64 sum is kept (a float32 sum
  would round b first), a block of rows at a time so that the float64 copy stays in the cache.
* ``saturation`` (``adjust_saturation_torchvision``, which clips even when the factor is 1): the
  same OpenCV calls (grey, grey to RGB, ``addWeighted``) with the output written in place.
* ``hue`` (``adjust_hue_torchvision``: RGB to HSV, ``mod(h + 360 f, 360)``, back): the same OpenCV
  conversions, in place; ``np.mod`` (fmod, then + 360 for a negative remainder) is replaced by one
  masked subtraction or addition of 360, the same operations on the values that can occur: h lies
  in [0, 360) and |360 f| < 360, so h + 360 f lies in (-360, 720).
* ``normalise_into`` (``A.Normalize``: OpenCV subtracts a constant image of the mean and
  multiplies by one of 1/std, both float32 in albumentations 2.0.8): numpy does the same two
  float32 operations, a channel at a time, into a channel-first output. The constants are those
  albumentations builds (``normalisation_constants``); were 1/std float64, numpy would multiply in
  float64 and round to float32, as OpenCV then does.
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
