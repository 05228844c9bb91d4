"""Split lists: one image id a line (PASCAL-Context's ImageSets, the folder dataset's splits)."""

from __future__ import annotations

from pathlib import Path

from dmtl.errors import DataError, MissingDataError


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
