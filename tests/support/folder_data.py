"""Tiny datasets in the layout of ``dmtl.data.readers.folder``, written by the tests themselves."""

from pathlib import Path

import numpy as np
from PIL import Image

NUM_CLASSES = 3


def write_folder(
    root: Path,
    num_train: int = 6,
    num_val: int = 4,
    size: tuple[int, int] = (32, 40),
    missing: dict[str, set[str]] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Write images and semseg/depth/normals/edge/sal maps; return the arrays written per image.

    Images ``t0 .. t{num_train-1}`` form ``splits/train.txt``, ``v0 ..`` ``splits/val.txt``.
    Depth alternates between a 16-bit PNG in mm and a ``.npy`` in metres, normals between a PNG
    and a ``.npy``; images alternate between PNG and JPEG. ``missing`` {task: ids} leaves maps out.

    Returns:
        image id -> {"depth_m": metres, "normals": unit vectors, "semseg": ids, ...}.
    """
    rng = np.random.default_rng(seed)
    missing = missing or {}
    h, w = size
    ids = {"train": [f"t{i}" for i in range(num_train)], "val": [f"v{i}" for i in range(num_val)]}
    for folder in ("images", "splits", "semseg", "depth", "normals", "edge", "sal"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, np.ndarray]] = {}
    for split, names in ids.items():
        (root / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for n, image_id in enumerate(names):
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            suffix = ".png" if n % 2 == 0 else ".jpg"
            Image.fromarray(rgb).save(root / "images" / f"{image_id}{suffix}")
            semseg = rng.integers(0, NUM_CLASSES, (h, w)).astype(np.uint8)
            semseg[0, :] = 255
            depth_mm = rng.integers(500, 5000, (h, w)).astype(np.uint16)
            depth_mm[:, 0] = 0
            normals = rng.normal(size=(h, w, 3)).astype(np.float32)
            normals /= np.linalg.norm(normals, axis=2, keepdims=True)
            edge = np.where(rng.random((h, w)) < 0.1, 255, 0).astype(np.uint8)
            sal = rng.integers(0, 256, (h, w)).astype(np.uint8)
            maps = {"semseg": semseg, "edge": edge, "sal": sal}
            for task, array in maps.items():
                if image_id not in missing.get(task, set()):
                    Image.fromarray(array).save(root / task / f"{image_id}.png")
            if image_id not in missing.get("depth", set()):
                if n % 2 == 0:
                    Image.fromarray(depth_mm).save(root / "depth" / f"{image_id}.png")
                else:
                    np.save(root / "depth" / f"{image_id}.npy", depth_mm / np.float32(1000.0))
            if image_id not in missing.get("normals", set()):
                if n % 2 == 0:
                    png = np.round((normals + 1.0) * 127.5).astype(np.uint8)
                    Image.fromarray(png).save(root / "normals" / f"{image_id}.png")
                else:
                    np.save(root / "normals" / f"{image_id}.npy", normals)
            written[image_id] = {**maps, "depth_m": depth_mm / np.float32(1000.0), "rgb": rgb}
            written[image_id]["normals"] = normals
    return written
