"""Archives of a folder, zip or tar.gz, with one top folder as the published archives have."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path


def zip_folder(folder: Path, dest: Path, top: str | None = None) -> Path:
    """Zip every file under ``folder`` as ``<top>/<relative path>``; return ``dest``."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                zipped.write(path, f"{top}/{name}" if top else name)
    return dest


def tar_folder(folder: Path, dest: Path, top: str) -> Path:
    """Write ``folder`` as the top folder ``top`` of a tar.gz archive; return ``dest``."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=top)
    return dest
