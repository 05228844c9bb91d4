"""Tiny NYUv2 and Cityscapes datasets in the MTPSL ``.npy`` layout, with values tests can state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dmtl.data.readers.mtpsl import write_mtpsl_sample
from dmtl.data.readers.nyuv2 import write_nyuv2_sample
from dmtl.tasks import IGNORE_INDEX

NYU_HEIGHT, NYU_WIDTH = 16, 20
CITY_HEIGHT, CITY_WIDTH = 32, 64
CITY_FOLDERS = {"semseg": "label_7", "depth": "depth"}
CITY_FOLDERS_19 = {"semseg": "label_19"}


def nyuv2_sample(
    index: int, height: int = NYU_HEIGHT, width: int = NYU_WIDTH
) -> dict[str, np.ndarray]:
    """A deterministic sample whose values identify it (index enters every map)."""
    rng = np.random.default_rng(index)
    semseg = rng.integers(0, 13, (height, width))
    semseg[0, :] = IGNORE_INDEX  # an unlabelled row
    depth = np.linspace(0.5, 9.5, height * width, dtype=np.float32).reshape(height, width) + index
    depth[1, :3] = 0.0  # invalid
    normals = rng.normal(size=(height, width, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    normals[2, :4] = 0.0  # invalid
    return {
        "image": rng.random((height, width, 3), dtype=np.float32),
        "semseg": semseg,
        "depth": depth,
        "normals": normals,
        "edge": (rng.random((height, width)) < 0.2).astype(np.float32),
    }


def write_nyuv2(
    root: Path,
    counts: Mapping[str, int] | None = None,
    height: int = NYU_HEIGHT,
    width: int = NYU_WIDTH,
) -> Path:
    """Write ``counts`` samples per split (default train 4, val 2) under ``root``; return it."""
    for split, count in (counts or {"train": 4, "val": 2}).items():
        for index in range(count):
            sample = nyuv2_sample(index, height, width)
            sample.pop("edge")  # the real NYUv2 files have no edge folder
            write_nyuv2_sample(root, split, index, sample)
    return root


def cityscapes_sample(index: int) -> dict[str, np.ndarray]:
    """Class ids 0..6 (label_7) and 0..18 (label_19) by column; inverse depth by row, 0 in row 0."""
    cols = np.arange(CITY_WIDTH)[None, :].repeat(CITY_HEIGHT, axis=0)
    label7 = (cols + index) % 7
    label7[:, -1] = IGNORE_INDEX  # the writer stores 255 as -1, as the files do
    depth = np.linspace(0.005, 0.05, CITY_HEIGHT, dtype=np.float32)[:, None]
    depth = depth.repeat(CITY_WIDTH, axis=1)
    depth[0] = 0.0  # invalid
    rng = np.random.default_rng(index)
    return {
        "image": rng.random((CITY_HEIGHT, CITY_WIDTH, 3), dtype=np.float32),
        "semseg": label7,
        "depth": depth,
        "label19": (cols + index) % 19,
    }


def write_cityscapes(root: Path, counts: Mapping[str, int] | None = None) -> Path:
    """Write ``counts`` samples per split (default train 4, val 2) with label_7, label_19, depth."""
    for split, count in (counts or {"train": 4, "val": 2}).items():
        for index in range(count):
            sample = cityscapes_sample(index)
            label19 = sample.pop("label19")
            write_mtpsl_sample(root, split, index, sample, CITY_FOLDERS)
            write_mtpsl_sample(root, split, index, {"semseg": label19}, CITY_FOLDERS_19)
    return root
