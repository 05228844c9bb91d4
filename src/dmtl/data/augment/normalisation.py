"""The image normalisation of every recipe, and its inverse for display.

Readers give images in [0, 1]; every recipe ends with ``normalize(mean, std)`` (ImageNet's by
default, what the pretrained backbones expect); ``denormalize`` undoes it for panels and written
predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dmtl.data.augment.steps import CachedNormalize
from dmtl.errors import ConfigError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def check_normalisation(mean: Sequence[float], std: Sequence[float]) -> None:
    """Refuse a mean/std that is not three values, or a std that is not positive."""
    if len(mean) != 3 or len(std) != 3:
        raise ConfigError(f"mean and std need 3 values (RGB), got {list(mean)} and {list(std)}")
    if min(std) <= 0:
        raise ConfigError(f"std must be positive, got {list(std)}")


def normalize(mean: Sequence[float], std: Sequence[float]) -> CachedNormalize:
    """The normalisation step ``(x - mean) / std`` of an image in [0, 1]."""
    # images are already in [0, 1], hence max_pixel_value 1
    return CachedNormalize(mean=tuple(mean), std=tuple(std), max_pixel_value=1.0)


def denormalize(
    image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """Undo the normalisation of an image [3, H, W] or batch [B, 3, H, W]; not clamped to [0, 1]."""
    mean_t = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return image * std_t + mean_t
