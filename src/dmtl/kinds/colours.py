"""The colours of task maps: the datasets' class palettes, a fallback palette, invalid pixels.

The class colours are facts of the datasets' conventions, written here as tables:

- ``VOC_COLOURS``: the PASCAL VOC colour map (class i's colour is the VOC devkit's entry i);
  PASCAL-Context semseg (background and the VOC classes) and human parts use its first entries.
- ``CITYSCAPES_19_COLOURS``: the colours the Cityscapes label definition gives its 19 benchmark
  classes, in train-id order.
- ``CITYSCAPES_7_COLOURS``: Cityscapes defines no colours for its 7 categories; each category
  gets the Cityscapes colour of one of its classes (flat: road, construction: building, object:
  pole, nature: vegetation, sky: sky, human: person, vehicle: car).
- ``NYUV2_13_COLOURS``: NYUv2 ships no colours for its 13-class mapping; this is dmtl's own fixed
  choice of 13 well separated colours, none of them black (the colour of invalid pixels).

``class_palette(dataset, task, n)`` picks the table of a task, ``palette(n)`` is the fallback.
"""

from __future__ import annotations

import cv2
import numpy as np

from dmtl.data.classes import label_set

IGNORE_COLOUR = (0, 0, 0)

Colour = tuple[int, int, int]

VOC_COLOURS: tuple[Colour, ...] = (
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128),
    (0, 128, 128), (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0),
    (64, 0, 128), (192, 0, 128), (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0),
    (0, 192, 0), (128, 192, 0), (0, 64, 128),
)  # fmt: skip
VOC_VOID_COLOUR: Colour = (224, 224, 192)  # the VOC colour of id 255 (void, unlabelled)

CITYSCAPES_19_COLOURS: tuple[Colour, ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip

CITYSCAPES_7_COLOURS: tuple[Colour, ...] = (
    (128, 64, 128), (70, 70, 70), (153, 153, 153), (107, 142, 35), (70, 130, 180),
    (220, 20, 60), (0, 0, 142),
)  # fmt: skip

NYUV2_13_COLOURS: tuple[Colour, ...] = (
    (64, 96, 224),  # bed
    (255, 128, 0),  # books
    (224, 224, 160),  # ceiling
    (224, 0, 96),  # chair
    (128, 64, 32),  # floor
    (160, 96, 224),  # furniture
    (0, 192, 192),  # objects
    (255, 224, 0),  # picture
    (0, 128, 0),  # sofa
    (192, 128, 64),  # table
    (96, 0, 128),  # tv
    (176, 176, 176),  # wall
    (128, 224, 255),  # window
)

SALIENCY_COLOURS: tuple[Colour, ...] = ((0, 0, 0), (255, 255, 255))

# (label set of dmtl.data.classes, task) -> class colours
CLASS_COLOURS: dict[tuple[str, str], tuple[Colour, ...]] = {
    ("nyuv2", "semseg"): NYUV2_13_COLOURS,
    ("cityscapes", "semseg"): CITYSCAPES_7_COLOURS,
    ("cityscapes19", "semseg"): CITYSCAPES_19_COLOURS,
    ("pascal_context", "semseg"): VOC_COLOURS,
    ("pascal_context", "human_parts"): VOC_COLOURS[:7],
    ("pascal_context", "sal"): SALIENCY_COLOURS,
}


def palette(num_classes: int) -> np.ndarray:
    """A fixed, well separated colour per class: uint8 (num_classes, 3)."""
    hues = (np.arange(num_classes) * 0.618033988749895) % 1.0  # golden-ratio hue spacing
    hsv = np.stack([hues * 179, np.full_like(hues, 200), np.full_like(hues, 230)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]


def class_palette(dataset: str | None, task: str, num_classes: int) -> np.ndarray:
    """The colours of the classes of ``task`` on ``dataset``: uint8 (num_classes, 3).

    Args:
        dataset: a ``data.dataset`` value, or ``None``.
        task: the task name.
        num_classes: the task's channel count.

    Returns:
        the dataset's standard colours, or ``palette(num_classes)`` where dmtl knows none (or a
        table of another length).
    """
    colours = CLASS_COLOURS.get((label_set(dataset), task))
    if colours is None or len(colours) != num_classes:
        return palette(num_classes)
    return np.asarray(colours, dtype=np.uint8)


def indexed_palette(colours: np.ndarray, void: Colour = IGNORE_COLOUR) -> list[int]:
    """A 256-entry palette of a "P"-mode PNG: the class colours, then black, ``void`` at 255."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(colours)] = colours
    table[255] = void
    return table.flatten().tolist()
