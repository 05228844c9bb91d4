"""A tiny PASCAL-Context dataset written in the exact ATRC/PASCAL_MT file formats (for tests).

Every image is 24×30 (H×W) with analytic content, so tests can state the expected targets:

* ``LabelMap`` (context ids): the left 12 columns are ``WALL`` (440, NYU-compatible), the rest
  ``AEROPLANE`` (2, not NYU-compatible); rows 0..3 are unlabelled (0).
* human parts: images with a person hold one person whose part ``head`` covers rows 4..7 and
  ``llarm`` (a lower arm) rows 8..9 of columns 2..5, plus a ``cat`` whose ``head`` covers columns
  20..23 (non-person parts: skipped) and a second person without parts (its pixels: background).
  ``NO_PERSON`` has only the cat.
* semseg: class = (column // 6) + index, row 0 ignore (255); ``VOC12`` holds the even-numbered
  images, ``pascal-context`` the others.
* saliency PNG: 127 on the left half, 128 on the right (128/255 > 0.5: salient).
* normals PNG: channel values (200, 60, 255) everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

HEIGHT, WIDTH = 24, 30
TRAIN_IDS = ["2008_000002", "2008_000003", "2008_000007", "2009_000011"]
VAL_IDS = ["2008_000010", "2010_000005"]
NO_PERSON = "2008_000003"  # a training image without any person
WALL, AEROPLANE = 440, 2
SPLIT_COLUMN = 12  # LabelMap: WALL left of it, AEROPLANE from it on
NORMAL_PNG = (200, 60, 255)
PERSON, CAT = 15, 8
LABEL_MAPS = "pascal-context/trainval"


def image_array(index: int) -> np.ndarray:
    """uint8 (H, W, 3) RGB content of image ``index``: smooth ramps (JPEG keeps them well)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    red = 40 + 6 * cols + 10 * index
    green = 30 + 5 * rows
    blue = np.full_like(rows, 120 + 20 * index)
    return np.stack([red, green, blue], axis=2).clip(0, 255).astype(np.uint8)


def semseg_array(index: int) -> np.ndarray:
    labels = (np.arange(WIDTH)[None, :] // 6 + index).repeat(HEIGHT, axis=0).astype(np.uint8)
    labels[0] = 255
    return labels


def label_map() -> np.ndarray:
    labels = np.full((HEIGHT, WIDTH), AEROPLANE, dtype=np.uint16)
    labels[:, :SPLIT_COLUMN] = WALL
    labels[:4] = 0
    return labels


def _box(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[rows, cols] = 1
    return mask


def _parts(named_masks: list[tuple[str, np.ndarray]]) -> np.ndarray:
    parts = np.zeros((1, len(named_masks)), dtype=[("part_name", "O"), ("mask", "O")])
    for j, (name, mask) in enumerate(named_masks):
        parts[0, j] = (name, mask)
    return parts


def write_part_annotation(path: Path, image_id: str, with_person: bool) -> None:
    """A PASCAL-Part ``anno`` struct: objects with class, class_ind, mask and parts."""
    cat_parts = _parts([("head", _box(slice(4, 8), slice(20, 24)))])
    objects = [("cat", CAT, _box(slice(4, 12), slice(20, 24)), cat_parts)]
    if with_person:
        person_parts = [
            ("head", _box(slice(4, 8), slice(2, 6))),
            ("llarm", _box(slice(8, 10), slice(2, 6))),
        ]
        objects.append(("person", PERSON, _box(slice(4, 12), slice(2, 6)), _parts(person_parts)))
        # a person without part annotations: MATLAB's empty [] for parts
        objects.append(("person", PERSON, _box(slice(14, 20), slice(8, 11)), np.zeros((0, 0))))
    dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    table = np.zeros((1, len(objects)), dtype=dtype)
    for i, (name, class_ind, mask, parts) in enumerate(objects):
        table[0, i] = (name, np.array([[class_ind]], dtype=np.uint8), mask, parts)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (image_id, table)
    scipy.io.savemat(path, {"anno": anno})


def write_pascal_context(root: Path) -> Path:
    """Write the whole fixture dataset under ``root`` and return it."""
    folders = ["JPEGImages", "ImageSets/Context", "semseg/VOC12", "semseg/pascal-context",
               "human_parts", "sal_distill", "normals_distill", LABEL_MAPS]  # fmt: skip
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets/Context/train.txt").write_text("\n".join(TRAIN_IDS) + "\n")
    (root / "ImageSets/Context/val.txt").write_text("\n".join(VAL_IDS) + "\n")
    saliency = np.full((HEIGHT, WIDTH), 127, dtype=np.uint8)
    saliency[:, WIDTH // 2 :] = 128
    normals = np.broadcast_to(np.array(NORMAL_PNG, np.uint8), (HEIGHT, WIDTH, 3))
    for index, image_id in enumerate(TRAIN_IDS + VAL_IDS):
        Image.fromarray(image_array(index)).save(root / "JPEGImages" / f"{image_id}.jpg")
        semseg_folder = "semseg/VOC12" if index % 2 == 0 else "semseg/pascal-context"
        Image.fromarray(semseg_array(index)).save(root / semseg_folder / f"{image_id}.png")
        part_path = root / "human_parts" / f"{image_id}.mat"
        write_part_annotation(part_path, image_id, with_person=image_id != NO_PERSON)
        Image.fromarray(saliency).save(root / "sal_distill" / f"{image_id}.png")
        Image.fromarray(np.ascontiguousarray(normals)).save(
            root / "normals_distill" / f"{image_id}.png"
        )
        scipy.io.savemat(root / LABEL_MAPS / f"{image_id}.mat", {"LabelMap": label_map()})
    return root
