"""The colours of task maps in panels: a class palette and the colour of invalid pixels."""

from __future__ import annotations

import cv2
import numpy as np

IGNORE_COLOUR = (0, 0, 0)


def palette(num_classes: int) -> np.ndarray:
    """A fixed, well separated colour per class: uint8 (num_classes, 3)."""
    hues = (np.arange(num_classes) * 0.618033988749895) % 1.0  # golden-ratio hue spacing
    hsv = np.stack([hues * 179, np.full_like(hues, 200), np.full_like(hues, 230)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
