"""Resumable downloads over HTTP(S) and from ``file://`` URLs, verified by size and sha256.

A download is written to ``<name>.part`` beside its destination and renamed to ``<name>`` only
once it is complete and verified, so a broken or truncated transfer is never mistaken for the file;
the next run resumes it (an HTTP ``Range`` request, or a seek for ``file://``). A complete file
whose size or sha256 disagrees with the pinned value is moved to ``<name>.rejected`` and not used.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dmtl.data.prepare.progress import Progress
from dmtl.errors import ConfigError, DataError, DMTLError

CHUNK_BYTES = 2**20
TIMEOUT_S = 60.0  # seconds without a byte before a connection counts as dead
USER_AGENT = "dmtl-prepare"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(DMTLError, OSError):
    """A file could not be downloaded (no network, an HTTP error, a transfer that broke off)."""


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """Where the unfinished download of ``dest`` is kept."""
    return dest.with_name(dest.name + ".part")


def rejected_path(dest: Path) -> Path:
    """Where a complete download that failed its checks is moved to."""
    return dest.with_name(dest.name + ".rejected")


def fetch(
    url: str,
    dest: Path,
    size: int | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``) and return the file's sha256.

    A ``dest`` that already exists (an earlier run's, or put there by hand) is verified, not
    downloaded again.

    Raises:
        ConfigError: a URL scheme other than http, https and file.
        DownloadError: the URL cannot be reached, answers an HTTP error or an HTML page instead
            of the file, or the transfer broke off (the ``.part`` file is kept for a resume).
        DataError: the complete file has another size or sha256 than pinned (it is moved to
            ``<name>.rejected``).
    """
    if dest.is_file():
        return verify(dest, dest, size, sha256)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise ConfigError(f"--url {url}: only http://, https:// and file:// URLs can be fetched")
    progress = progress or Progress(dest.name, size)
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if part.exists() and size is not None and part.stat().st_size > size:
        part.unlink()  # longer than the file can be: not a prefix of it
    if scheme == "file":
        _copy_local(url, part, progress)
    else:
        _download_http(url, part, size, progress)
    digest = verify(part, dest, size, sha256)
    part.replace(dest)
    return digest


def verify(path: Path, dest: Path, size: int | None, sha256: str | None) -> str:
    """Check a complete file against the pinned size and sha256; return its sha256.

    Raises:
        DataError: a mismatch; the file is moved to ``<dest name>.rejected``.
    """
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        path.replace(rejected_path(dest))
        raise DataError(
            f"{dest.name} has {actual_size} bytes, but {size} are pinned; it was moved to "
            f"{rejected_path(dest)}"
        )
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256.lower():
        path.replace(rejected_path(dest))
        raise DataError(
            f"{dest.name} has sha256 {digest}, but {sha256} is pinned (checksum mismatch); it "
            f"was moved to {rejected_path(dest)}"
        )
    return digest


def _copy_local(url: str, part: Path, progress: Progress) -> None:
    """Copy the file of a ``file://`` URL into ``part``, after the bytes already there."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        raise ConfigError(f"--url {url}: a file:// URL names a local path (file:///abs/path)")
    source = Path(urllib.request.url2pathname(urllib.parse.unquote(parsed.path)))
    if not source.is_file():
        raise DownloadError(f"cannot read {url}: {source} does not exist")
    total = source.stat().st_size
    progress.total = progress.total or total
    have = part.stat().st_size if part.exists() else 0
    if have > total:
        part.unlink()
        have = 0
    progress.start(url, have)
    try:
        with open(source, "rb") as src, open(part, "ab") as out:
            src.seek(have)
            while chunk := src.read(CHUNK_BYTES):
                out.write(chunk)
                have += len(chunk)
                progress.update(have)
    except OSError as err:
        raise DownloadError(f"copying {url} broke off after {have} bytes: {err}") from err
    progress.finish(have)


def _open(url: str, have: int) -> http.client.HTTPResponse:
    """The response to a GET of ``url``, asking for the bytes after ``have`` if any."""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 (scheme checked)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:  # nothing after ``have``: the part may already be whole
            raise _RangeNotSatisfiable(err.headers.get("Content-Range", "")) from None
        raise DownloadError(f"{url} answered HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise DownloadError(f"cannot reach {url} ({err.reason}: offline?)") from err
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"cannot reach {url} ({err})") from err


class _RangeNotSatisfiable(Exception):
    """The server has no bytes after the ones already downloaded."""


def _download_http(url: str, part: Path, size: int | None, progress: Progress) -> None:
    """Download ``url`` into ``part``, resuming after the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return  # complete; verified by the caller
    try:
        response = _open(url, have)
    except _RangeNotSatisfiable as err:
        match = re.search(r"/(\d+)", str(err))
        if match and int(match.group(1)) == have:
            return  # the part holds the whole file
        part.unlink()  # the part does not fit the file the server has: start again
        have = 0
        response = _open(url, 0)
    with response:
        total, have = _plan(url, response, have, size)
        if "text/html" in response.headers.get("Content-Type", ""):  # no file we fetch is HTML
            raise DownloadError(
                f"{url} answered with an HTML page instead of the file (a dead, private or "
                "over-quota share link?)"
            )
        progress.total = progress.total or total
        progress.start(url, have)
        mode = "ab" if have else "wb"
        try:
            with open(part, mode) as out:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    have += len(chunk)
                    progress.update(have)
        except (OSError, http.client.HTTPException) as err:
            raise _broke_off(url, part, have, total, err) from err
    if total is not None and have != total:
        raise _broke_off(url, part, have, total, "the connection closed early")
    progress.finish(have)


def _plan(
    url: str, response: http.client.HTTPResponse, have: int, size: int | None
) -> tuple[int | None, int]:
    """The file's total size and the offset the response body starts at (0 or ``have``)."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if not match or int(match.group(1)) != have:
            raise DownloadError(
                f"{url} answered a resume at byte {have} with the range "
                f"{response.headers.get('Content-Range')!r}; delete the .part file and run again"
            )
        total = None if match.group(3) == "*" else int(match.group(3))
    else:  # the whole file (the server ignores Range, or nothing was there yet)
        have = 0
        total = int(length) if length and length.isdigit() else None
    if size is not None and total is not None and total != size:
        raise DownloadError(f"{url} offers {total} bytes, but the pinned file has {size}")
    return total, have


def _broke_off(url: str, part: Path, have: int, total: int | None, why: object) -> DownloadError:
    of_total = f" of {total}" if total is not None else ""
    return DownloadError(
        f"the download of {url} broke off after {have}{of_total} bytes ({why}); the partial file "
        f"{part} is kept and the next run resumes it"
    )
