"""The arrays of the MTPSL ``.npy`` layout: loading without pickle and conversion to samples.

Each converter checks one file's array against the image it belongs to and names the file in every
error (``DataError``); invalid pixels become the package's markers (255 for labels, 0 for depth and
normals).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

FILE_LABEL_IGNORE = -1  # how the files mark unlabelled pixels; samples use IGNORE_INDEX instead
EDGE_VALUES = (0.0, 1.0, float(IGNORE_INDEX))
IMAGE_RANGE_TOLERANCE = 1e-3  # slack on the [0, 1] image range for rounding in the conversion
UNIT_TOLERANCE = 0.1  # a normal vector is of unit length when | |n| - 1 | <= this
NON_UNIT_FRACTION = 0.01  # more non-zero vectors than this fraction off unit length: a bad file


def load_array(path: Path) -> np.ndarray:
    """Load one ``.npy`` array without pickle; a missing file or a bad one names the file.

    Raises:
        MissingDataError: the file does not exist (any more).
        DataError: the file is not a readable numeric ``.npy`` array.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise MissingDataError(f"file {path} does not exist") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path} as a .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray):  # np.load returns an NpzFile for a zip archive
        raise DataError(f"{path} is not a .npy array (an .npz archive?)")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path} holds dtype {array.dtype}; expected a real numeric array")
    return array


def _check_shape(
    array: np.ndarray, path: Path, shapes: Sequence[tuple[int, ...]], what: str
) -> None:
    if array.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise DataError(f"{path} has shape {array.shape}; expected {what} of shape {expected}")


def convert_image(array: np.ndarray, path: Path) -> np.ndarray:
    """File image (H, W, 3) float in [0, 1] -> float32 (H, W, 3)."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise DataError(f"{path} has shape {array.shape}; expected an image of shape (H, W, 3)")
    if array.dtype.kind != "f":
        raise DataError(f"{path} holds dtype {array.dtype}; expected a float image in [0, 1]")
    image = array.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise DataError(f"{path} holds non-finite pixel values")
    low, high = float(image.min()), float(image.max())
    if low < -IMAGE_RANGE_TOLERANCE or high > 1.0 + IMAGE_RANGE_TOLERANCE:
        raise DataError(
            f"{path} has values in [{low:.3g}, {high:.3g}]; expected an image in [0, 1]"
        )
    return np.clip(image, 0.0, 1.0)


def convert_label(
    array: np.ndarray, path: Path, size: tuple[int, int], num_classes: int
) -> np.ndarray:
    """File label (H, W), -1 = unlabelled -> int64 (H, W), IGNORE_INDEX where unlabelled/NaN."""
    _check_shape(array, path, [size], "a label map")
    label = np.asarray(array, dtype=np.float64)
    invalid = ~np.isfinite(label) | (label == FILE_LABEL_IGNORE) | (label == IGNORE_INDEX)
    label = np.where(invalid, IGNORE_INDEX, label)
    bad = ~invalid & ((label != np.round(label)) | (label < 0) | (label >= num_classes))
    if bad.any():
        value = label[bad].flat[0]
        raise DataError(
            f"{path} holds label value {value:g}; expected class ids 0..{num_classes - 1} "
            f"or {FILE_LABEL_IGNORE} (unlabelled)"
        )
    return label.astype(np.int64)


def convert_depth(array: np.ndarray, path: Path, size: tuple[int, int]) -> np.ndarray:
    """File depth (H, W, 1) or (H, W) -> float32 (H, W), 0 for invalid and non-finite.

    The unit is the dataset's (NYUv2 metres, Cityscapes inverse depth); only its sign is checked.
    """
    _check_shape(array, path, [(*size, 1), size], "a depth map")
    depth = array.reshape(size).astype(np.float32)
    depth[~np.isfinite(depth)] = 0.0
    if (depth < 0).any():
        raise DataError(
            f"{path} holds negative depth {float(depth.min()):g}; expected depth >= 0, 0 = invalid"
        )
    return depth


def convert_normals(array: np.ndarray, path: Path, size: tuple[int, int]) -> np.ndarray:
    """File normals (H, W, 3) -> float32 (H, W, 3); a non-finite component zeroes its pixel.

    More than ``NON_UNIT_FRACTION`` of the non-zero vectors off unit length is an error (normals
    stored as colours, or not normalised).
    """
    _check_shape(array, path, [(*size, 3)], "a normal map")
    normals = array.astype(np.float32)
    # one bad component makes the whole vector meaningless, so the pixel becomes invalid (all-zero)
    normals[~np.isfinite(normals).all(axis=2)] = 0.0
    norms = np.linalg.norm(normals, axis=2)
    valid = norms > 0
    off = valid & (np.abs(norms - 1.0) > UNIT_TOLERANCE)
    if off.sum() > NON_UNIT_FRACTION * max(int(valid.sum()), 1):
        raise DataError(
            f"{path}: {off.sum() / valid.sum():.0%} of the normal vectors are not of unit length "
            f"(lengths {float(norms[valid].min()):.3g}..{float(norms[valid].max()):.3g}); "
            "expected unit vectors, all-zero = invalid"
        )
    return normals


def convert_edge(array: np.ndarray, path: Path, size: tuple[int, int]) -> np.ndarray:
    """File boundary map (H, W) in {0, 1} -> float32 (H, W)."""
    _check_shape(array, path, [size], "a boundary map")
    edge = array.astype(np.float32)
    if not np.isin(edge, EDGE_VALUES).all():
        raise DataError(f"{path} holds values other than 0 and 1; expected a binary boundary map")
    return edge
