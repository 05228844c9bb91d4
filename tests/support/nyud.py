"""A tiny NYUD-v2 in the exact file formats of the ATRC/InvPT layout (for tests).

Two variants of the same tree (``dmtl.data.readers.nyud_atrc``): ``atrc`` (ATRC's NYUDv2.tar.gz:
PNG images, normals and edges) and ``mti`` (MTI-Net's NYUD_MT.tgz: JPEG images, ``.npy`` normals
and edges). The content is analytic, so that tests can state the expected samples:

* segmentation PNG (uint8, mode L): v = (column // 3 + index) % 41, row 0 void (0), pixel (1, 0)
  the last class (40): class v - 1, 255 where v = 0;
* depth ``.npy`` float32 (H, W): 1 + 0.1 row + index metres, pixel (0, 0) invalid (0);
* normals: PNG (200, 60, 255) everywhere, pixel (0, 0) black (invalid); ``.npy`` float32 the unit
  vector (0.6, 0, 0.8), pixel (0, 0) all-zero;
* edge: column ``EDGE_COLUMN`` is a boundary (PNG 255, ``.npy`` 1.0), the rest 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 24, 30
COUNTS = {"train": 4, "val": 2}
NORMAL_PNG = (200, 60, 255)
NORMAL_NPY = (0.6, 0.0, 0.8)
EDGE_COLUMN = 5


def split_ids(counts: dict[str, int]) -> dict[str, list[str]]:
    """The image ids of each split: four-digit numbers, train first (as ATRC's lists look)."""
    ids, start = {}, 1
    for split, num in counts.items():
        ids[split] = [f"{start + i:04d}" for i in range(num)]
        start += num
    return ids


def image_array(index: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """uint8 (H, W, 3) RGB: smooth ramps (a JPEG keeps them within a few levels)."""
    rows, cols = np.mgrid[0:height, 0:width]
    red = 40 + 5 * cols + 10 * index
    green = 30 + 5 * rows
    blue = np.full_like(rows, 120 + 20 * index)
    return np.stack([red, green, blue], axis=2).clip(0, 255).astype(np.uint8)


def segmentation_file(index: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """uint8 (H, W) of the segmentation PNG: 0 void, 1..40 classes."""
    values = ((np.arange(width)[None, :] // 3 + index) % 41).repeat(height, axis=0)
    values[0] = 0
    values[1, 0] = 40
    return values.astype(np.uint8)


def depth_file(index: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    depth = (1.0 + 0.1 * np.arange(height)[:, None] + index).repeat(width, axis=1)
    depth[0, 0] = 0.0
    return depth.astype(np.float32)


def edge_map(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    edge = np.zeros((height, width), dtype=np.float32)
    edge[:, EDGE_COLUMN] = 1.0
    return edge


def expected_sample(index: int, variant: str = "atrc", height: int = HEIGHT,
                    width: int = WIDTH) -> dict[str, np.ndarray]:  # fmt: skip
    """The sample the reader should return for image ``index`` (image exact for PNGs only)."""
    labels = segmentation_file(index, height, width).astype(np.int64) - 1
    labels[labels < 0] = 255
    if variant == "atrc":
        normal = np.asarray(NORMAL_PNG, dtype=np.float32) * np.float32(2 / 255) - np.float32(1)
    else:
        normal = np.asarray(NORMAL_NPY, dtype=np.float32)
    normals = np.broadcast_to(normal, (height, width, 3)).copy()
    normals[0, 0] = 0.0
    return {
        "image": image_array(index, height, width).astype(np.float32) / np.float32(255),
        "semseg": labels,
        "depth": depth_file(index, height, width),
        "normals": normals,
        "edge": edge_map(height, width),
    }


def write_nyud_sample(root: Path, image_id: str, index: int, variant: str = "atrc",
                      height: int = HEIGHT, width: int = WIDTH) -> None:  # fmt: skip
    """Write every file of one image in the variant's formats."""
    for folder in ("images", "segmentation", "depth", "normals", "edge"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(image_array(index, height, width))
    if variant == "atrc":
        image.save(root / "images" / f"{image_id}.png")
    else:
        image.save(root / "images" / f"{image_id}.jpg", quality=95)
    Image.fromarray(segmentation_file(index, height, width), mode="L").save(
        root / "segmentation" / f"{image_id}.png"
    )
    np.save(root / "depth" / f"{image_id}.npy", depth_file(index, height, width))
    if variant == "atrc":
        normals = np.broadcast_to(np.asarray(NORMAL_PNG, np.uint8), (height, width, 3)).copy()
        normals[0, 0] = 0
        Image.fromarray(normals, mode="RGB").save(root / "normals" / f"{image_id}.png")
        edge = (edge_map(height, width) * 255).astype(np.uint8)
        Image.fromarray(edge, mode="L").save(root / "edge" / f"{image_id}.png")
    else:
        normals = np.broadcast_to(np.asarray(NORMAL_NPY, np.float32), (height, width, 3)).copy()
        normals[0, 0] = 0.0
        np.save(root / "normals" / f"{image_id}.npy", normals)
        np.save(root / "edge" / f"{image_id}.npy", edge_map(height, width))


def write_nyud(root: Path, counts: dict[str, int] | None = None, height: int = HEIGHT,
               width: int = WIDTH, variant: str = "atrc") -> Path:  # fmt: skip
    """Write a NYUD-v2 tree (``gt_sets`` and every folder) under ``root``; return ``root``."""
    ids = split_ids(counts or COUNTS)
    (root / "gt_sets").mkdir(parents=True, exist_ok=True)
    index = 0
    for split, names in ids.items():
        (root / "gt_sets" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
        for image_id in names:
            write_nyud_sample(root, image_id, index, variant, height, width)
            index += 1
    return root
