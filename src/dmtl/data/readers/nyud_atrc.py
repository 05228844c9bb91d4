"""NYUD-v2 for multi-task learning in the ATRC/InvPT layout (the ``NYUD_MT`` dataset of that code).

On disk, ``<id>`` being an image id of the split lists::

    root/gt_sets/{train,val}.txt     one id a line (795 / 654)
    root/images/<id>.png             RGB, 8 bits a channel (425×560)
    root/segmentation/<id>.png       one channel: 0 = void, v = 1..40 is class v - 1
    root/depth/<id>.npy              float (H, W) in metres, 0 = invalid
    root/normals/<id>.png            RGB: n = 2v/255 - 1 per channel
    root/edge/<id>.png               one channel: boundary where v/255 >= 0.5 (0 and 255)

This is the tree of ATRC's ``NYUDv2.tar.gz``. The older copy of MTI-Net/ASTMT, ``NYUD_MT.tgz``,
has the same folders and split lists with ``images/<id>.jpg``, ``normals/<id>.npy`` (float
(H, W, 3)) and ``edge/<id>.npy`` (float (H, W) in {0, 1}); both are read, each file by the suffix
it has (the first found of ``IMAGE_SUFFIXES`` / ``TASK_FILES``).

Where each fact comes from (public code, read, not copied):

* folder names, suffixes and split lists, the semseg offset (v - 1, void 0 -> 255), 40 classes,
  edge v/255, normals 2v/255 - 1 and depth ``.npy``: ``src/data/nyud.py`` of brdav/atrc (commits
  5714e58..9fc4cdf, the ``NYUDv2`` tree) and ``InvPT/data/nyud.py`` of
  prismformore/Multi-Task-Transformer (class ``NYUD_MT``, root ``db_paths['NYUD_MT']`` =
  ``NYUDv2`` in ``InvPT/configs/mypath.py``);
* the ``.jpg``/``.npy`` variant: ``data/nyud.py`` of SimonVandenhende/Multi-Task-Learning-PyTorch
  and ``src/data/nyud.py`` of brdav/atrc from commit 3525804 on (root ``NYUD_MT``);
* depth 0 = invalid: ``RandomScaling`` in brdav/atrc ``src/data/transforms.py`` ("ignore regions
  for depth are 0") and ``AddIgnoreRegions`` in ``InvPT/data/transforms.py`` (0 -> ignore);
* the image size 425×560: ``image_dims`` of brdav/atrc ``src/data/nyud.py``; the class names:
  ``data/nyud/classes.txt`` of shelhamer/fcn.berkeleyvision.org (Gupta et al.'s 40 classes).

Samples come out as the other readers' numpy dicts: ``image`` float32 (H, W, 3) in [0, 1],
``name`` the image id, ``semseg`` int64 (H, W) with 255 = ignore, ``depth`` float32 (H, W) metres
with 0 = invalid, ``normals`` float32 (H, W, 3) with all-zero (a black PNG pixel) = invalid,
``edge`` float32 (H, W) in {0, 1}. Every file a split needs is found at construction (directory
listings only); files are checked when loaded. Nothing is ever written under ``root``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmtl.data.datasets import dataset_info
from dmtl.data.readers.checks import check_content, check_label_sizes
from dmtl.data.readers.folder_maps import decode_depth, decode_normals, read_map, read_rgb
from dmtl.data.readers.id_lists import check_reader_args, folder_listing, read_id_list
from dmtl.data.readers.mtpsl_arrays import convert_edge
from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

NUM_CLASSES = dataset_info("nyud").channels["semseg"]
FILE_VOID = 0  # the void label of the segmentation PNGs; class ids are stored shifted by one
EDGE_THRESHOLD = 128  # an edge PNG pixel is a boundary where v/255 >= 0.5
SPLIT_FOLDER = "gt_sets"
IMAGE_FOLDER, IMAGE_SUFFIXES = "images", (".png", ".jpg")
# task -> (folder, suffixes its file may have, in the order they are looked for)
TASK_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "semseg": ("segmentation", (".png",)),
    "depth": ("depth", (".npy",)),
    "normals": ("normals", (".png", ".npy")),
    "edge": ("edge", (".png", ".npy")),
}
TASKS = tuple(TASK_FILES)

Sample = dict[str, Any]


def read_split_list(root: Path, split: str) -> list[str]:
    """Image ids of ``gt_sets/<split>.txt``, in file order (``read_id_list``)."""
    return read_id_list(root / SPLIT_FOLDER / f"{split}.txt")


def _find(names: set[str], image_id: str, suffixes: Sequence[str]) -> str | None:
    """The first ``<id><suffix>`` of ``suffixes`` that ``names`` holds."""
    for suffix in suffixes:
        if image_id + suffix in names:
            return image_id + suffix
    return None


def decode_semseg(value: np.ndarray, path: Path) -> np.ndarray:
    """int64 (H, W) class ids 0..39 with 255 = ignore of a segmentation PNG (0 void, 1..40)."""
    if value.ndim != 2 or value.dtype.kind not in "ui":
        raise DataError(f"{path} has shape {value.shape} ({value.dtype}); expected one channel "
                        "of integer labels")  # fmt: skip
    bad = value > NUM_CLASSES
    if bad.any():
        raise DataError(f"{path} holds label {int(value[bad][0])}; expected 0 (void) or classes "
                        f"1..{NUM_CLASSES}")  # fmt: skip
    labels = value.astype(np.int64) - 1
    labels[value == FILE_VOID] = IGNORE_INDEX
    return labels


def decode_edge(value: np.ndarray, path: Path) -> np.ndarray:
    """float32 (H, W) in {0, 1} of an edge PNG (v/255 >= 0.5) or of a ``.npy`` in {0, 1}."""
    if path.suffix == ".npy":
        return convert_edge(value, path, value.shape[:2])
    if value.ndim != 2:
        raise DataError(f"{path} has shape {value.shape}; expected a one-channel edge PNG")
    if value.max() == 1:  # a 0/1 map stored as a PNG would otherwise read as no edge at all
        raise DataError(f"{path} holds only 0 and 1; edge PNGs hold 0 and 255 (edge)")
    return (value >= EDGE_THRESHOLD).astype(np.float32)


class NYUDDataset(torch.utils.data.Dataset):
    """One split of NYUD-v2 in the ATRC layout (``train`` or ``val``), one numpy dict per item.

    Args:
        root: the ``NYUDv2`` (or ``NYUD_MT``) folder.
        split: ``train`` or ``val`` (a list under ``gt_sets``).
        tasks: among ``semseg``, ``depth``, ``normals``, ``edge``.
        transform: callable applied to every sample dict.

    Raises:
        ConfigError: unknown or duplicated task, or a split name that is not a plain name.
        MissingDataError: root, split list, a folder, or an image's file of a task is missing.
        DataError: an empty split list or one that names an image twice.
    """

    DATASET = "NYUD-v2"

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: Sequence[str],
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        check_reader_args(tasks, TASKS, split, self.DATASET)
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingDataError(f"{self.DATASET} root {self.root} does not exist")
        self.split = split
        self.tasks = list(tasks)
        self.transform = transform
        self.sample_ids = read_split_list(self.root, split)
        self.files = self._find_files()

    def _find_files(self) -> list[dict[str, Path]]:
        """Per image: the path of its image and of each requested task's file."""
        needs = {"image": (IMAGE_FOLDER, IMAGE_SUFFIXES)}
        needs.update({task: TASK_FILES[task] for task in self.tasks})
        listings = {key: folder_listing(self.root / folder) for key, (folder, _) in needs.items()}
        files = []
        for image_id in self.sample_ids:
            paths = {}
            for key, (folder, suffixes) in needs.items():
                name = _find(listings[key], image_id, suffixes)
                if name is None:
                    raise self._missing(image_id, key, self.root / folder, suffixes)
                paths[key] = self.root / folder / name
            files.append(paths)
        return files

    def _missing(
        self, image_id: str, key: str, folder: Path, suffixes: Sequence[str]
    ) -> MissingDataError:
        expected = folder / (image_id + suffixes[0])
        other = f" (nor {', '.join(s for s in suffixes[1:])})" if len(suffixes) > 1 else ""
        if key == "image":
            return MissingDataError(
                f"image {image_id!r} of split list {self.root / SPLIT_FOLDER / self.split}.txt "
                f"has no image file: {expected} does not exist{other}"
            )
        return MissingDataError(
            f"image {image_id!r} has no {key} label: {expected} does not exist{other}"
        )

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, index: int) -> Any:
        sample = self.load_sample(index)
        return sample if self.transform is None else self.transform(sample)

    def task_file(self, index: int, task: str) -> Path:
        """The file of ``task`` of sample ``index``."""
        return self.files[index][task]

    def check_files(self, min_size: int | None = None) -> None:
        """Every label file's size against its image's (headers), then a few samples in full.

        ``min_size`` is not compared here: the ATRC protocol crops or pads every image to
        ``data.crop_size``, which the data module checks against it.

        Raises:
            DataError: a label file of another size than its image (both sizes named), a bad file
                among the samples read, or a task with no valid pixel in any of them.
            MissingDataError: a file vanished.
        """
        check_label_sizes(self.files, self.tasks)
        check_content(self)

    def load_sample(self, index: int) -> Sample:
        """Load and convert sample ``index`` (no transform).

        Raises:
            IndexError: index out of range.
            MissingDataError, DataError: a file vanished, is corrupt or disagrees with the image.
        """
        paths = self.files[index]
        sample: Sample = {"image": read_rgb(paths["image"])}
        size = sample["image"].shape[:2]
        for task in self.tasks:
            path = paths[task]
            value = read_map(path)
            if value.shape[:2] != size:
                raise DataError(
                    f"{path} is {value.shape[0]}×{value.shape[1]}; its image {paths['image']} is "
                    f"{size[0]}×{size[1]}"
                )
            if task == "semseg":
                sample[task] = decode_semseg(value, path)
            elif task == "depth":
                sample[task] = decode_depth(value, path)
            elif task == "normals":
                sample[task] = decode_normals(value, path)
            else:
                sample[task] = decode_edge(value, path)
        sample["name"] = self.sample_ids[index]
        return sample
