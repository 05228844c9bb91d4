"""Reader of one's own data: a folder of images and any subset of label maps (``dataset: folder``).

On disk, ``<id>`` being a file name without its suffix::

    root/splits/{train,val}.txt     one image id a line
    root/images/<id>.png|.jpg       RGB image; every image of the folder has the same size
    root/semseg/<id>.png            class ids 0..C-1 (C = data.num_classes.semseg), 255 = ignore
    root/depth/<id>.png|.npy        16-bit PNG in millimetres, or float .npy in metres; 0 = invalid
    root/normals/<id>.png|.npy      PNG with n = 2v/255 - 1 per channel, or float .npy (H, W, 3);
                                    all-zero (black PNG pixel) = invalid
    root/edge/<id>.png              boundary map, 0 or 255
    root/sal/<id>.png               saliency, salient where v/255 > 0.5

Only the folders of the requested tasks are read. An image without a map of a task has no label
of that task: its target is all-invalid and ``available`` marks the (image, task) pair unlabelled,
which the data module applies to the label mask (``with_available_labels``). Samples come out in
the format of the other readers: ``image`` float32 (H, W, 3) in [0, 1], ``semseg``/``sal`` int64
(H, W) with 255 = ignore, ``depth`` float32 (H, W) metres, ``normals`` float32 (H, W, 3),
``edge`` float32 (H, W) in {0, 1} (255 where the map is missing), ``name`` the image id; the
formats are decoded by ``dmtl.data.readers.folder_maps``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dmtl.data.readers.checks import check_size_fits
from dmtl.data.readers.folder_maps import DECODERS, missing_target, read_map, read_rgb
from dmtl.data.readers.id_lists import check_reader_args, read_id_list
from dmtl.errors import ConfigError, DataError, MissingDataError

IMAGE_FOLDER, SPLIT_FOLDER = "images", "splits"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# task -> suffixes its map may have, in the order they are looked for
TASK_SUFFIXES: dict[str, tuple[str, ...]] = {
    "semseg": (".png",),
    "depth": (".png", ".npy"),
    "normals": (".png", ".npy"),
    "edge": (".png",),
    "sal": (".png",),
}

Sample = dict[str, Any]


def read_ids(root: Path, split: str) -> list[str]:
    """Image ids of ``root/splits/<split>.txt``, in file order (``read_id_list``)."""
    return read_id_list(root / SPLIT_FOLDER / f"{split}.txt")


def _stems(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """File stem -> path of the files of ``folder`` with one of ``suffixes`` (first suffix wins)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries if entry.is_file())
    for suffix in reversed(suffixes):
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext.lower() == suffix:
                found[stem] = folder / name
    return found


