"""Reader of PASCAL-Context for multi-task learning in the ATRC/InvPT layout (``PASCAL_MT``).

On disk, ``<id>`` being an image id such as ``2008_000002``::

    root/JPEGImages/<id>.jpg                      RGB image (up to 500×500)
    root/ImageSets/Context/{train,val}.txt        one id a line (4,998 / 5,105)
    root/semseg/VOC12/<id>.png                    21 classes 0..20 (255 ignore); when absent:
    root/semseg/pascal-context/<id>.png           the same, mapped from the context labels
    root/human_parts/<id>.mat                     PASCAL-Part struct ``anno`` (6 parts)
    root/sal_distill/<id>.png                     distilled saliency, salient where v/255 > 0.5
    root/normals_distill/<id>.png                 distilled normals, n = 2v/255 - 1 per channel
    root/pascal-context/trainval/<id>.mat         ``LabelMap`` of 459 context classes

Boundaries (``edge``) come from the ``LabelMap``; normals are kept only on NYU-compatible context
classes (``dmtl.data.readers.pascal_annotations``).
Samples come out as numpy dicts: ``image`` float32
(H, W, 3) in [0, 1], ``name`` the image id, and per task ``semseg``/``human_parts``/``sal`` int64
(H, W) with 255 = ignore, ``normals`` float32 (H, W, 3) with 0 = invalid, ``edge`` float32 (H, W)
in {0, 1}. Images differ in size: the transforms crop or pad them (``dmtl.data.augment``).
Nothing is ever written under ``root`` (the literature's loaders cache a part index there).
When ``root/predecoded/<split>`` holds the split pre-decoded (``dmtl.data.readers.predecoded``,
written by ``dmtl prepare``) and matches the split list, samples are read from it instead: the same
arrays, without decoding any file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dmtl.data.datasets import dataset_info
from dmtl.data.readers.checks import check_content, check_label_sizes
from dmtl.data.readers.id_lists import check_reader_args, folder_listing, read_id_list
from dmtl.data.readers.pascal_annotations import (
    boundaries,
    context_label_map,
    human_parts_target,
    normals_valid,
)
from dmtl.data.readers.predecoded import Compact, expand, open_predecoded
from dmtl.errors import DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX

NUM_CLASSES = dataset_info("pascal_context").channels["semseg"]
SALIENT_THRESHOLD = 0.5  # fraction of 255 above which a distilled saliency pixel is salient
IMAGE_FOLDER, IMAGE_SUFFIX = "JPEGImages", ".jpg"
SPLIT_FOLDER = Path("ImageSets") / "Context"
SEMSEG_FOLDERS = (Path("semseg") / "VOC12", Path("semseg") / "pascal-context")  # in this order
LABEL_MAP_FOLDER = Path("pascal-context") / "trainval"
# task -> (folder, suffix) of its file; semseg may sit in either SEMSEG_FOLDERS
TASK_FILES: dict[str, tuple[Path, str]] = {
    "human_parts": (Path("human_parts"), ".mat"),
    "sal": (Path("sal_distill"), ".png"),
    "normals": (Path("normals_distill"), ".png"),
    "edge": (LABEL_MAP_FOLDER, ".mat"),
}
TASKS = ("semseg", "human_parts", "sal", "normals", "edge")
PNG_TASKS = ("semseg", "sal", "normals")  # tasks stored as PNG of the image's size

Sample = dict[str, Any]


def read_split_list(root: Path, split: str) -> list[str]:
    """Image ids of ``ImageSets/Context/<split>.txt``, in file order (``read_id_list``)."""
    return read_id_list(root / SPLIT_FOLDER / f"{split}.txt")


def _read_png(path: Path, channels: int) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) of a PNG; a bad file names itself."""
    try:
        with Image.open(path) as png:
            array = np.asarray(png)
    except FileNotFoundError as err:
        raise MissingDataError(f"file {path} does not exist") from err
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise DataError(f"cannot read {path} as a PNG image: {err}") from err
    expected = 2 if channels == 1 else 3
    if array.ndim != expected or (channels == 3 and array.shape[2] != 3):
        raise DataError(f"{path} has shape {array.shape}; expected {channels} channel(s)")
    return array


