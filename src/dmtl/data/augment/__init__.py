"""Joint augmentation of a sample's image and task maps: one door.

To add an augmentation step, edit ``recipes.py`` (the steps of each protocol, in order); nothing
else, unless the step is geometric and new to ``geometry.py``. The rooms:

* ``recipes.py``: the MTPSL and ATRC/PASCAL-Context recipes, training and evaluation.
* ``geometry.py``: what each geometric step does to every kind of target (a zoom divides depth,
  a horizontal flip negates normals' x); a geometric step missing from it is refused.
* ``steps.py``: dmtl's own steps (``RandomScaleCrop``, faster normalisation and brightness).
* ``normalisation.py``: ImageNet's mean and std, the normalisation step and its inverse.
* ``step_by_step.py``: ``SampleTransform``, the reference executor (albumentations step by
  step; ``by_index.py`` moves all task maps by one index map when that gives the same bytes).
* ``fused.py``: ``FusedSampleTransform``, the fast executor of the PASCAL-Context training
  recipe (the step-by-step output in about half the time; it logs once which step keeps a recipe
  off it), with ``draws.py`` (albumentations' random draws replayed), ``picks.py`` (where each
  output pixel comes from) and ``photometric.py`` (the float32 arithmetic, in place).
"""

from __future__ import annotations

from dmtl.data.augment.normalisation import IMAGENET_MEAN, IMAGENET_STD, denormalize
from dmtl.data.augment.recipes import (
    PASCAL_CROP,
    PASCAL_SCALE_RANGE,
    build_eval_transform,
    build_pascal_eval_transform,
    build_pascal_train_transform,
    build_train_transform,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PASCAL_CROP",
    "PASCAL_SCALE_RANGE",
    "build_eval_transform",
    "build_pascal_eval_transform",
    "build_pascal_train_transform",
    "build_train_transform",
    "denormalize",
]
