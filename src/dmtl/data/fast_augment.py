"""Faster equivalents of augmentation steps: less work per sample, the arithmetic of one place.

* ``CachedNormalize``: albumentations' normalisation builds a full-size mean and 1/std image for
  every sample; this one keeps them for the last shape (fixed in training) and makes the same
  OpenCV calls with them (OpenCV's kernels: 4-10x faster than numpy's float64 expression here).
* ``FastBrightnessContrast``: albumentations computes ``clip(x * a + b)`` of a float32 image
  through full-size constant images and ``cv2.multiply``; this one calls
  ``photometric.brightness_contrast`` (float64, rounded once) on a copy.
* ``augment_by_index``: albumentations resizes, pads, crops and flips every task map on its own.
  When every step only moves mask pixels (nearest-neighbour resizing, padding with 0, crops,
  flips; ``moves_pixels_only``), each output pixel of a map is one source pixel, or the fill 0:
  so one int32 map of source indices (1-based, 0 = fill) goes through the steps, and every task
  map is gathered from its source with it. The maps come out equal to those of separate targets
  (a gather: exact on any machine).

``CachedNormalize`` gives albumentations' bits (the same calls); ``FastBrightnessContrast`` gives
them where OpenCV forms albumentations' product in float64 (OpenCV 5.0, not 5.1), and within a
few float32 ulps of the value range otherwise (``dmtl.data.photometric``).
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np
from albucore.utils import convert_value

from dmtl.data import photometric as photo

INDEX_KEY = "_source_index"
MOVING = (A.RandomScale, A.PadIfNeeded, A.RandomCrop, A.HorizontalFlip)  # and the types passed


class CachedNormalize(A.Normalize):
    """``A.Normalize`` that keeps its constant mean and 1/std images for the last float32 shape."""

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        if self.normalization != "standard" or img.dtype != np.float32 or img.ndim != 3:
            return super().apply(img, **params)
        cache = self.__dict__.setdefault("_constants", {})
        if img.shape not in cache:
            channels = img.shape[2]
            mean_img = (np.zeros_like(img) + convert_value(self.mean_np, channels)).astype(
                np.float32, copy=False
            )
            cache.clear()
            cache[img.shape] = (
                mean_img,
                np.zeros_like(img) + convert_value(self.denominator, channels),
            )
        mean_img, denominator_img = cache[img.shape]
        return cv2.multiply(cv2.subtract(img, mean_img), denominator_img, dtype=cv2.CV_32F)


class FastBrightnessContrast(A.RandomBrightnessContrast):
    """``A.RandomBrightnessContrast`` of float32 images by ``photometric.brightness_contrast``."""

    def apply(self, img: np.ndarray, alpha: float, beta: float, **params: Any) -> np.ndarray:
        if img.dtype != np.float32 or alpha == 0 or img.ndim != 3:
            return super().apply(img, alpha=alpha, beta=beta, **params)
        out = np.array(img, dtype=np.float32, order="C")
        photo.brightness_contrast(out, alpha, beta)
        return out


def moves_pixels_only(transform: A.BasicTransform, moving: tuple[type, ...] = ()) -> bool:
    """Whether ``transform`` leaves masks alone or only moves their pixels (fill 0)."""
    if isinstance(transform, A.ImageOnlyTransform):
        return True
    if not isinstance(transform, MOVING + moving):
        return False
    nearest = getattr(transform, "mask_interpolation", cv2.INTER_NEAREST) == cv2.INTER_NEAREST
    area = getattr(transform, "area_for_downscale", None) == "image_mask"
    fill = np.asarray(getattr(transform, "fill_mask", 0) or 0)
    return nearest and not area and bool(np.all(fill == 0))


def augment_by_index(compose: A.Compose, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """``compose(**data)`` for a compose of ``moves_pixels_only`` steps, its maps gathered."""
    height, width = data["image"].shape[:2]
    index = np.arange(1, height * width + 1, dtype=np.int32).reshape(height, width)
    out = compose(image=data["image"], **{INDEX_KEY: index})
    moved = out.pop(INDEX_KEY)
    fill = moved == 0
    source = np.maximum(moved.ravel(), 1) - 1
    for key, array in data.items():
        if key == "image":
            continue
        flat = array.reshape(height * width, *array.shape[2:])
        gathered = np.take(flat, source, axis=0).reshape(*moved.shape, *array.shape[2:])
        gathered[fill] = 0
        out[key] = gathered
    return out
