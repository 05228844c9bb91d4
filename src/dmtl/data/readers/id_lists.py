"""What a split-list reader is asked for: the split list (one image id a line: PASCAL-Context's
ImageSets, the folder dataset's splits) and its task and split arguments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dmtl.errors import ConfigError, DataError, MissingDataError


def read_id_list(path: Path) -> list[str]:
    """The image ids of the list ``path``, in file order (blank lines skipped).

    Raises:
        MissingDataError: the list does not exist.
        DataError: it is empty or names an image twice.
    """
    if not path.is_file():
        raise MissingDataError(f"split list {path} does not exist (one image id a line)")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"split list {path} names no image")
    seen: set[str] = set()
    for image_id in ids:
        if image_id in seen:
            raise DataError(f"split list {path} names image {image_id!r} twice")
        seen.add(image_id)
    return ids


def check_reader_args(
    tasks: Sequence[str], supported: Sequence[str], split: str, source: str
) -> None:
    """Refuse a task list that is not distinct names of ``supported``, or a split that is a path.

    Raises:
        ConfigError: naming the bad task list, the first unsupported task (read from ``source``),
            or the split.
    """
    if isinstance(tasks, str) or len(set(tasks)) != len(tasks):
        raise ConfigError(f"tasks must be a list of distinct task names, got {tasks!r}")
    unknown = [t for t in tasks if t not in supported]
    if unknown:
        raise ConfigError(
            f"task {unknown[0]!r} cannot be read from {source}; supported: {', '.join(supported)}"
        )
    if not split or "/" in split or os.sep in split or split in (".", ".."):
        raise ConfigError(f"split must be a plain name such as 'train' or 'val', got {split!r}")


def folder_listing(folder: Path) -> set[str]:
    """The names in ``folder`` (one directory scan, so that a split's files are checked without a
    ``stat`` each); a missing folder is a ``MissingDataError`` naming it."""
    if not folder.is_dir():
        raise MissingDataError(f"folder {folder} does not exist")
    with os.scandir(folder) as entries:
        return {entry.name for entry in entries}
