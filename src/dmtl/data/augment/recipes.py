"""The augmentation recipes of the two protocols: the one file to edit to add a step.

Each ``build_*`` function below lists its protocol's steps (albumentations transforms, or those of
``dmtl.data.augment.steps``) in order, and hands them to an executor. To add a step, add it to
the list of the recipe:

* a photometric step (image only) needs nothing else. In the PASCAL-Context training recipe, a
  step the fused executor does not compute (``dmtl.data.augment.fused``: it knows the steps
  below) makes that recipe run step by step, about 2x slower, and says so once in the log;
* a geometric step (it moves the task maps too) must be a row of the table of
  ``dmtl.data.augment.geometry``, which says what it does to each kind of target (a zoom divides
  depth, a horizontal flip negates normals' x); one not there is refused with a ``ConfigError``
  that names it, rather than leaving normals or depth silently wrong.

The recipes:

* MTPSL (NYUv2, Cityscapes, synthetic): random scale-crop with s in {1.0, 1.2, 1.5} back to the
  training size (metric depth / s, inverse depth × s), horizontal flip, colour jitter; evaluation at
  the native size.
* ATRC/InvPT (PASCAL-Context, NYUD-v2): random scaling by s ~ U(0.5, 2.0) (metric depth / s, as
  ATRC's), random crop to ``data.crop_size`` (512×512 on PASCAL-Context; padding first where the
  scaled image is smaller), horizontal flip, photometric distortion (brightness ±32/255, contrast
  ×[0.5, 1.5], saturation ×[0.5, 1.5], hue ±36°, each with probability 0.5); evaluation pads to
  ``data.crop_size`` around the centre. Padded pixels are ignore/invalid in every target,
  so metrics computed on the padded batch are exactly those at the label resolution. Unlike the
  ATRC crop, no retry bounds the share of one class in a crop (``cat_max_ratio``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import albumentations as A
import cv2

from dmtl.data.augment.fused import FusedSampleTransform
from dmtl.data.augment.normalisation import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_normalisation,
    normalize,
)
from dmtl.data.augment.step_by_step import Sample, SampleTransform
from dmtl.data.augment.steps import (
    DEFAULT_SCALES,
    IMAGE_INTERPOLATION,
    LABEL_INTERPOLATION,
    FastBrightnessContrast,
    RandomScaleCrop,
)
from dmtl.errors import ConfigError

# MTPSL colour jitter: modest factors so that colour stays a cue for segmentation
JITTER_BRIGHTNESS = 0.2
JITTER_CONTRAST = 0.2
JITTER_SATURATION = 0.2
JITTER_HUE = 0.05
JITTER_P = 0.5
# PASCAL-Context (ATRC): scale range, crop size, photometric distortion
PASCAL_SCALE_RANGE: tuple[float, float] = (0.5, 2.0)
PASCAL_CROP: tuple[int, int] = (512, 512)
PHOTOMETRIC_BRIGHTNESS = 32 / 255  # additive, image in [0, 1]
PHOTOMETRIC_CONTRAST = 0.5  # factor 1 ± 0.5
PHOTOMETRIC_SATURATION = (0.5, 1.5)
PHOTOMETRIC_HUE = 0.1  # fraction of the hue circle: 36° (18 OpenCV hue units)
PHOTOMETRIC_P = 0.5


def _check_flip(flip_p: float) -> None:
    if not 0.0 <= flip_p <= 1.0:
        raise ConfigError(f"flip_p must lie in [0, 1], got {flip_p}")


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ConfigError(f"crop size must be positive, got {height}x{width}")


def build_train_transform(
    height: int,
    width: int,
    scales: Sequence[float] = DEFAULT_SCALES,
    flip_p: float = 0.5,
    color_jitter: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    seed: int | None = None,
    inverse_depth: bool = False,
) -> Callable[[Sample], Sample]:
    """MTPSL training augmentation: scale-crop to (height, width), flip, jitter, normalise.

    Args:
        height: output height.
        width: output width.
        scales: zoom factors s >= 1 drawn uniformly; depth is divided by s.
        flip_p: probability of a horizontal flip (negates the x component of normals).
        color_jitter: apply brightness/contrast/saturation/hue jitter to the image.
        mean: per-channel normalisation mean (image in [0, 1]).
        std: per-channel normalisation std.
        seed: seed of the augmentation generators; None derives it from torch's seed (see
            ``dmtl.data.augment.step_by_step``).
        inverse_depth: depth targets are inverse depth (multiplied by s instead of divided).

    Raises:
        ConfigError: a non-positive size, an empty scale set or one below 1, flip_p outside [0, 1],
            bad mean/std, a geometric step the table of ``dmtl.data.augment.geometry`` lacks.
    """
    _check_size(height, width)
    if not scales or min(scales) < 1.0:
        raise ConfigError(
            f"scales must be a non-empty set of zoom factors >= 1, got {list(scales)}"
        )
    _check_flip(flip_p)
    check_normalisation(mean, std)
    transforms: list[A.BasicTransform] = [
        RandomScaleCrop(height, width, scales),
        A.HorizontalFlip(p=flip_p),
    ]
    if color_jitter:
        transforms.append(
            A.ColorJitter(
                brightness=JITTER_BRIGHTNESS,
                contrast=JITTER_CONTRAST,
                saturation=JITTER_SATURATION,
                hue=JITTER_HUE,
                p=JITTER_P,
            )
        )
    transforms.append(normalize(mean, std))
    return SampleTransform(transforms, seed=seed, inverse_depth=inverse_depth)


def build_eval_transform(
    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Callable[[Sample], Sample]:
    """MTPSL evaluation transform: normalisation and conversion only, at the native size."""
    check_normalisation(mean, std)
    return SampleTransform([normalize(mean, std)], seed=0)


def pascal_photometric() -> list[A.BasicTransform]:
    """The ATRC/mmseg photometric distortion, each part with probability 0.5.

    The image-only steps of ``build_pascal_train_transform``, in order: the place of a new one.

    ``FastBrightnessContrast`` is albumentations' ``RandomBrightnessContrast`` with its float32
    arithmetic done without constant images (``dmtl.data.augment.steps``).
    """
    keep = (1.0, 1.0)
    return [
        FastBrightnessContrast(
            brightness_limit=PHOTOMETRIC_BRIGHTNESS,
            contrast_limit=0.0,
            brightness_by_max=True,
            p=PHOTOMETRIC_P,
        ),
        FastBrightnessContrast(
            brightness_limit=0.0, contrast_limit=PHOTOMETRIC_CONTRAST, p=PHOTOMETRIC_P
        ),
        A.ColorJitter(
            brightness=keep,
            contrast=keep,
            saturation=PHOTOMETRIC_SATURATION,
            hue=0.0,
            p=PHOTOMETRIC_P,
        ),
        A.ColorJitter(
            brightness=keep, contrast=keep, saturation=keep, hue=PHOTOMETRIC_HUE, p=PHOTOMETRIC_P
        ),
    ]


def build_pascal_train_transform(
    height: int = PASCAL_CROP[0],
    width: int = PASCAL_CROP[1],
    scale_range: tuple[float, float] = PASCAL_SCALE_RANGE,
    flip_p: float = 0.5,
    photometric: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    seed: int | None = None,
    fused: bool = True,
) -> Callable[[Sample], Sample]:
    """PASCAL-Context training augmentation: scale, pad, crop, flip, photometric, normalise.

    Runs fused (``dmtl.data.augment.fused``): the output of the step-by-step path (the task maps
    bit for bit, the image within a few float32 ulps) in about half the CPU time (measured:
    experiments/RESULTS.md).

    Args:
        height: crop height (512 in the protocol).
        width: crop width.
        scale_range: the scale factor is drawn uniformly from this range.
        flip_p: probability of a horizontal flip (negates the x component of normals).
        photometric: apply the photometric distortion to the image.
        mean: per-channel normalisation mean (image in [0, 1]).
        std: per-channel normalisation std.
        seed: seed of the augmentation generators (see ``dmtl.data.augment.step_by_step``).
        fused: False runs the albumentations steps one by one (the same output, slower).

    Raises:
        ConfigError: a non-positive size, a scale range not 0 < low <= high, flip_p outside [0, 1],
            bad mean/std, a geometric step the table of ``dmtl.data.augment.geometry`` lacks.
    """
    _check_size(height, width)
    low, high = scale_range
    if not 0.0 < low <= high:
        raise ConfigError(f"scale_range must satisfy 0 < low <= high, got {list(scale_range)}")
    _check_flip(flip_p)
    check_normalisation(mean, std)
    transforms: list[A.BasicTransform] = [
        A.RandomScale(
            scale_limit=(low - 1.0, high - 1.0),
            interpolation=IMAGE_INTERPOLATION,
            mask_interpolation=LABEL_INTERPOLATION,
            p=1.0,
        ),
        A.PadIfNeeded(height, width, position="center", border_mode=cv2.BORDER_CONSTANT),
        A.RandomCrop(height, width),
        A.HorizontalFlip(p=flip_p),
        *(pascal_photometric() if photometric else []),
        normalize(mean, std),
    ]
    return FusedSampleTransform(transforms, seed=seed, track_padding=True, fused=fused)


def build_pascal_eval_transform(
    height: int = PASCAL_CROP[0],
    width: int = PASCAL_CROP[1],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[Sample], Sample]:
    """PASCAL-Context evaluation: normalise and pad to (height, width) around the centre.

    Padded pixels are ignore/invalid in every target, so the metrics count exactly the pixels of
    the labels at their own resolution. A larger image is an error that names it.
    """
    _check_size(height, width)
    check_normalisation(mean, std)
    transforms = [
        normalize(mean, std),
        A.PadIfNeeded(height, width, position="center", border_mode=cv2.BORDER_CONSTANT),
    ]
    return SampleTransform(transforms, seed=0, track_padding=True, output_size=(height, width))
