"""Targets that PASCAL-Context derives from MATLAB files: human parts, boundaries, normal validity.

* Human parts come from the PASCAL-Part annotation ``human_parts/<id>.mat``: a struct ``anno``
  with ``imname`` and ``objects``, each object a struct with ``class`` (name), ``class_ind`` (VOC
  class index; 15 = person), ``mask`` (H, W) and ``parts`` (empty, or structs with ``part_name``
  and ``mask``). The 24 part names of a person map onto 6 parts (``PART_OF``); objects of other
  classes are skipped. Pixels of no part are background (0). As in the literature's evaluation,
  an image without any person that has part annotations has no human-parts label at all: its
  target is all ignore (255), so the loss (no valid pixel) and the mIoU (ignored pixels) skip it.
* Boundaries come from the PASCAL-Context ``LabelMap`` (459 context classes, 0 = unlabelled): a
  pixel is on a boundary when the 4-neighbour Laplacian of the label map is non-zero, and the
  result is thinned to one pixel (Guo–Hall, ``thin``).
* Distilled normals are kept only on context classes that also exist in NYUv2 (where the
  distilling network was trained): ``NYU_COMPATIBLE_CLASSES`` lists their ``LabelMap`` ids, the
  names the two datasets share plus ``tvmonitor`` (NYU's "television"); elsewhere normals are
  invalid (0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

PERSON_CLASS = 15  # VOC class index of "person" in PASCAL-Part's class_ind
# PASCAL-Part person part names -> 1 head, 2 torso, 3 upper arms, 4 lower arms (with hands),
# 5 upper legs, 6 lower legs (with feet)
PART_OF: dict[str, int] = {
    **dict.fromkeys(
        ("head", "hair", "lear", "rear", "leye", "reye", "lebrow", "rebrow", "nose", "mouth"), 1
    ),
    **dict.fromkeys(("torso", "neck"), 2),
    **dict.fromkeys(("luarm", "ruarm"), 3),
    **dict.fromkeys(("llarm", "rlarm", "lhand", "rhand"), 4),
    **dict.fromkeys(("luleg", "ruleg"), 5),
    **dict.fromkeys(("llleg", "rlleg", "lfoot", "rfoot"), 6),
}
# PASCAL-Context LabelMap ids of the classes whose name NYUv2's label set shares, and tvmonitor
# (427); 170 classes
NYU_COMPATIBLE_CLASSES = frozenset(
    {3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43, 46, 49}
    | {50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95, 96}
    | {101, 104, 105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146, 150, 154, 157}
    | {158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215, 216}
    | {219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255}
    | {260, 261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292}
    | {293, 295, 304, 307, 309, 310, 314, 315, 319, 323, 329, 330, 331, 336, 342, 345, 349}
    | {350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380, 383, 384, 397, 401, 403, 405}
    | {407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432, 440, 441, 442}
    | {443, 444, 446, 454, 457}
)
_VALID_LOOKUP = np.zeros(max(NYU_COMPATIBLE_CLASSES) + 1, dtype=bool)
_VALID_LOOKUP[list(NYU_COMPATIBLE_CLASSES)] = True


def load_mat(path: Path) -> dict[str, Any]:
    """Read a MATLAB file; a missing or unreadable one names the file.

    Raises:
        MissingDataError: the file does not exist.
        DataError: not a readable MATLAB file.
    """
    try:
        return scipy.io.loadmat(path)
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except Exception as err:  # scipy raises ValueError, TypeError, MatReadError... on bad files
        raise DataError(f"cannot read {path} as a MATLAB .mat file: {err}") from err


def _field(record: Any, name: str, path: Path) -> Any:
    try:
        return record[name]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise DataError(f"{path}: a PASCAL-Part struct lacks the field {name!r}") from err


def _mask(array: Any, path: Path, size: tuple[int, int], what: str) -> np.ndarray:
    mask = np.asarray(array)
    if mask.shape != size:
        raise DataError(f"{path}: the {what} mask has shape {mask.shape}; the image is {size}")
    return mask.astype(bool)


def human_parts_target(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The 6-part target of one image from its PASCAL-Part ``.mat``.

    Returns:
        int64 (H, W): 0 background, 1..6 parts; all 255 when no person has part annotations.

    Raises:
        MissingDataError, DataError: the file is missing, unreadable, or not a PASCAL-Part struct.
    """
    mat = load_mat(path)
    if "anno" not in mat:
        raise DataError(f"{path} holds no 'anno' struct; expected a PASCAL-Part annotation")
    objects = _field(mat["anno"].flat[0], "objects", path)
    target = np.zeros(size, dtype=np.int64)
    has_parts = False
    for obj in np.asarray(objects).flat:  # a few objects per image
        class_ind = np.asarray(_field(obj, "class_ind", path))
        parts = np.asarray(_field(obj, "parts", path))
        if class_ind.size != 1 or int(class_ind.flat[0]) != PERSON_CLASS or parts.size == 0:
            continue
        has_parts = True
        for part in parts.flat:
            name = str(np.asarray(_field(part, "part_name", path)).flat[0])
            if name not in PART_OF:
                raise DataError(
                    f"{path}: unknown person part {name!r}; known parts: {', '.join(PART_OF)}"
                )
            target[_mask(_field(part, "mask", path), path, size, f"part {name!r}")] = PART_OF[name]
    if not has_parts:
        target[:] = IGNORE_INDEX
    return target


