"""Write the pre-decoded form of a PASCAL-Context tree (``dmtl.data.readers.predecoded``).

Run by ``dmtl prepare pascal_context`` after the layout check, and on its own for a tree that
exists already::

    dmtl prepare pascal_context --root data/PASCALContext --predecode-only

Every split is decoded once by the reader itself (so the stored arrays are the reader's own),
written into a hidden sibling of ``root/predecoded/<split>`` and renamed into place when complete,
its ``index.json`` last: an interrupted run leaves the old form or none, never a partial one.
The form takes 11 bytes per pixel (about 10 GB for the 4,998 training images of PASCAL-Context);
the free disk space is checked before anything is written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.readers.predecoded import (
    FIELDS,
    FOLDER,
    INDEX_NAME,
    VERSION,
    fields_of,
    pixel_offsets,
    split_folder,
)
from dmtl.errors import DataError, DMTLError, MissingDataError

SPLITS = ("train", "val")
BYTES_PER_PIXEL = sum(FIELDS.values())
REPORT_EVERY = 500  # samples between two progress lines


def available_tasks(root: Path, split: str) -> list[str]:
    """The tasks whose files the split has (the others are left out of the form)."""
    tasks = []
    for task in TASKS:
        try:
            PascalContextDataset(root, split, [task], predecoded=False)
        except MissingDataError:
            continue
        tasks.append(task)
    return tasks


def _image_shapes(data: PascalContextDataset) -> list[tuple[int, int]]:
    """(H, W) of every image from its JPEG header (nothing decoded)."""
    shapes = []
    for paths in data.files:
        try:
            with Image.open(paths["image"]) as jpeg:
                width, height = jpeg.size
        except Exception as err:  # PIL raises several types for corrupt images
            raise DataError(f"cannot read {paths['image']} as an image: {err}") from err
        shapes.append((height, width))
    return shapes


def _check_space(folder: Path, pixels: int) -> None:
    need = pixels * BYTES_PER_PIXEL
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DataError(
            f"the pre-decoded form of {folder.parent} needs {need / 2**30:.1f} GiB, {folder} has "
            f"{free / 2**30:.1f} GiB free; free some space or prepare with --no-predecode"
        )


def predecode_split(
    root: Path, split: str, tasks: Sequence[str], say: Callable[[str], None] = lambda _: None
) -> int:
    """Write ``root/predecoded/<split>`` for ``tasks``, replacing what is there; the sample count.

    Raises:
        MissingDataError, DataError: the reader cannot read the split; disk space is short.
    """
    data = PascalContextDataset(root, split, list(tasks), predecoded=False)
    shapes = _image_shapes(data)
    offsets = pixel_offsets(shapes)
    target = split_folder(root, split)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_space(target.parent, int(offsets[-1]))
    partial = Path(tempfile.mkdtemp(prefix=f".{split}.partial-", dir=target.parent))
    try:
        arrays = {}
        for field in fields_of(tasks):
            shape = (int(offsets[-1]), FIELDS[field]) if FIELDS[field] > 1 else (int(offsets[-1]),)
            path = partial / f"{field}.npy"
            arrays[field] = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        for index in range(len(data)):
            compact = data.load_compact(index)
            if compact["image"].shape[:2] != shapes[index]:  # a JPEG whose header lies
                raise DataError(f"{data.files[index]['image']} decodes to another size")
            start, stop = int(offsets[index]), int(offsets[index + 1])
            for field, array in arrays.items():
                array[start:stop] = compact[field].reshape(stop - start, *array.shape[1:])
            if (index + 1) % REPORT_EVERY == 0:
                say(f"pre-decoding {split}: {index + 1}/{len(data)} samples")
        for array in arrays.values():
            array.flush()
        del arrays
        index = {"version": VERSION, "split": split, "tasks": list(tasks),
                 "ids": list(data.sample_ids), "shapes": [list(s) for s in shapes]}  # fmt: skip
        (partial / INDEX_NAME).write_text(json.dumps(index) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{split}.old-", dir=target.parent))
            target.replace(old / split)
            shutil.rmtree(old, ignore_errors=True)
        partial.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return len(data)


def predecode_tree(
    root: str | Path, splits: Sequence[str] = SPLITS, say: Callable[[str], None] = lambda _: None
) -> dict[str, int]:
    """Pre-decode every split of a PASCAL-Context tree with the tasks it has; counts per split.

    Raises:
        MissingDataError: ``root`` or a split is missing.
        DataError: a file cannot be read, or disk space is short; the message names it.
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise MissingDataError(f"--root {root} does not exist")
    counts = {}
    for split in splits:
        tasks = available_tasks(root, split)
        try:
            counts[split] = predecode_split(root, split, tasks, say)
        except DMTLError as err:
            raise type(err)(f"cannot pre-decode {root} ({split}): {err}") from err
        say(f"pre-decoded {split} ({counts[split]} samples; {', '.join(tasks)}) into "
            f"{root / FOLDER / split}")  # fmt: skip
    return counts
