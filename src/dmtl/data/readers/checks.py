"""A split's files checked once, when the data module is set up: before any training step.

The readers check each file when a sample is drawn; that finds a bad file only when the loader
reaches it, maybe hours into a run. ``check_split`` looks at every file cheaply instead:

* MTPSL ``.npy`` layout: every file's shape from its header (``np.load(mmap_mode="r")`` reads no
  pixels): all images of one size, every label map of its image's size;
* PASCAL-Context: the size of every PNG label from its header against its JPEG's;
* NYUD-v2 (ATRC layout): the size of every label file (PNG header, ``.npy`` header) against its
  image's;
* all: the images against the backbone's coarsest stride, and the full content of a few samples
  (the first, the middle and the last), so that a task whose labels hold no valid pixel (an
  all-NaN depth map, all-zero normals) is an error when none of them has one and a warning
  naming the files when some do not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from dmtl.data.readers.mtpsl import IMAGE_FOLDER, MTPSLDataset
from dmtl.data.readers.nyud_atrc import NYUDDataset
from dmtl.data.readers.pascal_context import PascalContextDataset
from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

log = logging.getLogger(__name__)

PNG_TASKS = ("semseg", "sal", "normals")  # PASCAL-Context tasks stored as PNG of the image's size
EMPTY_CHECKED = ("semseg", "depth", "normals", "edge")  # tasks whose all-invalid map is suspect


def check_split(dataset: object, min_size: int | None = None) -> None:
    """Check the files of one opened split (of the readers in ``dmtl.data.readers``).

    Args:
        dataset: an ``MTPSLDataset``, ``PascalContextDataset`` or ``NYUDDataset``; other datasets
            are not checked.
        min_size: the backbone's coarsest stride: images must be at least this high and wide
            (PASCAL-Context's are padded or cropped to ``data.crop_size``, checked by the caller).

    Raises:
        DataError: a file of another size than its image (both sizes named), an image smaller than
            ``min_size``, a bad file among the samples read, or a task with no valid pixel in any
            of them.
        MissingDataError: a file vanished.
    """
    if isinstance(dataset, MTPSLDataset):
        _check_mtpsl_shapes(dataset, min_size)
    elif isinstance(dataset, PascalContextDataset):
        _check_pascal_sizes(dataset)
    elif isinstance(dataset, NYUDDataset):
        _check_nyud_sizes(dataset)
    else:
        return
    _check_content(dataset)


def check_size_fits(size: tuple[int, int], min_size: int | None, what: str) -> None:
    """``size`` (H, W) is at least ``min_size`` in both directions.

    Raises:
        DataError: it is not; the message names ``what`` and both sizes.
    """
    if min_size is not None and min(size) < min_size:
        raise DataError(
            f"{what} is {size[0]}×{size[1]}, smaller than the backbone's coarsest stride "
            f"{min_size}: use images of at least {min_size}×{min_size}"
        )


def npy_shape(path: Path) -> tuple[int, ...]:
    """The shape of a ``.npy`` file from its header (memory-mapped: no pixel is read).

    Raises:
        MissingDataError: the file does not exist.
        DataError: it is not a readable ``.npy`` array.
    """
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except (OSError, ValueError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path} as a .npy array: {first}") from err


def _expected_shapes(task: str, size: tuple[int, int]) -> list[tuple[int, ...]]:
    if task == "depth":
        return [(*size, 1), size]
    if task == "normals":
        return [(*size, 3)]
    return [size]


def _check_mtpsl_shapes(dataset: MTPSLDataset, min_size: int | None) -> None:
    split_dir = dataset.root / dataset.split
    first = split_dir / IMAGE_FOLDER / "0.npy"
    shape = npy_shape(first)
    if len(shape) != 3 or shape[2] != 3:
        raise DataError(f"{first} has shape {shape}; expected an image of shape (H, W, 3)")
    size = (shape[0], shape[1])
    check_size_fits(size, min_size, f"image {first}")
    for index in range(len(dataset)):  # setup only: one header read per file
        image = split_dir / IMAGE_FOLDER / f"{index}.npy"
        found = npy_shape(image)
        if found[:2] != size or found != shape:
            raise DataError(
                f"{image} has shape {found}, {first} has {shape}: the images of a split in the "
                "MTPSL layout must share one size (H, W, 3)"
            )
        for task in dataset.tasks:
            path = split_dir / dataset.TASK_FOLDERS[task] / f"{index}.npy"
            label = npy_shape(path)
            expected = _expected_shapes(task, size)
            if label not in expected:
                raise DataError(
                    f"{path} has shape {label} but its image {image} is {size[0]}×{size[1]}; "
                    f"expected {' or '.join(str(s) for s in expected)}"
                )


def _png_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise DataError(f"cannot read {path} as an image: {err}") from err
    return height, width


def _check_pascal_sizes(dataset: PascalContextDataset) -> None:
    tasks = [t for t in dataset.tasks if t in PNG_TASKS]
    if not tasks:
        return
    for paths in dataset.files:  # setup only: one header read per file
        size = _png_size(paths["image"])
        for task in tasks:
            found = _png_size(paths[task])
            if found != size:
                raise DataError(
                    f"{paths[task]} is {found[0]}×{found[1]} but its image {paths['image']} is "
                    f"{size[0]}×{size[1]}"
                )


def _check_nyud_sizes(dataset: NYUDDataset) -> None:
    for paths in dataset.files:  # setup only: one header read per file
        size = _png_size(paths["image"])
        for task in dataset.tasks:
            path = paths[task]
            found = npy_shape(path)[:2] if path.suffix == ".npy" else _png_size(path)
            if found != size:
                raise DataError(
                    f"{path} is {'×'.join(map(str, found))} but its image {paths['image']} is "
                    f"{size[0]}×{size[1]}"
                )


def _task_file(dataset: object, index: int, task: str) -> Path:
    if isinstance(dataset, MTPSLDataset):
        return dataset.root / dataset.split / dataset.TASK_FOLDERS[task] / f"{index}.npy"
    paths = dataset.files[index]
    return paths.get(task, paths["image"])


def _has_valid_pixel(task: str, target: np.ndarray) -> bool:
    if task == "depth":
        return bool((target > 0).any())
    if task == "normals":
        return bool(target.any())
    return bool((target != IGNORE_INDEX).any())


def _check_content(dataset: object) -> None:
    """Load the first, middle and last samples in full; a task valid in none of them fails."""
    indices = sorted({0, len(dataset) // 2, len(dataset) - 1})
    samples = {index: dataset.load_sample(index) for index in indices}
    for task in dataset.tasks:
        if task not in EMPTY_CHECKED:
            continue
        empty = [i for i, sample in samples.items() if not _has_valid_pixel(task, sample[task])]
        if not empty:
            continue
        files = ", ".join(str(_task_file(dataset, i, task)) for i in empty)
        if len(empty) == len(samples):
            raise DataError(
                f"task {task!r}: {files} hold no valid pixel (all invalid, 0 or NaN), so "
                f"{task} would train on nothing; check the files or leave {task} out of data.tasks"
            )
        log.warning("task %r: %s hold no valid pixel (all invalid, 0 or NaN)", task, files)