def context_label_map(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The PASCAL-Context ``LabelMap`` (H, W) of context class ids (0 = unlabelled), int32."""
    mat = load_mat(path)
    if "LabelMap" not in mat:
        raise DataError(f"{path} holds no 'LabelMap'; expected a PASCAL-Context label file")
    labels = np.asarray(mat["LabelMap"])
    # MATLAB may store the ids as uint16 or as doubles; either way they must be whole numbers
    integral = labels.dtype.kind in "iu" or (
        labels.dtype.kind == "f" and bool(np.all(labels == np.round(labels)))
    )
    if labels.shape != size or not integral:
        raise DataError(
            f"{path}: LabelMap is {labels.dtype} of shape {labels.shape}; expected integer "
            f"class ids of the image size {size}"
        )
    return labels.astype(np.int32)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """One-pixel boundaries between the regions of a label map (H, W) -> float32 {0, 1}.

    A pixel is a boundary candidate when the 4-neighbour Laplacian (OpenCV's, mirrored border) of
    the label ids is non-zero; candidates are then thinned.
    """
    laplacian = cv2.Laplacian(labels.astype(np.float64), cv2.CV_64F)
    return thin(laplacian != 0).astype(np.float32)


def _neighbours(image: np.ndarray) -> list[np.ndarray]:
    """x1..x8 of every pixel of a zero-padded image: E, NE, N, NW, W, SW, S, SE."""
    rows, cols = image.shape[0] - 2, image.shape[1] - 2
    offsets = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]
    return [image[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] for dr, dc in offsets]


def thin(mask: np.ndarray) -> np.ndarray:
    """Guo–Hall parallel thinning (two subiterations, until nothing changes) of a bool (H, W) mask.

    A pixel p is removed when (Guo & Hall 1989, algorithm A1): C(p) = 1, 2 <= min(N1, N2) <= 3,
    and (x2 | x3 | ~x8) & x1 == 0 in the first subiteration, (x6 | x7 | ~x4) & x5 == 0 in the
    second (x1..x8: the 8 neighbours counter-clockwise from east; outside the image is 0).
    """
    skeleton = np.pad(mask.astype(bool), 1)
    inner = skeleton[1:-1, 1:-1]  # a view: updates land in skeleton
    while True:
        removed_any = False
        for first in (True, False):
            x = _neighbours(skeleton)
            crossings = sum(
                (~x[2 * i] & (x[2 * i + 1] | x[(2 * i + 2) % 8])).astype(np.int8) for i in range(4)
            )
            n1 = sum((x[2 * k] | x[2 * k + 1]).astype(np.int8) for k in range(4))
            n2 = sum((x[2 * k + 1] | x[(2 * k + 2) % 8]).astype(np.int8) for k in range(4))
            smaller = np.minimum(n1, n2)
            if first:
                side = ~((x[1] | x[2] | ~x[7]) & x[0])
            else:
                side = ~((x[5] | x[6] | ~x[3]) & x[4])
            remove = inner & (crossings == 1) & (smaller >= 2) & (smaller <= 3) & side
            if remove.any():
                inner[remove] = False
                removed_any = True
        if not removed_any:
            return inner.copy()


def normals_valid(labels: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels whose context class keeps its distilled normal."""
    inside = labels < len(_VALID_LOOKUP)
    return inside & _VALID_LOOKUP[np.where(inside, labels, 0)]
