"""The augmentation steps dmtl adds to albumentations' own.

* ``RandomScaleCrop`` (MTPSL): crop 1/s of the image at a random position and resize it back,
  a zoom by s that ``dmtl.data.augment.geometry`` turns into the depth correction.
* ``CachedNormalize``: albumentations' normalisation builds a full-size mean and 1/std image for
  every sample; this one keeps them for the last shape (fixed in training) and makes the same
  OpenCV calls with them (OpenCV's kernels: 4-10x faster than numpy's float64 expression here).
* ``FastBrightnessContrast``: albumentations computes ``clip(x * a + b)`` of a float32 image
  through full-size constant images and ``cv2.multiply``; this one calls
  ``photometric.brightness_contrast`` (float64, rounded once) on a copy.

``CachedNormalize`` gives albumentations' bits (the same calls); ``FastBrightnessContrast`` gives
them where OpenCV forms albumentations' product in float64 (OpenCV 5.0, not 5.1), and within a
few float32 ulps of the value range otherwise (``dmtl.data.augment.photometric``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albucore.utils import convert_value

import dmtl.data.augment.photometric as photo

DEFAULT_SCALES: tuple[float, ...] = (1.0, 1.2, 1.5)  # MTPSL RandomScaleCrop
IMAGE_INTERPOLATION = cv2.INTER_LINEAR
LABEL_INTERPOLATION = cv2.INTER_NEAREST  # keeps class ids, unit normals and invalid markers exact


class RandomScaleCrop(A.DualTransform):
    """Crop 1/s of the image at a random position and resize it to (height, width).

    The zoom factor s is drawn uniformly from ``scales`` and reported as ``scale`` in the applied
    params (``save_applied_params``) so that the caller can divide depth by it. Images are resized
    with ``interpolation``, masks with ``mask_interpolation``.

    Args:
        height: output height.
        width: output width.
        scales: candidate zoom factors s >= 1, drawn uniformly.
        interpolation: OpenCV flag for images.
        mask_interpolation: OpenCV flag for masks.
        p: probability of applying.
    """

    def __init__(
        self,
        height: int,
        width: int,
        scales: Sequence[float] = DEFAULT_SCALES,
        interpolation: int = IMAGE_INTERPOLATION,
        mask_interpolation: int = LABEL_INTERPOLATION,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.height = height
        self.width = width
        self.scales = tuple(float(s) for s in scales)
        self.interpolation = interpolation
        self.mask_interpolation = mask_interpolation

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("height", "width", "scales", "interpolation", "mask_interpolation")

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        rows, cols = params["shape"][:2]
        scale = self.py_random.choice(self.scales)
        crop_rows = max(1, round(rows / scale))
        crop_cols = max(1, round(cols / scale))
        top = self.py_random.randint(0, rows - crop_rows)
        left = self.py_random.randint(0, cols - crop_cols)
        return {"scale": scale, "crop": (top, left, crop_rows, crop_cols)}

    def _crop_resize(
        self, array: np.ndarray, crop: tuple[int, int, int, int], flag: int
    ) -> np.ndarray:
        top, left, rows, cols = crop
        out = array[top : top + rows, left : left + cols]
        if (rows, cols) != (self.height, self.width):
            channels = out.shape[2:]
            out = cv2.resize(out, (self.width, self.height), interpolation=flag)
            out = out.reshape(self.height, self.width, *channels)  # cv2 drops a trailing axis of 1
        return out

    def apply(self, img: np.ndarray, crop: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        return self._crop_resize(img, crop, self.interpolation)

    def apply_to_mask(
        self, mask: np.ndarray, crop: tuple[int, int, int, int], **params: Any
    ) -> np.ndarray:
        return self._crop_resize(mask, crop, self.mask_interpolation)


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