class PascalContextDataset(torch.utils.data.Dataset):
    """One split of PASCAL-Context (``train`` or ``val``), one numpy sample dict per item.

    The split list and, per requested task, the presence of every image's file are checked at
    construction (directory listings only); files are checked when loaded. A current pre-decoded
    form of the split is used when ``predecoded`` (a stale one is ignored with a warning).

    Args:
        root: the ``PASCAL_MT`` folder.
        split: ``train`` or ``val`` (a list under ``ImageSets/Context``).
        tasks: among ``semseg``, ``human_parts``, ``sal``, ``normals``, ``edge``.
        transform: callable applied to every sample dict.
        predecoded: read ``root/predecoded/<split>`` when it is present and current.

    Raises:
        ConfigError: unknown or duplicated task, or a split name that is not a plain name.
        MissingDataError: root, split list, a folder, or an image's JPEG or label file is missing.
        DataError: an empty split list or one that names an image twice.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: Sequence[str],
        transform: Callable[[Sample], Any] | None = None,
        predecoded: bool = True,
    ) -> None:
        check_reader_args(tasks, TASKS, split, "PASCAL-Context")
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingDataError(f"PASCAL-Context root {self.root} does not exist")
        self.split = split
        self.tasks = list(tasks)
        self.transform = transform
        self.sample_ids = read_split_list(self.root, split)
        self.files = self._find_files()
        self.predecoded = (
            open_predecoded(self.root, split, self.sample_ids, self.tasks) if predecoded else None
        )

    def _find_files(self) -> list[dict[str, Path]]:
        """Per image: the path of its JPEG, of each task's file and of its LabelMap if needed."""
        needs: dict[str, tuple[Path, str]] = {"image": (Path(IMAGE_FOLDER), IMAGE_SUFFIX)}
        for task in self.tasks:
            if task in TASK_FILES:
                needs[task] = TASK_FILES[task]
        if "normals" in self.tasks:  # normals are masked with the context classes
            needs["label_map"] = (LABEL_MAP_FOLDER, ".mat")
        listings = {key: folder_listing(self.root / folder) for key, (folder, _) in needs.items()}
        semseg_listings = []
        if "semseg" in self.tasks:
            semseg_listings = [
                (f, folder_listing(self.root / f))
                for f in SEMSEG_FOLDERS
                if (self.root / f).is_dir()
            ]
            if not semseg_listings:
                raise MissingDataError(f"folder {self.root / SEMSEG_FOLDERS[1]} does not exist")
        files = []
        for image_id in self.sample_ids:
            paths = {}
            for key, (folder, suffix) in needs.items():
                if image_id + suffix not in listings[key]:
                    raise self._missing(image_id, key, self.root / folder / (image_id + suffix))
                paths[key] = self.root / folder / (image_id + suffix)
            if semseg_listings:
                found = [f for f, names in semseg_listings if image_id + ".png" in names]
                if not found:
                    expected = self.root / SEMSEG_FOLDERS[1] / (image_id + ".png")
                    raise self._missing(image_id, "semseg", expected)
                paths["semseg"] = self.root / found[0] / (image_id + ".png")
            files.append(paths)
        return files

    def _missing(self, image_id: str, key: str, path: Path) -> MissingDataError:
        if key == "image":
            return MissingDataError(
                f"image {image_id!r} of split list {self.root / SPLIT_FOLDER / self.split}.txt "
                f"has no JPEG: {path} does not exist"
            )
        jpeg = self.root / IMAGE_FOLDER / (image_id + IMAGE_SUFFIX)
        return MissingDataError(f"{jpeg} has no {key} label: {path} does not exist")

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, index: int) -> Any:
        if self.transform is None:
            return self.load_sample(index)
        # A transform that makes class-id and edge maps uint8 itself takes them so (same output),
        # and the normals in their kind's compact form (decoded on the device, the same values).
        compact = getattr(self.transform, "takes_uint8_ids", False)
        ids, edges = (np.uint8, np.uint8) if compact else (np.int64, np.float32)
        if hasattr(self.transform, "from_compact"):  # expands what it keeps (the same output)
            return self.transform.from_compact(
                self.load_compact(index),
                functools.partial(
                    expand, tasks=self.tasks, ids=ids, edges=edges, normal_codes=compact
                ),
                self.sample_ids[index],
            )
        sample: Sample = expand(
            self.load_compact(index), self.tasks, ids, edges, normal_codes=compact
        )
        sample["name"] = self.sample_ids[index]
        return self.transform(sample)

    def task_file(self, index: int, task: str) -> Path:
        """The file of ``task`` of sample ``index`` (the image's for a task without one)."""
        paths = self.files[index]
        return paths.get(task, paths["image"])

    def check_files(self, min_size: int | None = None) -> None:
        """The size of every PNG label against its JPEG's (headers), then a few samples in full.

        ``min_size`` is not compared here: the ATRC protocol crops or pads every image to
        ``data.crop_size``, which the data module checks against it.

        Raises:
            DataError: a label file of another size than its image (both sizes named), a bad file
                among the samples read, or a task with no valid pixel in any of them.
            MissingDataError: a file vanished.
        """
        check_label_sizes(self.files, [t for t in self.tasks if t in PNG_TASKS])
        check_content(self)

    def load_sample(self, index: int) -> Sample:
        """Load and convert sample ``index`` (no transform).

        Raises:
            IndexError: index out of range.
            MissingDataError, DataError: a file vanished, is corrupt or disagrees with the image.
        """
        sample: Sample = expand(self.load_compact(index), self.tasks)
        sample["name"] = self.sample_ids[index]
        return sample

    def load_compact(self, index: int) -> Compact:
        """Sample ``index`` as the uint8 fields of ``dmtl.data.readers.predecoded``.

        From the pre-decoded form when it is in use, else decoded from the files.

        Raises:
            IndexError: index out of range.
            MissingDataError, DataError: a file vanished, is corrupt or disagrees with the image.
        """
        if self.predecoded is not None:
            return self.predecoded.compact(index)
        paths = self.files[index]
        image = self._load_image(paths["image"])
        size = (image.shape[0], image.shape[1])
        compact: Compact = {"image": image}
        label_map = None
        if "edge" in self.tasks or "normals" in self.tasks:
            label_map = context_label_map(paths.get("edge", paths.get("label_map")), size)
        for task in self.tasks:
            if task == "semseg":
                compact[task] = self._load_semseg(paths[task], size)
            elif task == "human_parts":
                compact[task] = human_parts_target(paths[task], size).astype(np.uint8)
            elif task == "sal":
                compact[task] = self._load_saliency(paths[task], size)
            elif task == "normals":
                compact[task] = self._load_normals(paths[task], size)
                compact["normals_valid"] = normals_valid(label_map).astype(np.uint8)
            else:
                compact[task] = boundaries(label_map).astype(np.uint8)
        return compact

    @staticmethod
    def _load_image(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as jpeg:
                return np.asarray(jpeg.convert("RGB"))
        except FileNotFoundError as err:
            raise MissingDataError(f"file {path} does not exist") from err
        except Exception as err:  # PIL raises several types for corrupt images
            raise DataError(f"cannot read {path} as an image: {err}") from err

    @staticmethod
    def _check_size(array: np.ndarray, path: Path, size: tuple[int, int]) -> None:
        if array.shape[:2] != size:
            raise DataError(f"{path} is {array.shape[:2]}; its image is {size}")

    def _load_semseg(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        labels = _read_png(path, 1)
        self._check_size(labels, path, size)
        bad = (labels >= NUM_CLASSES) & (labels != IGNORE_INDEX)
        if bad.any():
            raise DataError(
                f"{path} holds label {int(labels[bad][0])}; expected classes 0..{NUM_CLASSES - 1} "
                f"or {IGNORE_INDEX}"
            )
        return labels

    def _load_saliency(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        values = _read_png(path, 1)
        self._check_size(values, path, size)
        return (values.astype(np.float32) / 255.0 > SALIENT_THRESHOLD).astype(np.uint8)

    def _load_normals(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        values = _read_png(path, 3)
        self._check_size(values, path, size)
        return values
