"""The map formats of the folder dataset (``dmtl.data.readers.folder``), file to sample array.

Each decoder takes the array of one file (PNG as ``numpy.asarray`` of the image, or a ``.npy``)
and its path, checks it and returns the sample format of the other readers: ``semseg``/``sal``
int64 (H, W) with 255 = ignore, ``depth`` float32 (H, W) metres with 0 = invalid, ``normals``
float32 (H, W, 3) with all-zero = invalid, ``edge`` float32 (H, W) in {0, 1}.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

MM_PER_M = 1000.0  # 16-bit depth PNGs hold millimetres
SALIENT_THRESHOLD = 0.5  # fraction of 255 above which a saliency pixel is salient


def read_map(path: Path) -> np.ndarray:
    """The array of a map file: ``.npy`` (no pickles) or an image as PIL reads it.

    Raises:
        MissingDataError: the file vanished.
        DataError: it cannot be read.
    """
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with Image.open(path) as png:
            return np.asarray(png)
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except Exception as err:  # PIL and numpy raise several types for corrupt files
        kind = "a .npy array" if path.suffix == ".npy" else "an image"
        raise DataError(f"cannot read {path} as {kind}: {err}") from err


def read_rgb(path: Path) -> np.ndarray:
    """float32 (H, W, 3) in [0, 1] of any PNG or JPEG (grey, palette and alpha converted)."""
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except Exception as err:  # PIL raises several types for corrupt images
        raise DataError(f"cannot read {path} as an image: {err}") from err
    return rgb.astype(np.float32) / np.float32(255.0)


def missing_target(task: str, size: tuple[int, int]) -> np.ndarray:
    """The all-invalid target of an image without a map of ``task``."""
    h, w = size
    if task in ("semseg", "sal"):
        return np.full((h, w), IGNORE_INDEX, dtype=np.int64)
    if task == "edge":
        return np.full((h, w), IGNORE_INDEX, dtype=np.float32)
    return np.zeros((h, w, 3) if task == "normals" else (h, w), dtype=np.float32)


def decode_semseg(value: np.ndarray, path: Path, classes: int) -> np.ndarray:
    """Class ids 0..classes-1 or 255 of a one-channel (grey or palette) PNG."""
    if value.ndim != 2:
        raise DataError(f"{path} has shape {value.shape}; expected one channel of class ids")
    bad = (value >= classes) & (value != IGNORE_INDEX)
    if bad.any():
        raise DataError(
            f"{path} holds label {int(value[bad][0])}; expected classes 0..{classes - 1} "
            f"(data.num_classes.semseg = {classes}) or {IGNORE_INDEX}"
        )
    return value.astype(np.int64)


def decode_depth(value: np.ndarray, path: Path) -> np.ndarray:
    """Metres of a 16-bit PNG in millimetres or of a ``.npy`` in metres (NaN, < 0: invalid)."""
    if value.ndim == 3 and value.shape[2] == 1:
        value = value[..., 0]
    if value.ndim != 2:
        raise DataError(f"{path} has shape {value.shape}; expected a one-channel depth map")
    if path.suffix != ".npy":
        if value.dtype.kind not in "ui" or value.dtype.itemsize < 2:
            raise DataError(f"{path} is an 8-bit PNG; depth PNGs are 16-bit, in mm")
        return value.astype(np.float32) / np.float32(MM_PER_M)
    depth = value.astype(np.float32)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def decode_normals(value: np.ndarray, path: Path) -> np.ndarray:
    """Normals of a PNG (n = 2v/255 - 1, black = invalid) or of a float ``.npy`` (H, W, 3)."""
    if value.ndim != 3 or value.shape[2] < 3:
        raise DataError(f"{path} has shape {value.shape}; expected (H, W, 3) normals")
    value = value[..., :3]
    if path.suffix != ".npy":
        invalid = ~value.any(axis=2)
        normals = value.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        normals[invalid] = 0.0
        return normals
    normals = value.astype(np.float32)
    normals[~np.isfinite(normals).all(axis=2)] = 0.0
    return normals


def decode_edge(value: np.ndarray, path: Path) -> np.ndarray:
    """{0, 1} of a PNG of 0 and 255 only (a 0/1 map would otherwise pass as no edge at all)."""
    if value.ndim != 2 or not np.isin(value, (0, 255)).all():
        raise DataError(f"{path} must be a one-channel PNG of 0 (no edge) and 255 (edge)")
    return (value == 255).astype(np.float32)


def decode_sal(value: np.ndarray, path: Path) -> np.ndarray:
    """Salient (1) where v/255 > 0.5 of a 0..255 PNG; a 0/1 map is refused."""
    if value.ndim != 2:
        raise DataError(f"{path} has shape {value.shape}; expected a one-channel PNG")
    if value.max() == 1:
        raise DataError(f"{path} holds only 0 and 1; saliency PNGs are 0..255 (salient 255)")
    return (value.astype(np.float32) / 255.0 > SALIENT_THRESHOLD).astype(np.int64)


# task -> decoder(value, path) (semseg's takes the class count as well)
DECODERS: dict[str, Callable[..., np.ndarray]] = {
    "semseg": decode_semseg,
    "depth": decode_depth,
    "normals": decode_normals,
    "edge": decode_edge,
    "sal": decode_sal,
}
