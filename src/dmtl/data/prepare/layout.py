"""Checks that an extracted archive holds a dataset's layout, read by dmtl's own readers.

The check is the readers' construction (every folder, list and file a split needs; directory
listings only) plus the loading of each split's first sample, and of every split file against the
training split. Paths inside the archive are written ``<archive>:<path>`` in the messages, not as
paths of the temporary folder it was extracted into.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dmtl.data.datasets import dataset_info, preparation_of
from dmtl.data.split_files import read_split_file
from dmtl.errors import DataError, DMTLError

SPLITS = ("train", "val")
IGNORED_TOP = ("__MACOSX",)  # the resource folders of archives made on macOS
MAX_WRAPPERS = 3  # top folders above the layout an archive may have (PASCALContext/, ...)


@dataclass(frozen=True)
class Layout:
    """What the check found: the samples per split and the training samples' ids."""

    counts: dict[str, int]
    train_ids: list[str]


def layout_root(extracted: Path) -> Path:
    """The folder of an extracted archive that holds the layout: below its lone top folders."""
    folder = extracted
    for _ in range(MAX_WRAPPERS):
        entries = [e for e in folder.iterdir() if e.name not in IGNORED_TOP]
        visible = [e for e in entries if not e.name.startswith(".")]
        if len(visible) != 1 or not visible[0].is_dir():
            break
        folder = visible[0]
    return folder


def _relative(message: str, extracted: Path, name: str) -> str:
    """``message`` with the paths under ``extracted`` written as ``<name>:<path in archive>``."""
    return message.replace(f"{extracted}{os.sep}", f"{name}:").replace(str(extracted), name)


def check_layout(dataset: str, root: Path, extracted: Path, name: str) -> Layout:
    """Read ``root`` as ``dataset`` the way training does, without keeping anything.

    Args:
        dataset: a dataset that ``dmtl prepare`` gets: its ``Preparation.readings`` are read
            (``dmtl.data.datasets``); an optional reading only where its semseg folder exists.
        root: the folder that should hold the layout (``layout_root``'s answer).
        extracted: the folder the archive was extracted into (for the messages).
        name: the archive's name (for the messages).

    Raises:
        DataError: a folder, list or file is missing or unreadable; the message names it.
    """
    counts: dict[str, int] = {}
    train_ids: list[str] = []
    for reading in preparation_of(dataset).readings:
        info = dataset_info(reading.dataset)
        tasks = info.standard_tasks if reading.tasks is None else reading.tasks
        folders = getattr(info.reader_class(), "TASK_FOLDERS", {})
        folder = folders.get("semseg")
        if not reading.required and not all((root / s / folder).is_dir() for s in SPLITS):
            continue
        for split in SPLITS:
            try:
                data = info.open(root, split, tasks)
                data.load_sample(0)
            except DMTLError as err:
                message = _relative(str(err), extracted, name)
                raise DataError(f"{name} does not hold the {dataset} layout: {message}") from err
            counts.setdefault(split, len(data))
            if split == "train" and not train_ids:
                train_ids = list(data.sample_ids)
    return Layout(counts, train_ids)


def check_split_file(dataset: str, path: Path, train_ids: Sequence[str], name: str) -> None:
    """Read a split file against the archive's training samples, as ``--data.split_file`` does.

    Raises:
        DataError: unreadable, or not matching the training split; the message names the file.
    """
    try:
        read_split_file(path, list(train_ids), list(dataset_info(dataset).standard_tasks))
    except DMTLError as err:
        message = str(err).strip().splitlines()[0]
        raise DataError(
            f"the split file does not fit the archive {name}: {message} (pass --no-splits to "
            "prepare the archive without the split files)"
        ) from err
