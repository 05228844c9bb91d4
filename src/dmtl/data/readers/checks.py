"""Shared checks of a split's files, run once when the data module is set up: before any step.

The readers check each file when a sample is drawn; that finds a bad file only when the loader
reaches it, maybe hours into a run. Each reader's ``check_files(min_size)`` looks at every file
cheaply instead, with the helpers of this module:

* MTPSL ``.npy`` layout (``check_npy_split``): every file's shape from its header
  (``np.load(mmap_mode="r")`` reads no pixels): all images of one size, every label map of its
  image's size;
* PASCAL-Context and NYUD-v2 (ATRC layouts, ``check_label_sizes``): the size of every label file
  (PNG header, ``.npy`` header) against its image's;
* the images against the backbone's coarsest stride (``check_size_fits``), and the full content
  of a few samples (``check_content``: the first, the middle and the last), so that a task whose
  labels hold no valid pixel (an all-NaN depth map, all-zero normals) is an error when none of
  them has one and a warning naming the files when some do not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

log = logging.getLogger(__name__)

EMPTY_CHECKED = ("semseg", "depth", "normals", "edge")  # tasks whose all-invalid map is suspect


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


def check_npy_split(
    split_dir: Path,
    image_folder: str,
    task_folders: Mapping[str, str],
    count: int,
    min_size: int | None,
) -> None:
    """Every ``.npy`` file of an MTPSL split, from its header: one image size, labels of it.

    Args:
        split_dir: the split's folder.
        image_folder: the folder of the images in it.
        task_folders: task -> the folder of its labels, of the tasks read.
        count: the number of samples ``0.npy .. count-1.npy``.
        min_size: the backbone's coarsest stride, or ``None``.

    Raises:
        DataError: a file of another shape than expected (both named), an image smaller than
            ``min_size``.
        MissingDataError: a file vanished.
    """
    first = split_dir / image_folder / "0.npy"
    shape = npy_shape(first)
    if len(shape) != 3 or shape[2] != 3:
        raise DataError(f"{first} has shape {shape}; expected an image of shape (H, W, 3)")
    size = (shape[0], shape[1])
    check_size_fits(size, min_size, f"image {first}")
    for index in range(count):  # setup only: one header read per file
        image = split_dir / image_folder / f"{index}.npy"
        found = npy_shape(image)
        if found[:2] != size or found != shape:
            raise DataError(
                f"{image} has shape {found}, {first} has {shape}: the images of a split in the "
                "MTPSL layout must share one size (H, W, 3)"
            )
        for task, folder in task_folders.items():
            path = split_dir / folder / f"{index}.npy"
            label = npy_shape(path)
            expected = _expected_shapes(task, size)
            if label not in expected:
                raise DataError(
                    f"{path} has shape {label} but its image {image} is {size[0]}×{size[1]}; "
                    f"expected {' or '.join(str(s) for s in expected)}"
                )


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header.

    Raises:
        MissingDataError: the file does not exist.
        DataError: it is not a readable image.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise DataError(f"cannot read {path} as an image: {err}") from err
    return height, width


def check_label_sizes(files: Sequence[Mapping[str, Path]], tasks: Sequence[str]) -> None:
    """Each label file of ``tasks`` has its image's size (PNG or ``.npy`` headers only).

    Args:
        files: per sample, ``image`` and each task -> its file.
        tasks: the tasks whose files are images or ``.npy`` arrays of the image's size.

    Raises:
        DataError: a file of another size than its image (both sizes named), an unreadable one.
        MissingDataError: a file vanished.
    """
    if not tasks:
        return
    for paths in files:  # setup only: one header read per file
        size = image_size(paths["image"])
        for task in tasks:
            path = paths[task]
            found = npy_shape(path)[:2] if path.suffix == ".npy" else image_size(path)
            if found != size:
                raise DataError(
                    f"{path} is {'×'.join(map(str, found))} but its image {paths['image']} is "
                    f"{size[0]}×{size[1]}"
                )


def _has_valid_pixel(task: str, target: np.ndarray) -> bool:
    if task == "depth":
        return bool((target > 0).any())
    if task == "normals":
        return bool(target.any())
    return bool((target != IGNORE_INDEX).any())


def check_content(dataset: Any) -> None:
    """Load the first, middle and last samples in full; a task valid in none of them fails.

    Args:
        dataset: a reader (``dmtl.data.datasets.Reader``): ``tasks``, ``load_sample``,
            ``task_file``.

    Raises:
        DataError: a bad file among the samples read, or a task with no valid pixel in any.
    """
    indices = sorted({0, len(dataset) // 2, len(dataset) - 1})
    samples = {index: dataset.load_sample(index) for index in indices}
    for task in dataset.tasks:
        if task not in EMPTY_CHECKED:
            continue
        empty = [i for i, sample in samples.items() if not _has_valid_pixel(task, sample[task])]
        if not empty:
            continue
        files = ", ".join(str(dataset.task_file(i, task)) for i in empty)
        if len(empty) == len(samples):
            raise DataError(
                f"task {task!r}: {files} hold no valid pixel (all invalid, 0 or NaN), so "
                f"{task} would train on nothing; check the files or leave {task} out of data.tasks"
            )
        log.warning("task %r: %s hold no valid pixel (all invalid, 0 or NaN)", task, files)
