"""The old import path of the augmentation recipes, now ``dmtl.data.augment``.

Kept only because ``dmtl.data.readers.image_folder`` (changed on another branch this round)
still imports ``build_eval_transform`` from here; new code imports ``dmtl.data.augment``. Remove
this file once that import reads ``from dmtl.data.augment import build_eval_transform``.
"""

from __future__ import annotations

from dmtl.data.augment import IMAGENET_MEAN, IMAGENET_STD, build_eval_transform

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "build_eval_transform"]
