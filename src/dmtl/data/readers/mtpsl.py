"""Reader of the MTPSL/MTAN ``.npy`` layout shared by NYUv2, Cityscapes and the synthetic data.

On disk, one folder per modality, the same file names in each::

    root/{train,val}/image/{i}.npy      float (H, W, 3) in [0, 1]
    root/{train,val}/<label>/{i}.npy    float (H, W), class ids, -1 = unlabelled
    root/{train,val}/depth/{i}.npy      float (H, W, 1), 0 = invalid (metres, or inverse depth)
    root/{train,val}/normal/{i}.npy     float (H, W, 3) unit vectors, all-zero = invalid
    root/{train,val}/edge/{i}.npy       float (H, W) in {0, 1} (synthetic data only)

with i = 0..N-1 in every folder. The folder of each task and the class count are what a dataset
(``nyuv2.py``, ``cityscapes.py``) fixes; ``MTPSLDataset`` does the rest. Samples come out as plain
numpy dicts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmtl.data.readers.checks import check_content, check_npy_split
from dmtl.data.readers.mtpsl_arrays import (
    FILE_LABEL_IGNORE,
    convert_depth,
    convert_edge,
    convert_image,
    convert_label,
    convert_normals,
    load_array,
)
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

IMAGE_FOLDER = "image"
# task name -> folder that holds its labels (the NYUv2 names; other datasets pass their own)
TASK_FOLDERS: dict[str, str] = {
    "semseg": "label",
    "depth": "depth",
    "normals": "normal",
    "edge": "edge",
}

Sample = dict[str, Any]


def layout_hint(folders: Mapping[str, str]) -> str:
    """The expected layout, for error messages."""
    names = ",".join([IMAGE_FOLDER, *folders.values()])
    return f"root/{{train,val}}/{{{names}}}/<i>.npy with i = 0..N-1"


def task_folders(
    tasks: Sequence[str], folders: Mapping[str, str] = TASK_FOLDERS, dataset: str = "NYUv2"
) -> list[str]:
    """The folders a split needs for ``tasks``: ``image`` first, then one per task.

    Raises:
        ConfigError: an unknown or duplicated task name.
    """
    if isinstance(tasks, str):
        raise ConfigError(f"tasks must be a list of task names, got the string {tasks!r}")
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"the task list {list(tasks)} names a task twice")
    for name in tasks:
        if name not in folders:
            raise ConfigError(
                f"task {name!r} cannot be read from {dataset} data; supported: {', '.join(folders)}"
            )
    return [IMAGE_FOLDER] + [folders[name] for name in tasks]


def validate_layout(
    root: str | Path,
    split: str,
    tasks: Sequence[str],
    folders: Mapping[str, str] = TASK_FOLDERS,
    dataset: str = "NYUv2",
) -> int:
    """Check the directory layout of one split without loading arrays; return its size N.

    Raises:
        ConfigError: unknown task name or a split name that is not a plain folder name.
        MissingDataError: root, split folder or a needed modality folder does not exist.
        DataError: a folder does not hold exactly ``0.npy .. N-1.npy``, folders disagree on N,
            or N = 0.
    """
    hint = layout_hint(folders)
    folders = task_folders(tasks, folders, dataset)
    root = Path(root)
    if not split or split in (".", "..") or "/" in split or os.sep in split:
        raise ConfigError(
            f"split must be a plain folder name such as 'train' or 'val', got {split!r}"
        )
    if not root.is_dir():
        raise MissingDataError(
            f"{dataset} data root {root} does not exist; expected the layout {hint}"
        )
    split_dir = root / split
    if not split_dir.is_dir():
        raise MissingDataError(
            f"split folder {split_dir} does not exist; expected the layout {hint}"
        )
    counts: dict[str, int] = {}
    for folder in folders:
        path = split_dir / folder
        if not path.is_dir():
            raise MissingDataError(
                f"folder {path} does not exist; it holds the {folder!r} arrays (layout {hint})"
            )
        counts[folder] = _count_numbered_files(path)
    num = counts[IMAGE_FOLDER]
    if num == 0:
        raise DataError(
            f"folder {split_dir / IMAGE_FOLDER} holds no samples (expected 0.npy .. N-1.npy)"
        )
    for folder, count in counts.items():
        if count < num:
            raise DataError(
                f"folder {split_dir / folder} lacks {count}.npy: it holds {count} files, "
                f"{IMAGE_FOLDER}/ holds {num}"
            )
        if count > num:
            raise DataError(
                f"folder {split_dir / folder} has an extra file {num}.npy: it holds {count} "
                f"files, {IMAGE_FOLDER}/ holds {num}"
            )
    return num


def _count_numbered_files(folder: Path) -> int:
    """Number of files in ``folder`` after checking they are exactly ``0.npy .. N-1.npy``."""
    with os.scandir(folder) as entries:
        names = [(entry.name, entry.is_file()) for entry in entries]
    indices = set()
    for name, is_file in names:
        if name.startswith("."):  # hidden files (.DS_Store, editor locks) are not samples
            continue
        stem, suffix = os.path.splitext(name)
        # ASCII digits only, and str(int(stem)) == stem rejects "01.npy" and other spellings
        numbered = stem.isascii() and stem.isdigit() and str(int(stem)) == stem
        if suffix != ".npy" or not numbered or not is_file:
            raise DataError(
                f"unexpected entry {folder / name}: a sample folder holds only <i>.npy files"
            )
        indices.add(int(stem))
    if indices and max(indices) != len(indices) - 1:
        first_missing = min(set(range(max(indices) + 1)) - indices)
        raise DataError(
            f"folder {folder} lacks {first_missing}.npy: the files must be numbered "
            f"0.npy .. N-1.npy without gaps (highest is {max(indices)}.npy)"
        )
    return len(indices)


class MTPSLDataset(torch.utils.data.Dataset):
    """One split in the MTPSL ``.npy`` layout, one numpy sample dict per item.

    A sample holds ``image`` float32 (H, W, 3) in [0, 1], ``name`` ``"{split}/{i}"`` and, per
    requested task: ``semseg`` int64 (H, W) with 255 = ignore; ``depth`` float32 (H, W) in the
    dataset's unit, 0 = invalid; ``normals`` float32 (H, W, 3), all-zero = invalid; ``edge``
    float32 (H, W) in {0, 1}. ``transform``, if given, maps this dict to the item returned.

    Subclasses fix ``DATASET`` (name in messages), ``TASK_FOLDERS`` (task -> modality folder) and
    ``NUM_CLASSES``. The layout is checked at construction (directory listings only); arrays are
    checked when loaded. Nothing is ever written into ``root``.

    Args:
        root: folder that holds ``train/`` and ``val/``.
        split: split folder name (``train`` or ``val``).
        tasks: task names among the keys of ``TASK_FOLDERS``; only their folders are read.
        transform: callable applied to every sample dict.

    Raises:
        ConfigError: unknown task name.
        MissingDataError: root, split or a needed folder is missing.
        DataError: the files of the folders are not ``0.npy .. N-1.npy`` with one N.
    """

    DATASET = "NYUv2"
    TASK_FOLDERS: dict[str, str] = TASK_FOLDERS
    NUM_CLASSES = 13

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: Sequence[str],
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        self.num_samples = validate_layout(root, split, tasks, self.TASK_FOLDERS, self.DATASET)
        self.root = Path(root)
        self.split = split
        self.tasks = list(tasks)
        self.transform = transform
        # what split files key their rows by: the sample number
        self.sample_ids: list[str] = [str(i) for i in range(self.num_samples)]

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> Any:
        sample = self.load_sample(index)
        return sample if self.transform is None else self.transform(sample)

    def task_file(self, index: int, task: str) -> Path:
        """The ``.npy`` file of ``task`` of sample ``index``."""
        return self.root / self.split / self.TASK_FOLDERS[task] / f"{index}.npy"

    def check_files(self, min_size: int | None = None) -> None:
        """Every file's shape from its header, then a few samples in full (before any step).

        Args:
            min_size: the backbone's coarsest stride: images must be at least this high and wide.

        Raises:
            DataError: a file of another shape than its image's (both named), an image smaller
                than ``min_size``, a bad file among the samples read, or a task with no valid
                pixel in any of them.
            MissingDataError: a file vanished.
        """
        folders = {task: self.TASK_FOLDERS[task] for task in self.tasks}
        check_npy_split(self.root / self.split, IMAGE_FOLDER, folders, len(self), min_size)
        check_content(self)

    def load_sample(self, index: int) -> Sample:
        """Load and convert sample ``index`` (no transform).

        Raises:
            IndexError: index out of range.
            DataError: a file is corrupt or has a wrong shape or dtype (the message names the file).
        """
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index = index % self.num_samples
        split_dir = self.root / self.split
        image_path = split_dir / IMAGE_FOLDER / f"{index}.npy"
        image = convert_image(load_array(image_path), image_path)
        size = (image.shape[0], image.shape[1])
        sample: Sample = {"image": image}
        for task in self.tasks:
            path = self.task_file(index, task)
            array = load_array(path)
            if task == "semseg":
                sample[task] = convert_label(array, path, size, self.NUM_CLASSES)
            elif task == "depth":
                sample[task] = convert_depth(array, path, size)
            elif task == "normals":
                sample[task] = convert_normals(array, path, size)
            else:
                sample[task] = convert_edge(array, path, size)
        sample["name"] = f"{self.split}/{index}"
        return sample


def write_mtpsl_sample(
    root: str | Path,
    split: str,
    index: int,
    arrays: Mapping[str, np.ndarray],
    folders: Mapping[str, str] = TASK_FOLDERS,
) -> None:
    """Write one sample in the on-disk layout (used by tests and the synthetic data generator).

    Args:
        root: data root; folders are created as needed.
        split: split folder name.
        index: sample number i (file ``{i}.npy``).
        arrays: sample-format arrays keyed like the samples: ``image`` (H, W, 3) in [0, 1] and any
            of ``semseg`` (H, W) ints with 255 = ignore, ``depth`` (H, W), ``normals``
            (H, W, 3), ``edge`` (H, W). They are stored as float32 in the file format
            (label -1 = unlabelled, depth (H, W, 1)). A ``name`` key is ignored.
        folders: task -> modality folder of the dataset (default: NYUv2's).

    Raises:
        ConfigError: a key other than ``image``, ``name`` or a task of ``folders``.
    """
    split_dir = Path(root) / split
    for key, value in arrays.items():
        if key == "name":  # a sample dict as the reader returns it can be written back
            continue
        if key != "image" and key not in folders:
            raise ConfigError(f"cannot write key {key!r}; known keys: image, {', '.join(folders)}")
        array = np.asarray(value, dtype=np.float32)
        if key == "semseg":
            array = np.where(array == IGNORE_INDEX, FILE_LABEL_IGNORE, array).astype(np.float32)
        elif key == "depth" and array.ndim == 2:
            array = array[..., None]
        folder = split_dir / (IMAGE_FOLDER if key == "image" else folders[key])
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{index}.npy", array)
