"""What a compose of the PASCAL training augmentation does to one sample, without its pixels.

``draw_params`` makes the random draws that ``A.Compose.__call__`` and every
``BasicTransform.__call__`` make, from the same generators and in the same order, on a stand-in
image of the right shape, and returns the applied steps with their parameters; ``Placement``
follows the geometric steps at the head of such a compose (``PLACED``: scaling, padding,
cropping, flipping) as one window of the scaled image in the output, with the targets'
``Correction`` from the table of ``dmtl.data.augment.geometry``, and gives the task maps' picks
(``dmtl.data.augment.picks``). ``dmtl.data.augment.fused`` computes the pixels from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import numpy as np

from dmtl.data.augment.geometry import Correction, effect_of
from dmtl.data.augment.picks import MapPicks, Window, nearest_picks

# The geometric steps the fused executor can place as one window, in the order it takes them:
# steps of ``dmtl.data.augment.geometry.STEPS`` (what they do to the targets is said there).
PLACED = (A.RandomScale, A.PadIfNeeded, A.RandomCrop, A.HorizontalFlip)


def _stand_in(shape: Sequence[int]) -> np.ndarray:
    """A float32 array of ``shape`` that holds one value (strides 0): what draws look at."""
    zero = np.zeros(1, np.float32)
    return np.lib.stride_tricks.as_strided(zero, shape=tuple(shape), strides=(0,) * len(shape))


def draw_params(
    compose: A.Compose, shape: tuple[int, int, int]
) -> list[tuple[A.BasicTransform, dict[str, Any]]]:
    """The steps that ``compose`` applies to an image of ``shape``, each with its parameters.

    Draws exactly what ``compose(image=...)`` draws, in the same order (albumentations 2.0.8), and
    follows the image's shape through the geometric steps.
    """
    compose.py_random.random()  # Compose.__call__ draws against its p even when p is 1
    data = {"image": _stand_in(shape)}
    applied = []
    for transform in compose.transforms:
        if not transform.should_apply():
            continue
        params = transform.update_transform_params(params=transform.get_params(), data=data)
        params.update(transform.get_params_dependent_on_data(params=params, data=data))
        applied.append((transform, params))
        data["image"] = _stand_in(_shape_after(transform, params, data["image"].shape))
    return applied


def _shape_after(transform: A.BasicTransform, params: dict[str, Any], shape: tuple) -> tuple:
    height, width = shape[:2]
    if isinstance(transform, A.RandomScale):
        height, width = int(height * params["scale"]), int(width * params["scale"])
    elif isinstance(transform, A.PadIfNeeded):
        height += params["pad_top"] + params["pad_bottom"]
        width += params["pad_left"] + params["pad_right"]
    elif isinstance(transform, A.RandomCrop):
        x_min, y_min, x_max, y_max = params["crop_coords"]
        height, width = y_max - y_min, x_max - x_min
    return (height, width, *shape[2:])


@dataclass
class Placement:
    """What the geometric steps at the head of a ``fusable`` compose did to one sample."""

    size: tuple[int, int]  # (H, W) of the input
    scaled: tuple[int, int]  # after the scaling
    window: Window
    correction: Correction = field(default_factory=Correction)
    steps: int = 0  # how many of the applied steps are geometric

    @classmethod
    def of(cls, steps: list[tuple[A.BasicTransform, dict[str, Any]]], size: tuple[int, int]):
        """Follow the applied ``PLACED`` steps at the head of ``steps`` from a ``size`` input."""
        placement = cls(tuple(size), tuple(size), Window.whole(*size))
        for transform, params in steps:
            if not isinstance(transform, PLACED):
                break
            placement.steps += 1
            placement.correction.add(effect_of(transform), params)
            if isinstance(transform, A.RandomScale):
                scale = float(params["scale"])
                height, width = size
                placement.scaled = (int(height * scale), int(width * scale))
                placement.window = Window.whole(*placement.scaled)
            elif isinstance(transform, A.PadIfNeeded):
                pads = (params[f"pad_{side}"] for side in ("top", "bottom", "left", "right"))
                placement.window.pad(*pads)
            elif isinstance(transform, A.RandomCrop):
                placement.window.crop(*params["crop_coords"])
            else:
                placement.window.flip()
        return placement

    def picks(self) -> MapPicks:
        """The source pixel of every output pixel of the task maps (nearest neighbour)."""
        window = self.window
        if window.empty:
            return MapPicks(window, np.zeros(0, np.intp), np.zeros(0, np.intp))
        rows = nearest_picks(self.size[0], self.scaled[0])[window.source_rows()]
        cols = nearest_picks(self.size[1], self.scaled[1])[window.source_cols()]
        return MapPicks(window, rows, cols[::-1] if window.flipped else cols)
