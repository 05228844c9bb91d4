"""The pre-decoded form of a PASCAL-Context split: uint8 arrays read through memory maps.

Decoding a sample's JPEG, PNGs and MATLAB files, and deriving its boundaries, costs more than the
training augmentation; ``dmtl prepare pascal_context`` therefore also writes every split in a
decoded form (``dmtl.data.prepare.predecode``), which the reader uses when it is present and
current. On disk, per split::

    root/predecoded/<split>/index.json     format version, split, tasks, image ids, (H, W) each
    root/predecoded/<split>/<field>.npy    uint8, all images of the split end to end

Field ``image`` is (P, 3) RGB, ``normals`` (P, 3) the distilled PNG's values, and ``semseg``,
``human_parts``, ``sal`` (0/1 after the 0.5 threshold), ``normals_valid`` (0/1: the pixel's context
class keeps its normal) and ``edge`` (0/1, thinned) are (P,), P being the split's pixel count;
sample i covers the pixels from the sum of the sizes of samples 0..i-1 on. A sample is stored
*compact* (what the reader derives from the files, before its conversion to float or int64) and
expanded by ``expand``, the same function that the decoded path calls, so both paths give the same
arrays bit for bit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dmtl.tasks.kinds.normals import CODE_VALUES, COMPACT_CHANNELS, VALID

FOLDER = "predecoded"
INDEX_NAME = "index.json"
VERSION = 1  # bump whenever a field's content or layout changes: older forms are then stale
# field -> channels; every field is uint8
FIELDS: dict[str, int] = {
    "image": 3,
    "semseg": 1,
    "human_parts": 1,
    "sal": 1,
    "normals": 3,
    "normals_valid": 1,
    "edge": 1,
}
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "semseg": ("semseg",),
    "human_parts": ("human_parts",),
    "sal": ("sal",),
    "normals": ("normals", "normals_valid"),
    "edge": ("edge",),
}
KEEP_BITS = np.full(256, -1, dtype=np.int32)  # validity 0 -> no bits kept, any other -> all
KEEP_BITS[0] = 0

Compact = dict[str, np.ndarray]
log = logging.getLogger(__name__)


def split_folder(root: Path, split: str) -> Path:
    """Where split ``split`` of the tree ``root`` is stored pre-decoded."""
    return Path(root) / FOLDER / split


def fields_of(tasks: Sequence[str]) -> list[str]:
    """The fields that samples of ``tasks`` need, ``image`` first."""
    return ["image", *(field for task in tasks for field in TASK_FIELDS[task])]


def expand(
    compact: Compact,
    tasks: Sequence[str],
    ids: type = np.int64,
    edges: type = np.float32,
    normal_codes: bool = False,
) -> dict[str, np.ndarray]:
    """A reader's sample arrays from compact uint8 ones (see ``PascalContextDataset``).

    Args:
        compact: the compact fields of one sample.
        tasks: the tasks to expand.
        ids: dtype of the class-id maps (a transform that converts them to uint8 itself may take
            them as uint8, which saves two conversions).
        edges: dtype of the edge map (uint8: the compact field itself, for a transform that
            hands edges over as uint8 anyway).
        normal_codes: hand the normals over in the normals kind's compact form (uint8 (H, W, 4):
            the codes and the validity flag; ``dmtl.tasks.kinds.normals``), decoded on the device.

    Returns:
        ``image`` float32 (H, W, 3) in [0, 1]; ``semseg``/``human_parts``/``sal`` int64 (H, W);
        ``normals`` float32 (H, W, 3), 0 where not valid (or compact, ``normal_codes``);
        ``edge`` float32 (``edges``) (H, W) in {0, 1}.
    """
    image = compact["image"].astype(np.float32)
    image /= np.float32(255.0)  # in place: the same float32 arithmetic, one array fewer
    sample = {"image": image}
    for task in tasks:
        if task == "normals":
            codes, valid = compact["normals"], compact["normals_valid"]
            to_sample = compact_normals if normal_codes else expand_normals
            sample[task] = to_sample(codes, valid)
        elif task == "edge":
            sample[task] = compact["edge"].astype(edges, copy=False)  # per call, as below
        else:
            sample[task] = compact[task].astype(ids, copy=False)  # compact arrays are per call
    return sample


def expand_normals(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 normals (H, W, 3) from the distilled PNG's codes: ``v * 2/255 - 1``, +0.0 where not
    ``valid``; in the memory layout of ``codes`` (channel-first planes stay channel-first).

    The arithmetic is a function of the code alone, so it is done once for the 256 codes
    (``dmtl.tasks.kinds.normals.CODE_VALUES``, float32 with the same two roundings) and looked up by
    ``cv2.LUT``; the invalid pixels are cleared by a bitwise AND of the float bits with an
    all-ones or all-zeros word, which leaves valid pixels' bits as they are and gives +0.0
    elsewhere (a multiplication by 0 would give −0.0 for negative components). Bit for bit the
    arithmetic of ``codes.astype(float32) * 2/255 - 1`` then zeroing
    (``tests/data/readers/test_predecoded.py``).
    """
    height, width = codes.shape[:2]
    planes = codes.transpose(2, 0, 1)
    if planes.flags.c_contiguous:  # channel-first (the fused augmentation's picks): per plane
        out_planes = np.empty(planes.shape, dtype=np.float32)
        for plane, out in zip(planes, out_planes):
            cv2.LUT(plane, CODE_VALUES, dst=out)
        normals = out_planes.transpose(1, 2, 0)
    else:
        normals = cv2.LUT(np.ascontiguousarray(codes), CODE_VALUES).reshape(height, width, 3)
    keep = cv2.LUT(np.ascontiguousarray(valid, dtype=np.uint8), KEEP_BITS)
    bits = normals.view(np.uint32)
    np.bitwise_and(bits, keep.view(np.uint32).reshape(height, width, 1), out=bits)
    return normals


