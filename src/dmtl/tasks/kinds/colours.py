"""The colours of task maps that belong to no dataset: a fallback palette, invalid pixels, and
the "P"-mode PNG palette. The datasets' own class colours are facts of the dataset registry
(``dmtl.data.datasets.labelsets``; ``dmtl.viz.class_palette`` picks a task's).
"""

from __future__ import annotations

import cv2
import numpy as np

IGNORE_COLOUR = (0, 0, 0)

Colour = tuple[int, int, int]


def palette(num_classes: int) -> np.ndarray:
    """A fixed, well separated colour per class: uint8 (num_classes, 3)."""
    hues = (np.arange(num_classes) * 0.618033988749895) % 1.0  # golden-ratio hue spacing
    hsv = np.stack([hues * 179, np.full_like(hues, 200), np.full_like(hues, 230)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]


def indexed_palette(colours: np.ndarray, void: Colour = IGNORE_COLOUR) -> list[int]:
    """A 256-entry palette of a "P"-mode PNG: the class colours, then black, ``void`` at 255."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(colours)] = colours
    table[255] = void
    return table.flatten().tolist()
