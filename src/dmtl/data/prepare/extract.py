"""Extract a zip or tar(.gz) archive, refusing every member that could land outside its folder.

The format is read from the file's first bytes, not its name. A member with an absolute path, a
``..`` component or a drive letter, a link (symbolic or hard) and a device or FIFO are refused
with a ``DataError`` before anything of it is written; a corrupt or truncated archive is a
``DataError`` too. The caller extracts into a fresh folder and discards it on any error.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dmtl.errors import DataError

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
# tarfile's own "data" filter (Python >= 3.11.4) on top of the checks below
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def extract(archive: Path, dest: Path) -> int:
    """Extract ``archive`` into the folder ``dest`` (created); return the number of files.

    Raises:
        DataError: not a zip or tar archive, corrupt or truncated, or holding an unsafe member.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with open(archive, "rb") as file:
        magic = file.read(4)
    try:
        if magic in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
            return _unzip(archive, dest)
        return _untar(archive, dest)
    except DataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as err:
        raise DataError(f"archive {archive} is corrupt or truncated ({_reason(err)})") from err
    except OSError as err:  # gzip's "Not a gzipped file", a full disk
        raise DataError(f"cannot extract archive {archive}: {_reason(err)}") from err


def _reason(err: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(err).split()) or type(err).__name__


def member_path(name: str, archive: Path) -> PurePosixPath:
    """The relative path a member is extracted to.

    Raises:
        DataError: the name is absolute, has a ``..`` component or a drive letter.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    first = path.parts[0] if path.parts else ""
    if path.is_absolute() or ".." in path.parts or (len(first) >= 2 and first[1] == ":"):
        raise DataError(
            f"archive {archive} holds the member {name!r}, whose path leads outside the "
            "extraction folder; refusing to extract it"
        )
    return path


def _unzip(archive: Path, dest: Path) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            path = member_path(info.filename, archive)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: written without Unix modes
                raise DataError(
                    f"archive {archive} holds the member {info.filename!r}, which is a link or "
                    "special file; refusing to extract it"
                )
            target = dest.joinpath(*path.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as src, open(target, "wb") as out:  # CRC checked on read
                shutil.copyfileobj(src, out, 2**20)
            count += 1
    return count


def _untar(archive: Path, dest: Path) -> int:
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.ReadError as err:  # its message lists every compression tried
        raise DataError(
            f"archive {archive} is neither a zip nor a tar(.gz) archive, or it is corrupt"
        ) from err
    count = 0
    with tar:
        for member in tar:  # streamed: a truncated archive fails here, mid-way
            member_path(member.name, archive)
            if not (member.isfile() or member.isdir()):
                raise DataError(
                    f"archive {archive} holds the member {member.name!r}, which is a link or "
                    "special file; refusing to extract it"
                )
            tar.extract(member, dest, set_attrs=False, **_TAR_FILTER)
            count += member.isfile()
    return count