def compact_normals(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The normals kind's compact form (H, W, 4) uint8: the codes, then ``VALID`` (1) where
    ``valid`` is not 0 and 0 elsewhere; channel-first in memory (``to_tensor`` copies nothing)."""
    height, width = codes.shape[:2]
    planes = np.empty((COMPACT_CHANNELS, height, width), dtype=np.uint8)
    planes[:3] = codes.transpose(2, 0, 1)
    np.not_equal(valid, 0, out=planes[3], casting="unsafe")  # 1 where valid, 0 (INVALID) else
    planes[3] *= VALID
    return planes.transpose(1, 2, 0)


def pixel_offsets(shapes: Sequence[Sequence[int]]) -> np.ndarray:
    """Start of every sample in a field, and the total pixel count last (int64, len N + 1)."""
    sizes = np.array([int(h) * int(w) for h, w in shapes], dtype=np.int64)
    return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)])


class PredecodedSplit:
    """One split's pre-decoded arrays, opened as read-only memory maps in each process.

    The maps are opened on first use and left out when the object is pickled (a DataLoader
    worker started by ``spawn`` opens its own), so no worker copies the arrays.

    Args:
        folder: ``root/predecoded/<split>``, already checked by ``open_predecoded``.
        fields: the fields to read.
        shapes: (H, W) of every sample, in split order.
    """

    def __init__(self, folder: Path, fields: Sequence[str], shapes: Sequence[Sequence[int]]):
        self.folder = Path(folder)
        self.fields = list(fields)
        self.shapes = [(int(h), int(w)) for h, w in shapes]
        self.offsets = pixel_offsets(self.shapes)
        self._arrays: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {
                f: np.load(self.folder / f"{f}.npy", mmap_mode="r", allow_pickle=False)
                for f in self.fields
            }
        return self._arrays

    def compact(self, index: int) -> Compact:
        """The compact uint8 arrays of sample ``index`` (copies, not views of the maps)."""
        height, width = self.shapes[index]
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        out = {}
        for field, array in self._open().items():
            channels = (FIELDS[field],) if FIELDS[field] > 1 else ()
            out[field] = np.array(array[start:stop]).reshape(height, width, *channels)
        return out


def _problem(folder: Path, ids: Sequence[str], tasks: Sequence[str]) -> str | list:
    """Why ``folder`` cannot serve (a sentence), or the samples' shapes when it can."""
    try:
        index = json.loads((folder / INDEX_NAME).read_text())
    except (OSError, ValueError) as err:
        return f"{folder / INDEX_NAME} cannot be read ({err})"
    if not isinstance(index, dict) or index.get("version") != VERSION:
        version = index.get("version") if isinstance(index, dict) else None
        return f"it has format version {version!r}, this dmtl reads version {VERSION}"
    if index.get("ids") != list(ids):
        stored = index.get("ids")
        count = len(stored) if isinstance(stored, list) else "?"
        return f"it holds {count} image ids that differ from the split list's {len(ids)}"
    missing = [t for t in tasks if t not in index.get("tasks", [])]
    if missing:
        return f"it lacks task {missing[0]!r} (it holds {', '.join(index.get('tasks', []))})"
    shapes = index.get("shapes")
    if not isinstance(shapes, list) or len(shapes) != len(ids):
        return f"{folder / INDEX_NAME} lists no (H, W) per image"
    total = int(pixel_offsets(shapes)[-1])
    for field in fields_of(tasks):
        path = folder / f"{field}.npy"
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            return f"{path} cannot be read ({err})"
        expected = (total, FIELDS[field]) if FIELDS[field] > 1 else (total,)
        if array.dtype != np.uint8 or array.shape != expected:
            return f"{path} is {array.dtype} {array.shape}; expected uint8 {expected}"
    return shapes


def open_predecoded(
    root: Path, split: str, ids: Sequence[str], tasks: Sequence[str]
) -> PredecodedSplit | None:
    """The pre-decoded form of a split when it exists and matches the tree, else ``None``.

    Matching: the format version, the split list's image ids in order, the tasks, and the shape
    and dtype of every field. A form that exists but does not match is stale: a one-line warning
    says why, and the caller decodes the files instead.
    """
    folder = split_folder(root, split)
    if not folder.is_dir():
        return None
    found = _problem(folder, ids, tasks)
    if isinstance(found, str):
        log.warning(
            "ignoring the pre-decoded form %s: %s; decoding the files instead (rebuild it with "
            "`dmtl prepare pascal_context --root %s --predecode-only`)", folder, found, root
        )  # fmt: skip
        return None
    return PredecodedSplit(folder, fields_of(tasks), found)