class FolderDataset(torch.utils.data.Dataset):
    """One split of a folder in the layout of this module, one numpy sample dict per item.

    The split list, the images and which maps exist are checked at construction (directory
    listings and image headers); the maps' contents are checked when loaded.

    Args:
        root: the folder that holds ``images/``, ``splits/`` and the task folders.
        split: ``train`` or ``val`` (a list under ``splits/``).
        tasks: among ``semseg``, ``depth``, ``normals``, ``edge``, ``sal``.
        transform: callable applied to every sample dict.
        num_classes: ``{task: classes}``; ``semseg`` needs its count.

    Raises:
        ConfigError: unknown or duplicated task, a split name that is not a plain name, or
            ``semseg`` without a class count.
        MissingDataError: root, split list or an image is missing, or a task has no map at all.
        DataError: an empty split list, one that names an image twice, an unreadable image, or
            images of different sizes.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: Sequence[str],
        transform: Callable[[Sample], Any] | None = None,
        num_classes: Mapping[str, int] | None = None,
    ) -> None:
        check_reader_args(tasks, TASK_SUFFIXES, split, "a folder")
        self.num_classes = dict(num_classes or {})
        if "semseg" in tasks and not isinstance(self.num_classes.get("semseg"), int):
            raise ConfigError("the folder dataset's semseg needs data.num_classes: {semseg: N}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingDataError(f"data folder {self.root} does not exist")
        self.split, self.tasks, self.transform = split, list(tasks), transform
        self.sample_ids = read_ids(self.root, split)
        images = _stems(self.root / IMAGE_FOLDER, IMAGE_SUFFIXES)
        missing = [i for i in self.sample_ids if i not in images]
        if missing:
            raise MissingDataError(
                f"image {missing[0]!r} of split list {self.root / SPLIT_FOLDER / split}.txt has "
                f"no file {self.root / IMAGE_FOLDER / missing[0]}{{{','.join(IMAGE_SUFFIXES)}}}"
            )
        self.images = [images[i] for i in self.sample_ids]
        self.size = self._common_size()
        self.maps: dict[str, list[Path | None]] = {}
        for task in self.tasks:
            found = _stems(self.root / task, TASK_SUFFIXES[task])
            self.maps[task] = [found.get(i) for i in self.sample_ids]
            if not any(self.maps[task]):
                raise MissingDataError(
                    f"no {task} map of split {split!r} in {self.root / task} "
                    f"(<id>{'|'.join(TASK_SUFFIXES[task])})"
                )
        # bool (N, K): whether image i has a map of task k
        self.available = torch.tensor(
            [[self.maps[t][i] is not None for t in self.tasks] for i in range(len(self))],
            dtype=torch.bool,
        ).reshape(len(self), len(self.tasks))

    def _common_size(self) -> tuple[int, int]:
        """(H, W) shared by every image of the split (read from the headers only)."""
        size = None
        for path in self.images:
            try:
                with Image.open(path) as img:
                    width, height = img.size
            except Exception as err:  # PIL raises several types for corrupt images
                raise DataError(f"cannot read {path} as an image: {err}") from err
            if size is None:
                size, first = (height, width), path
            elif (height, width) != size:
                raise DataError(
                    f"{path} is {height}x{width} but {first} is {size[0]}x{size[1]}: the folder "
                    f"dataset needs images of one size (resize them first)"
                )
        return size

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, index: int) -> Any:
        sample = self.load_sample(index)
        return sample if self.transform is None else self.transform(sample)

    def task_file(self, index: int, task: str) -> Path:
        """The map of ``task`` of sample ``index`` (the image where it has none)."""
        return self.maps[task][index] or self.images[index]

    def check_files(self, min_size: int | None = None) -> None:
        """The images' common size (read at construction) against ``min_size``.

        The maps' sizes and values are checked when each is read; a map may be missing (its
        pair is unlabelled), so no sample is required to hold a valid pixel.

        Raises:
            DataError: the images are smaller than ``min_size`` (the backbone's coarsest stride).
        """
        check_size_fits(self.size, min_size, f"the image size of {self.root / IMAGE_FOLDER}")

    def load_sample(self, index: int) -> Sample:
        """Load and convert sample ``index`` (no transform).

        Raises:
            IndexError: index out of range.
            MissingDataError, DataError: a file vanished, is corrupt or disagrees with the image.
        """
        path = self.images[index]
        sample: Sample = {"image": read_rgb(path)}
        for task in self.tasks:
            map_path = self.maps[task][index]
            if map_path is None:
                sample[task] = missing_target(task, self.size)
                continue
            value = read_map(map_path)
            if value.shape[:2] != self.size:
                raise DataError(f"{map_path} is {value.shape[:2]}; its image {path} is {self.size}")
            extra = (self.num_classes["semseg"],) if task == "semseg" else ()
            sample[task] = DECODERS[task](value, map_path, *extra)
        sample["name"] = self.sample_ids[index]
        return sample


def with_available_labels(
    data: torch.utils.data.Dataset, labelled: torch.Tensor, split_file: str | None
) -> torch.Tensor:
    """The label mask ``labelled`` (N, K) of ``data``'s tasks, less the pairs without a map.

    Datasets without an ``available`` mask (every reader but ``FolderDataset``) keep ``labelled``.

    Raises:
        DataError: ``split_file`` marks a pair labelled whose map does not exist.
    """
    available = getattr(data, "available", None)
    if available is None:
        return labelled
    lacking = labelled & ~available
    if split_file is not None and lacking.any():
        i, k = (int(v) for v in lacking.nonzero()[0])
        task = data.tasks[k]
        raise DataError(
            f"split file {split_file} labels {task} of image {data.sample_ids[i]!r}, which has "
            f"no map in {data.root / task}"
        )
    return labelled & available
