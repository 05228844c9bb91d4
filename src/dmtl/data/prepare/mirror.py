"""``dmtl prepare --mirror URL`` (or ``DMTL_PREPARE_MIRROR``): every file from one mirror.

A mirror holds the files of ``dmtl.data.prepare.sources`` under ``<mirror>/<dataset>/<file
name>``: the archive (``nyuv2/nyuv2.zip``) and the split files (``nyuv2/onelabel.pth``). The URL
is ``http(s)://`` or ``file://`` (a shared folder of a cluster without internet). A mirror serves
the same bytes as the published URLs, so the split files keep their pinned size and sha256.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from dmtl.data.prepare.sources import Remote, Source
from dmtl.errors import ConfigError

MIRROR_VARIABLE = "DMTL_PREPARE_MIRROR"  # a site-wide mirror, for every dmtl prepare
SCHEMES = ("http", "https", "file")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def mirror_url(mirror: str, dataset: str, filename: str) -> str:
    """The URL of ``filename`` of ``dataset`` on ``mirror``.

    Raises:
        ConfigError: the mirror is not an http(s):// or file:// URL.
    """
    if urllib.parse.urlsplit(mirror).scheme not in SCHEMES:
        raise ConfigError(
            f"--mirror (or {MIRROR_VARIABLE}) {mirror!r} is not an http://, https:// or file:// "
            "URL of a folder that holds <dataset>/<file name>"
        )
    return f"{mirror.rstrip('/')}/{dataset}/{urllib.parse.quote(filename)}"


def mirrored(source: Source, mirror: str) -> Source:
    """``source`` with the archive and the split files downloaded from ``mirror``."""

    def moved(remote: Remote) -> Remote:
        return dataclasses.replace(
            remote,
            url=mirror_url(mirror, source.dataset, remote.filename),
            page=None,
            published=f"the mirror {mirror} (a copy of {remote.page or remote.url})",
        )

    return dataclasses.replace(
        source, archive=moved(source.archive), splits=tuple(moved(r) for r in source.splits)
    )


def checked_sha256(value: str | None) -> str | None:
    """A ``--sha256`` value in lower case, or ``None``.

    Raises:
        ConfigError: not 64 hexadecimal digits.
    """
    if value is None:
        return None
    if not SHA256.match(value.strip().lower()):
        raise ConfigError(f"--sha256 {value!r} is not a sha256 (64 hexadecimal digits)")
    return value.strip().lower()
