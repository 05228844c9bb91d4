"""Downloads: HTTP and file://, resumed with Range, verified, never mistaken for the file."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest

from dmtl.data.prepare import download
from dmtl.data.prepare.download import DownloadError, fetch, part_path, rejected_path
from dmtl.data.prepare.progress import Progress
from dmtl.errors import ConfigError, DataError
from support.http_server import closed_port_url

DATA = bytes(range(256)) * 400  # 100 KiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_http_download_is_verified_and_reported(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(download, "CHUNK_BYTES", 8192)
    url = server.add("/f.zip", DATA)
    stream = io.StringIO()
    dest = tmp_path / "f.zip"
    digest = fetch(url, dest, len(DATA), sha(DATA), Progress("f.zip", len(DATA), stream, 32768))
    assert digest == sha(DATA) and dest.read_bytes() == DATA
    assert not part_path(dest).exists()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("dmtl prepare: downloading f.zip") and url in lines[0]
    assert any("32.0 KiB of 100.0 KiB (32.0%)" in line for line in lines)
    assert lines[-1].endswith("100.0 KiB of 100.0 KiB (100.0%), complete")
    assert "\r" not in stream.getvalue()  # plain lines: readable in a log file


def test_truncated_part_is_resumed_with_a_range_request(server, tmp_path: Path) -> None:
    url = server.add("/f.zip", DATA)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(DATA[:30000])
    assert fetch(url, dest, None, sha(DATA)) == sha(DATA)
    assert server.requests == [("/f.zip", "bytes=30000-")]
    assert dest.read_bytes() == DATA


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path: Path) -> None:
    url = server.add("/f.zip", DATA, mode="no-range")
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(b"x" * 1000)
    fetch(url, dest)
    assert dest.read_bytes() == DATA


def test_a_complete_part_is_not_downloaded_again(server, tmp_path: Path) -> None:
    url = server.add("/f.zip", DATA)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(DATA)
    assert fetch(url, dest) == sha(DATA)  # the server answers 416 with the full size
    assert dest.read_bytes() == DATA


def test_broken_transfer_keeps_the_part_and_the_next_run_resumes(server, tmp_path: Path) -> None:
    url = server.add("/f.zip", DATA, mode="truncate")
    dest = tmp_path / "f.zip"
    with pytest.raises(DownloadError, match="broke off after 51200 of 102400 bytes") as info:
        fetch(url, dest, None, sha(DATA))
    assert "\n" not in str(info.value) and str(part_path(dest)) in str(info.value)
    assert not dest.exists() and part_path(dest).stat().st_size == len(DATA) // 2
    server.add("/f.zip", DATA)
    assert fetch(url, dest, None, sha(DATA)) == sha(DATA)
    assert server.requests[-1] == ("/f.zip", "bytes=51200-")


def test_checksum_mismatch_is_rejected_not_kept(server, tmp_path: Path) -> None:
    url = server.add("/f.zip", DATA)
    dest = tmp_path / "f.zip"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch(url, dest, None, "0" * 64)
    assert sha(DATA) in str(info.value) and "0" * 64 in str(info.value)
    assert not dest.exists() and not part_path(dest).exists()
    assert rejected_path(dest).read_bytes() == DATA


def test_size_announced_unlike_the_pinned_size_fails_before_downloading(server, tmp_path):
    url = server.add("/f.zip", DATA)
    with pytest.raises(DownloadError, match=f"offers {len(DATA)} bytes.*has 99"):
        fetch(url, tmp_path / "f.zip", 99, None)
    assert not part_path(tmp_path / "f.zip").exists()


@pytest.mark.parametrize(
    ("mode", "path", "needle"),
    [(None, "/missing.zip", "HTTP 404"), ("html", "/f.zip", "HTML page instead of the file")],
)
def test_http_errors_are_one_line(server, tmp_path: Path, mode, path, needle) -> None:
    server.add("/f.zip", DATA, mode=mode)
    with pytest.raises(DownloadError, match=re.escape(needle)) as info:
        fetch(server.url(path), tmp_path / "f.zip")
    assert "\n" not in str(info.value) and server.url(path) in str(info.value)
    assert not (tmp_path / "f.zip").exists()


def test_no_network_is_one_line_naming_the_url(tmp_path: Path) -> None:
    url = closed_port_url("/f.zip")
    with pytest.raises(DownloadError, match="cannot reach") as info:
        fetch(url, tmp_path / "f.zip")
    assert url in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "f.zip").exists()


def test_file_url_is_copied_and_resumed(tmp_path: Path) -> None:
    source = tmp_path / "published" / "f.zip"
    source.parent.mkdir()
    source.write_bytes(DATA)
    dest = tmp_path / "downloads" / "f.zip"
    dest.parent.mkdir()
    part_path(dest).write_bytes(DATA[:5000])
    assert fetch(source.as_uri(), dest, len(DATA), sha(DATA)) == sha(DATA)
    assert dest.read_bytes() == DATA
    with pytest.raises(DownloadError, match="does not exist"):
        fetch((tmp_path / "nothing.zip").as_uri(), tmp_path / "x.zip")


def test_an_existing_file_is_verified_not_downloaded(tmp_path: Path) -> None:
    dest = tmp_path / "f.zip"
    dest.write_bytes(DATA)  # put there by hand
    assert fetch(closed_port_url(), dest, len(DATA), sha(DATA)) == sha(DATA)
    with pytest.raises(DataError, match="bytes, but 7 are pinned"):
        fetch(closed_port_url(), dest, 7, None)
    assert rejected_path(dest).exists() and not dest.exists()


def test_other_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ftp://host/f.zip"):
        fetch("ftp://host/f.zip", tmp_path / "f.zip")
