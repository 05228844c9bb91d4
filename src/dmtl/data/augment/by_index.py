"""Task maps moved by one map of source indices: the step-by-step executor's exact shortcut.

albumentations resizes, pads, crops and flips every task map on its own. When every step only
moves mask pixels (a geometric step of ``dmtl.data.augment.geometry.STEPS`` with
nearest-neighbour resizing and padding with 0, or an image-only step; ``moves_pixels_only``),
each output pixel of a map is one source pixel, or the fill 0: so one int32 map of source indices
(1-based, 0 = fill) goes through the steps, and every task map is gathered from its source with
it. The maps come out equal to those of separate targets (a gather: exact on any machine).
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from dmtl.data.augment.geometry import STEPS

INDEX_KEY = "_source_index"


def moves_pixels_only(transform: A.BasicTransform) -> bool:
    """Whether ``transform`` leaves masks alone or only moves their pixels (fill 0)."""
    if isinstance(transform, A.ImageOnlyTransform):
        return True
    if not isinstance(transform, tuple(STEPS)):
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
