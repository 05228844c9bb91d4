"""What each geometric step does to the targets: the one table both executors read.

A geometric step (any step that is not image-only) moves the pixels of the image and of every
task map alike; the maps are resized with nearest neighbour, so class ids, unit normals and the
invalid markers stay exact. Moving is not always the whole story: a zoom makes the scene look
closer and a mirror turns the surfaces. What each known step does to each kind of target:

==============================  =========  ==============  =================  =============
step                            metric     inverse depth   normals            class ids,
                                depth      (Cityscapes)    (x right, y down,  saliency,
                                                           z forward)         boundaries
==============================  =========  ==============  =================  =============
``RandomScaleCrop`` (zoom s)    ÷ s        × s             moved              moved
``A.RandomScale`` (zoom s)      ÷ s        × s             moved              moved
``A.PadIfNeeded``               padding    padding         padding            padding
``A.RandomCrop``                moved      moved           moved              moved
``A.HorizontalFlip``            moved      moved           x negated          moved
==============================  =========  ==============  =================  =============

"padding": the added pixels are invalid in every target (``track_padding``: 0 for depth and
normals, 255 for the rest). ``STEPS`` holds the table as an ``Effect`` per step type; the task
kinds apply it (``TaskKind.correct_geometry(scale=, flipped=)``, one method per kind in
``dmtl.tasks.kinds``), after the step-by-step executor or the fused one has moved the pixels.

A geometric step that is not in ``STEPS`` is refused when a transform is built (``effect_of``):
a rotation or a vertical flip would otherwise leave the normals unrotated or unflipped, with no
error. To add one, give it a row here; a step whose effect is neither a zoom nor a horizontal
mirror (a rotation turns normals' x and y, a vertical flip negates y) also needs a new field of
``Effect`` and ``Correction`` and a slot in ``TaskKind.correct_geometry`` for the kinds it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import albumentations as A
import numpy as np

from dmtl.data.augment.steps import RandomScaleCrop
from dmtl.errors import ConfigError
from dmtl.tasks.kinds import TaskKind


@dataclass(frozen=True)
class Effect:
    """What one geometric step does to the targets' values, beyond moving their pixels."""

    zoom: bool = False  # its applied ``scale`` is a zoom factor s: depth / s, inverse depth * s
    mirror: bool = False  # a horizontal mirror: normals' x negated


STEPS: dict[type[A.BasicTransform], Effect] = {
    RandomScaleCrop: Effect(zoom=True),
    A.RandomScale: Effect(zoom=True),
    A.PadIfNeeded: Effect(),
    A.RandomCrop: Effect(),
    A.HorizontalFlip: Effect(mirror=True),
}


def effect_of(step: A.BasicTransform) -> Effect | None:
    """The table's ``Effect`` of a geometric step; None for an image-only step.

    Raises:
        ConfigError: a geometric step the table does not hold, named.
    """
    if isinstance(step, A.ImageOnlyTransform):
        return None
    for kind, effect in STEPS.items():
        if isinstance(step, kind):
            return effect
    raise ConfigError(
        f"augmentation step {type(step).__name__} moves the task maps, but "
        "dmtl.data.augment.geometry.STEPS does not say what it does to them (normals, depth): "
        "add it there, or leave the step out"
    )


@dataclass
class Correction:
    """What the applied geometric steps of one sample changed: the zoom and the mirror."""

    scale: float = 1.0
    flipped: bool = False

    def add(self, effect: Effect, params: dict[str, Any]) -> None:
        """Fold in one applied step of ``effect`` with its applied ``params``."""
        if effect.zoom:
            self.scale *= float(params["scale"])
        if effect.mirror:
            self.flipped = not self.flipped

    def apply(self, kind: TaskKind, array: np.ndarray, inverse_depth: bool) -> np.ndarray:
        """``array``, a moved map of ``kind``, with its values corrected (pixel by pixel)."""
        return kind.correct_geometry(
            array, scale=self.scale, flipped=self.flipped, inverse_depth=inverse_depth
        )
